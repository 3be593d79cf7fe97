// dns_command.cpp - `kurier dns route DOMAIN`: how kurier would route mail for a domain, through the
// configured resolver (dns.forward): MX hosts in the order they would be tried, with their addresses.
#include <boost/json.hpp>
#include <iostream>

#include "app/app.hpp"
#include "dns/resolver.hpp"

namespace kurier::app {

namespace {
const char* KindName(dns::RouteKind k) {
  switch (k) {
    case dns::RouteKind::kMx: return "mx";
    case dns::RouteKind::kImplicit: return "implicit";
    case dns::RouteKind::kNullMx: return "null_mx";
    case dns::RouteKind::kNxDomain: return "nxdomain";
    case dns::RouteKind::kTempFail: return "tempfail";
  }
  return "?";
}
}  // namespace

void AddDnsCommand(CLI::App& app, std::string& config_path) {
  auto* dns_cmd = app.add_subcommand("dns", "DNS tools (through kurier's own resolver and dns.forward)");
  dns_cmd->require_subcommand(1);
  auto* route = dns_cmd->add_subcommand("route", "Show the hosts kurier would deliver to for DOMAIN, in order");
  static std::string domain;
  static bool json = false;
  route->add_option("domain", domain, "Recipient domain")->required();
  route->add_flag("--json", json, "JSON output");
  route->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  route->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto resolver = dns::Resolver::Create(dns::ResolverConfig{c.dns_forward});
    if (!resolver) Fail(resolver.error().message);
    std::mt19937 rng(std::random_device{}());
    dns::Route r = dns::PlanRoute(domain, resolver.value()->ResolveMxSync(domain), rng);
    boost::json::array hosts;
    for (const auto& h : r.hosts) {
      auto a = resolver.value()->ResolveAddressesSync(h);
      boost::json::array addrs;
      for (const auto& x : a.addresses) addrs.emplace_back(x);
      boost::json::object o{{"host", h}, {"addresses", addrs}};
      if (a.rcode == dns::Rcode::kTempFail) o["error"] = a.error;
      if (a.rcode == dns::Rcode::kNxDomain) o["error"] = "NXDOMAIN";
      if (a.rcode == dns::Rcode::kNoData) o["error"] = "no A or AAAA records";
      hosts.push_back(std::move(o));
    }
    if (json) {
      std::cout << boost::json::serialize(boost::json::object{
                       {"domain", domain}, {"route", KindName(r.kind)}, {"detail", r.detail}, {"hosts", hosts}})
                << "\n";
    } else {
      std::cout << domain << ": " << KindName(r.kind) << " - " << r.detail << "\n";
      for (const auto& h : hosts) {
        const auto& o = h.as_object();
        std::cout << "  " << o.at("host").as_string().c_str();
        for (const auto& a : o.at("addresses").as_array()) std::cout << " " << a.as_string().c_str();
        if (o.contains("error")) std::cout << " (" << o.at("error").as_string().c_str() << ")";
        std::cout << "\n";
      }
    }
    if (r.kind == dns::RouteKind::kTempFail) std::exit(2);
  });
}

}  // namespace kurier::app
