// serve.cpp - `kurier serve`: open the store and the spool (recovering it), start the listeners.
#include <spdlog/spdlog.h>

#include <iostream>

#include "app/app.hpp"
#include "common/log.hpp"
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
    {
      smtp::server::SmtpServer server(config, *store, *spool.value());
      if (auto r = server.Start(); !r) Fail(r.error().message);
      spdlog::info("kurier ready (hostname {})", config.hostname);
      server.Run();
      spool.value()->Stop();  // commit what is queued while the server's executors still exist
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
