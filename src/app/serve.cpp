// serve.cpp - `kurier serve`: open the store and the spool (recovering it), start the listeners and
// the delivery manager on one io_context, stop cleanly on SIGTERM/SIGINT.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <iostream>
#include <thread>

#include "app/app.hpp"
#include "app/control.hpp"
#include "common/log.hpp"
#include "delivery/delivery_manager.hpp"
#include "dns/resolver.hpp"
#include "smtp/server/smtp_server.hpp"
#include "spool/spool.hpp"

namespace kurier::app {

void AddServeCommand(CLI::App& app, std::string& config_path) {
  auto* cmd = app.add_subcommand("serve", "Run the server in the foreground (SIGTERM or SIGINT stops it)");
  cmd->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  cmd->callback([&] {
    Config config = LoadConfigOrExit(config_path);
    InitLogging(config.log_level);
    auto store = OpenStoreOrExit(config);
    auto spool = spool::Spool::Open(config.spool_path, spool::SpoolOptions{config.spool_fsync, config.spool_max_batch},
                                    store.get());
    if (!spool) Fail(spool.error().message);
    auto count = spool.value()->Count();
    spdlog::info("spool {}: {} message(s) recovered", config.spool_path.string(), count ? count.value() : -1);
    if (!config.spool_fsync) spdlog::warn("spool.fsync is off: acknowledged mail can be lost on power failure");
    auto resolver = dns::Resolver::Create(dns::ResolverConfig{config.dns_forward});
    if (!resolver) Fail(resolver.error().message);
    {
      boost::asio::io_context ioc;
      smtp::server::SmtpServer server(config, *store, *spool.value(), ioc);
      delivery::DeliveryManager delivery(config, *store, *spool.value(), *resolver.value(), ioc);
      if (auto r = server.Start(); !r) Fail(r.error().message);
      ControlServer control(ioc, config.control_socket, delivery);
      if (config.delivery.enabled) {
        if (auto r = delivery.Start(); !r) Fail(r.error().message);
        if (auto r = control.Start(); !r) Fail(r.error().message);
      } else {
        spdlog::warn("delivery.enabled is false: mail is accepted and kept in the queue");
      }
      spdlog::info("kurier ready (hostname {})", config.hostname);
      boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
      boost::asio::steady_timer grace(ioc);
      signals.async_wait([&](auto ec, int sig) {
        if (ec) return;
        spdlog::info("signal {}: stopping", sig);
        server.Stop();
        delivery.Stop();
        control.Stop();
        // Give sessions a moment to finish the reply in flight, then stop.
        grace.expires_after(std::chrono::milliseconds(500));
        grace.async_wait([&](auto) { ioc.stop(); });
      });
      int n = config.threads > 0 ? config.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      std::vector<std::thread> threads;
      for (int t = 1; t < n; ++t) threads.emplace_back([&ioc] { ioc.run(); });
      ioc.run();
      for (auto& t : threads) t.join();
      spool.value()->Stop();  // commit what is queued while the executors still exist
    }
    auto st = spool.value()->stats();
    if (st.commits > 0)
      spdlog::info("spool: {} messages in {} group commits (average {:.1f}, largest {}), {:.2f} ms per commit",
                   st.messages, st.commits, double(st.messages) / st.commits, st.largest_batch,
                   st.commit_micros / 1000.0 / st.commits);
    spdlog::info("stopped");
  });
}

}  // namespace kurier::app
