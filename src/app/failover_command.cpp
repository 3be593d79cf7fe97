// failover_command.cpp - `kurier failover test`: the fail-over drill on demand. Sends a probe through
// every configured backup relay and prints pass/fail with the reason as each relay's result comes (a
// silent relay takes delivery.greeting_timeout); exit status 1 when any failed.
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "app/app.hpp"
#include "delivery/delivery_manager.hpp"
#include "dns/resolver.hpp"
#include "spool/spool.hpp"

namespace kurier::app {

void AddFailoverCommand(CLI::App& app, std::string& config_path) {
  auto* fo = app.add_subcommand("failover", "Backup relay tools");
  fo->require_subcommand(1);
  auto* test = fo->add_subcommand("test", "Probe every backup relay (connect, TLS, AUTH, and a message to "
                                          "failover.probe_recipient when set); exit 1 if any fails");
  static bool json = false;
  test->add_flag("--json", json, "JSON output");
  test->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  test->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    if (c.delivery.backup_relays.empty())
      Fail("no backup relays are configured; add URLs to delivery.backup_relays in " + config_path);
    auto store = OpenStoreOrExit(c);
    auto spool = OpenConfiguredSpool(c, store.get());
    if (!spool) Fail(spool.error().message);
    auto resolver = dns::Resolver::Create(dns::ResolverConfig{c.dns_forward});
    if (!resolver) Fail(resolver.error().message);
    boost::asio::io_context ioc;
    delivery::DeliveryManager manager(c, *store, *spool.value(), *resolver.value(), ioc);
    std::vector<delivery::DeliveryManager::DrillResult> results;
    if (!json)
      std::cerr << "probing " << c.delivery.backup_relays.size() << " backup relay(s); one that does not greet fails after "
                << c.delivery.greeting_timeout << " s (delivery.greeting_timeout)" << std::endl;
    manager.Drill(
        [&](std::vector<delivery::DeliveryManager::DrillResult> r) {
          results = std::move(r);
          ioc.stop();
        },
        [&](const delivery::DeliveryManager::DrillResult& r) {
          if (!json) std::cout << (r.ok ? "PASS " : "FAIL ") << r.relay << ": " << r.detail << std::endl;
        });
    ioc.run();
    bool all_ok = true;
    boost::json::array arr;
    for (const auto& r : results) {
      all_ok = all_ok && r.ok;
      arr.push_back(boost::json::object{{"relay", r.relay}, {"ok", r.ok}, {"detail", r.detail}});
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
    spool.value()->Stop();
    if (!all_ok) std::exit(1);
  });
}

}  // namespace kurier::app
