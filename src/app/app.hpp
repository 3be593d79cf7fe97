// app.hpp - subcommands of the kurier binary, registered on the CLI11 application.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "store/store.hpp"

namespace kurier::spool {
class Spool;
}

namespace kurier::app {

/// Registers `init`.
void AddInitCommand(CLI::App& app);
/// Registers `serve`.
void AddServeCommand(CLI::App& app, std::string& config_path);
/// Registers `domain add|list`.
void AddDomainCommand(CLI::App& app, std::string& config_path);
/// Registers `dkim keygen|sign|arc-seal`.
void AddDkimCommand(CLI::App& app);
/// Registers `api routes`.
void AddApiCommand(CLI::App& app);
/// Registers `failover test`.
void AddFailoverCommand(CLI::App& app, std::string& config_path);
/// `kurier db migrate|status` (db_command.cpp).
void AddDbCommand(CLI::App& app, std::string& config_path);
/// `kurier cluster status` (cluster_command.cpp).
void AddClusterCommand(CLI::App& app, std::string& config_path);
/// Registers `dns route`.
void AddDnsCommand(CLI::App& app, std::string& config_path);
/// Registers `auth status|unblock`.
void AddAuthCommand(CLI::App& app, std::string& config_path);
/// Registers `config check`, `account`, `smtp-user`, `api-key`, `queue`, `events`.
void AddAdminCommands(CLI::App& app, std::string& config_path);

/// Loads the configuration or exits with its errors (status 1).
Config LoadConfigOrExit(const std::string& path);
/// Opens the configured store or exits with the reason. The store gets the node's secret
/// (server.secret_file) for the webhook secrets it keeps encrypted: made when missing if
/// `create_secret` (init, serve), otherwise loaded only when it exists. A PostgreSQL store's schema is
/// migrated when `migrate` (init, db migrate), otherwise it must be the one this kurier knows.
std::unique_ptr<store::Store> OpenStoreOrExit(const Config& config, bool create_secret = false, bool migrate = false);

/// Opens the configured store: the node's secret made when missing if `create_secret`, otherwise loaded
/// only when it exists; a PostgreSQL schema migrated when `migrate`. The error says what failed.
Result<std::unique_ptr<store::Store>> OpenConfiguredStore(const Config& config, bool create_secret, bool migrate = true);

/// Opens the configured spool: the SQLite file spool.path, or the spool tables of store.url's PostgreSQL
/// database (migrated when `migrate`, else they must be current). `events` records its events (may be null).
Result<std::unique_ptr<spool::Spool>> OpenConfiguredSpool(const Config& config, store::Store* events, bool migrate = false);

/// Where the configured store is: the SQLite file, or the PostgreSQL URL with the password of
/// store.password_file added (never printed).
Result<std::string> StoreLocation(const Config& config);

/// What makes the install `config` describes incomplete: its data directory missing, or a file `kurier
/// init` writes (the database, the spool, the TLS certificate and key) missing; "" when complete.
std::string InstallProblem(const Config& config);

/// Removes group and other permissions from kurier.toml, the data directory and everything in it
/// owned by this user (directories 0700, files 0600; symbolic links not followed), and from the files
/// the configuration names outside it; each change is logged, and what cannot be changed is logged with
/// the chmod to run. For installs made before kurier set umask 077 (serve runs it at start).
void TightenFileModes(const Config& config);

[[noreturn]] void Fail(const std::string& message);

/// `--set KEY=VALUE` arguments as TOML literals by key (init, config template); a malformed one fails.
std::map<std::string, std::string> SetOverrides(const std::vector<std::string>& sets);

/// Parses the command line and runs the command (cli_errors.cpp). An argument error is explained
/// (what was meant: "unknown command 'lst'; did you mean 'list'?") and gives 2; --help and --version 0.
int RunCommandLine(CLI::App& app, int argc, char** argv);

}  // namespace kurier::app
