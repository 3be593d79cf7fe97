// api_command.cpp - `kurier api routes`: the HTTP API's routes as the server registers them (method,
// path pattern, scope), for operators and for the test that holds /v1/openapi.json to the server.
#include <boost/json.hpp>
#include <iostream>

#include "api/api_service.hpp"
#include "api/router.hpp"
#include "app/app.hpp"

namespace kurier::app {

void AddApiCommand(CLI::App& app) {
  auto* api = app.add_subcommand("api", "The HTTP API");
  api->require_subcommand(1);
  static bool json = false;
  auto* routes = api->add_subcommand("routes", "List the HTTP API's routes: method, path and the API key scope needed");
  routes->add_flag("--json", json, "JSON output");
  routes->callback([] {
    api::Router router([](const std::string&) { return std::optional<api::Principal>(); }, api::RouterOptions{});
    api::AddAllRoutes(router, nullptr);
    boost::json::array arr;
    for (const auto& r : router.routes()) {
      arr.push_back(boost::json::object{{"method", r.method}, {"path", r.pattern}, {"scope", api::ScopeName(r.scope)}});
      if (!json) std::cout << r.method << "\t" << r.pattern << "\t" << api::ScopeName(r.scope) << "\n";
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
  });
}

}  // namespace kurier::app
