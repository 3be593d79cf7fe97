// admin_commands.hpp - what the administrative subcommands (config check, account, smtp-user,
// api-key, queue, events) share: each command group registers itself from a file of its own.
#pragma once
#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "app/app.hpp"
#include "common/result.hpp"
#include "spool/spool.hpp"

namespace kurier::app {

/// Registers `account add|list|remove|set|add-domain|remove-domain` (account_command.cpp).
void AddAccountCommand(CLI::App& app, std::string& config_path);
/// Registers `smtp-user add|list|remove` (credential_command.cpp).
void AddSmtpUserCommand(CLI::App& app, std::string& config_path);
/// Registers `api-key create|list|revoke` (credential_command.cpp).
void AddApiKeyCommand(CLI::App& app, std::string& config_path);
/// Registers `queue list|show|retry|delete|suspend|resume` (queue_command.cpp).
void AddQueueCommand(CLI::App& app, std::string& config_path);
/// Registers `events list` (events_command.cpp).
void AddEventsCommand(CLI::App& app, std::string& config_path);
/// Registers `contacts import|list` and `lists add|list` (contacts_command.cpp).
void AddContactsCommand(CLI::App& app, std::string& config_path);
/// Registers `status` (status_command.cpp).
void AddStatusCommand(CLI::App& app, std::string& config_path);
/// Registers `bounce parse` (bounce_command.cpp): needs no configuration.
void AddBounceCommand(CLI::App& app);

/// The check of a `--limit N` option: a whole number (0: all), else an argument error that says so.
inline CLI::Validator LimitValidator() {
  return CLI::Validator(
      [](std::string& v) {
        return !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos
                   ? std::string()
                   : "'" + v + "' is not a number of items (a whole number; 0: all)";
      },
      "N");
}

/// Adds `--config FILE` to a subcommand, written into `config_path`.
void AddConfigOption(CLI::App* command, std::string& config_path);
/// `kurier db copy`: an SQLite installation into a new PostgreSQL database (db_copy.cpp).
void AddDbCopyCommand(CLI::App* db, std::string& config_path);

/// The value of `r`, or exits with its error (status 1).
template <typename T>
T OrFail(Result<T> r) {
  if (!r) Fail(r.error().message);
  return std::move(r.value());
}
inline void OrFail(Result<void> r) {
  if (!r) Fail(r.error().message);
}

/// LoadConfigOrExit(config_path), then OpenStoreOrExit of it.
std::unique_ptr<store::Store> OpenStoreFor(const std::string& config_path);
/// Prints a listing: one JSON array of to_json(item) with --json, else the `header` line (column
/// names; none when empty) and print_line(item) for each.
template <typename Item, typename ToJson, typename PrintLine>
void PrintList(const std::vector<Item>& items, bool json, std::string_view header, ToJson to_json, PrintLine print_line) {
  if (!json) {
    if (!header.empty()) std::cout << header << "\n";
    for (const auto& item : items) print_line(item);
    return;
  }
  boost::json::array arr;
  for (const auto& item : items) arr.push_back(to_json(item));
  std::cout << boost::json::serialize(arr) << "\n";
}
template <typename Item, typename ToJson, typename PrintLine>
void PrintList(const std::vector<Item>& items, bool json, ToJson to_json, PrintLine print_line) {
  PrintList(items, json, std::string_view(), to_json, print_line);
}

/// Opens the configured spool without a store (reading only), or exits with the reason.
std::unique_ptr<spool::Spool> OpenSpoolOrExit(const Config& c);

}  // namespace kurier::app
