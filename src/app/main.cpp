// main.cpp - the kurier binary: one program, subcommands for every task (CLI11).
#include <CLI/CLI.hpp>
#include <cstdlib>

#include <sys/stat.h>

#include "app/app.hpp"
#include "common/log.hpp"

int main(int argc, char** argv) {
  // Everything kurier creates (configuration, databases and their WAL files, the spool, the event
  // journal, the node secret, TLS and DKIM keys, the control socket) is for its own user only: files
  // 0600, directories 0700, whatever the subcommand. Set before anything is opened.
  ::umask(077);
  kurier::InitLogging("warn");  // `serve` raises it to log.level
  CLI::App app{"kurier - self-hosted email delivery platform"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kurier 0.1.0");
  const char* env = std::getenv("KURIER_CONFIG");
  std::string config_path = env ? env : "var/kurier.toml";
  kurier::app::AddInitCommand(app);
  kurier::app::AddServeCommand(app, config_path);
  kurier::app::AddAdminCommands(app, config_path);
  kurier::app::AddAuthCommand(app, config_path);
  kurier::app::AddDnsCommand(app, config_path);
  kurier::app::AddFailoverCommand(app, config_path);
  kurier::app::AddDbCommand(app, config_path);
  kurier::app::AddClusterCommand(app, config_path);
  kurier::app::AddDkimCommand(app);
  kurier::app::AddApiCommand(app);
  kurier::app::AddDomainCommand(app, config_path);
  // Exit status: 0 done, 1 the command failed (Fail), 2 the command line is wrong.
  return kurier::app::RunCommandLine(app, argc, argv);
}
