// ops_api.cpp - what load balancers and monitoring ask a node (issue 16): GET /healthz (the process
// answers), GET /readyz (it should be given traffic: its database answers and it is not draining; 503
// otherwise, with the reasons) and GET /metrics (Prometheus text exposition, metrics/metrics.hpp; an API
// key with the read scope, as a Prometheus scrape job's authorization credentials).
// STANDARDS: Prometheus text exposition format 0.0.4.
#include <boost/json.hpp>

#include "api/api_service.hpp"
#include "api/http.hpp"
#include "api/router.hpp"
#include "metrics/metrics.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace {

void Healthz(ApiContext&, const HttpRequest&, const RouteContext&, Reply r) { r(Json(200, R"({"status":"alive"})")); }

void Readyz(ApiContext& ctx, const HttpRequest&, const RouteContext&, Reply r) {
  boost::json::array problems;
  if (ctx.draining && ctx.draining->load()) problems.emplace_back("draining: this node is shutting down and takes no new work");
  if (auto ping = ctx.store.Ping(); !ping) problems.emplace_back("database: " + ping.error().message);
  const bool ready = problems.empty();
  boost::json::object body{{"status", ready ? "ready" : "not ready"}};
  if (!ready) body["problems"] = std::move(problems);
  r(Json(ready ? 200 : 503, boost::json::serialize(body)));
}

void Metrics(ApiContext&, const HttpRequest&, const RouteContext&, Reply r) {
  HttpResponse out;
  out.content_type = "text/plain; version=0.0.4; charset=utf-8";
  out.body = metrics::Registry::Global().Render();
  r(std::move(out));
}

}  // namespace

void AddOpsRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  AddContextRoute(router, ctx, "GET", "/healthz", Scope::kPublic, Healthz);
  AddContextRoute(router, ctx, "GET", "/readyz", Scope::kPublic, Readyz);
  AddContextRoute(router, ctx, "GET", "/metrics", Scope::kRead, Metrics);
}

}  // namespace kurier::api
