// app.hpp - subcommands of the kurier binary, registered on the CLI11 application.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "store/store.hpp"

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
/// Registers `dns route`.
void AddDnsCommand(CLI::App& app, std::string& config_path);
/// Registers `auth status|unblock`.
void AddAuthCommand(CLI::App& app, std::string& config_path);
/// Registers `config check`, `account`, `smtp-user`, `api-key`, `queue`, `events`.
void AddAdminCommands(CLI::App& app, std::string& config_path);

/// Loads the configuration or exits with its errors (status 1).
Config LoadConfigOrExit(const std::string& path);
/// Opens the configured store or exits with the reason.
std::unique_ptr<store::Store> OpenStoreOrExit(const Config& config);

[[noreturn]] void Fail(const std::string& message);

}  // namespace kurier::app
