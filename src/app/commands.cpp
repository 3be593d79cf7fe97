// commands.cpp - administrative subcommands: `config check|get` here, and the registration of the command
// groups that live in files of their own (account, smtp-user, api-key, queue, events, status, bounce).
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <spdlog/spdlog.h>

#include "app/admin_commands.hpp"
#include "spool/postgres/pg_spool_storage.hpp"
#include "store/postgres/pg_store.hpp"
#include "common/log.hpp"
#include "common/secret.hpp"

namespace kurier::app {

void Fail(const std::string& message) {
  if (JsonLogging()) {  // serve with log.format = "json": its last words are a JSON line too
    spdlog::critical("{}", message.empty() || message.back() != '\n' ? message : message.substr(0, message.size() - 1));
    spdlog::shutdown();
    std::exit(1);
  }
  std::cerr << "kurier: " << message << (message.empty() || message.back() != '\n' ? "\n" : "");
  std::exit(1);
}

Config LoadConfigOrExit(const std::string& path) {
  if (!std::filesystem::exists(path))
    Fail("configuration file " + path + " not found; create one with 'kurier init --dir DIR' or pass --config FILE");
  auto c = LoadConfig(path);
  if (!c) Fail("invalid configuration " + path + ":\n" + c.error().message);
  return c.value();
}

Result<std::string> StoreLocation(const Config& config) {
  if (config.store_backend != "postgresql") return config.sqlite_path.string();
  if (config.store_password_file.empty()) return config.store_url;
  std::ifstream in(config.store_password_file);
  std::string password;
  if (!in || !std::getline(in, password))
    return MakeError(ErrorCode::kConfig, "store.password_file: cannot read " + config.store_password_file.string() +
                                             "; write the PostgreSQL password on its first line (mode 0600)");
  if (!password.empty() && password.back() == '\r') password.pop_back();
  // libpq's URI takes percent-encoded parameters after '?'.
  std::string encoded;
  for (unsigned char ch : password) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      encoded += static_cast<char>(ch);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", ch);
      encoded += hex;
    }
  }
  return config.store_url + (config.store_url.find('?') == std::string::npos ? "?" : "&") + "password=" + encoded;
}

Result<std::unique_ptr<store::Store>> OpenConfiguredStore(const Config& config, bool create_secret, bool migrate) {
  store::StoreOptions options;
  std::error_code ec;
  if (create_secret || std::filesystem::exists(config.secret_file, ec)) {
    auto secret = LoadOrCreateSecret(config.secret_file);
    if (!secret) return MakeError(secret.error().code, "server.secret_file: " + secret.error().message);
    options.server_secret = std::move(secret.value());
  }
  options.soft_bounces = store::SoftBouncePolicy{config.bounces.soft_limit, config.bounces.soft_window_days};
  options.migrate = migrate;
  options.pool_size = static_cast<std::size_t>(config.store_pool_size);
  options.node_name = config.node_name;
  auto location = StoreLocation(config);
  if (!location) return location.error();
  return store::OpenStore(config.store_backend, location.value(), options);
}

namespace {
// Root working in a data directory of another user (the service's `kurier`) would leave files there (the
// database's -wal and -shm, the event journal) that the service could not open at its next start.
void RefuseForeignDataDir(const Config& c) {
  struct stat st {};
  if (::geteuid() != 0 || ::stat(c.data_dir.c_str(), &st) != 0 || st.st_uid == 0) return;
  const passwd* pw = ::getpwuid(st.st_uid);
  const std::string owner = pw ? pw->pw_name : std::to_string(st.st_uid);
  Fail(c.data_dir.string() + " belongs to " + owner + "; files root made in it would be root's, and the service, "
       "running as " + owner + ", could not open them. Run kurier as that user: sudo -u " + owner + " kurier ...");
}
}  // namespace

std::unique_ptr<store::Store> OpenStoreOrExit(const Config& config, bool create_secret, bool migrate) {
  RefuseForeignDataDir(config);
  // Only init and serve may start from nothing; a command given a wrong --config must not create a database.
  std::error_code ec;
  if (!create_secret && config.store_backend == "sqlite" && !std::filesystem::exists(config.sqlite_path, ec))
    Fail("no database at " + config.sqlite_path.string() + " (store.sqlite_path of " + config.file.string() +
         "): is --config the right file? 'kurier init --dir DIR' creates a data directory");
  auto s = OpenConfiguredStore(config, create_secret, migrate || config.store_backend == "sqlite");
  if (!s) Fail(s.error().message);
  return std::move(s.value());
}

std::unique_ptr<store::Store> OpenStoreFor(const std::string& config_path) {
  return OpenStoreOrExit(LoadConfigOrExit(config_path));
}

Result<std::unique_ptr<spool::Spool>> OpenConfiguredSpool(const Config& c, store::Store* events, bool migrate) {
  const spool::SpoolOptions options{c.spool_fsync, c.spool_max_batch};
  if (c.store_backend != "postgresql") return spool::Spool::Open(c.spool_path, options, events);
  auto location = StoreLocation(c);
  if (!location) return location.error();
  auto storage = spool::PgSpoolStorage::Open(location.value(), static_cast<std::size_t>(c.store_pool_size), migrate, c.node_name);
  if (!storage) return storage.error();
  // One database: the spool's events commit with the messages and results they tell of.
  if (auto* pg = dynamic_cast<store::postgres::PgStore*>(events))
    storage.value()->SetEventWriter([pg](store::pg::Connection& conn, const std::vector<store::Event>& evs) {
      return pg->WriteEventsOn(conn, evs);
    }, [pg](int queued) { pg->EventsCommitted(queued); });
  return spool::Spool::Open(std::move(storage.value()), options, events);
}

std::unique_ptr<spool::Spool> OpenSpoolOrExit(const Config& c) {
  RefuseForeignDataDir(c);
  auto s = OpenConfiguredSpool(c, nullptr);
  if (!s) Fail(s.error().message);
  return std::move(s.value());
}

void AddConfigOption(CLI::App* command, std::string& config_path) {
  command->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
}

void AddAdminCommands(CLI::App& app, std::string& config_path) {
  // config check|get
  auto* config = app.add_subcommand("config", "Configuration tools");
  config->require_subcommand(1);
  auto* check = config->add_subcommand("check", "Validate a configuration file and explain every error by key name");
  AddConfigOption(check, config_path);
  check->callback([&] {
    if (!std::filesystem::exists(config_path)) Fail("configuration file " + config_path + " not found");
    auto errors = CheckConfig(config_path);
    if (errors.empty()) {
      std::cout << "ok\n";
      return;
    }
    for (const auto& e : errors) std::cout << e << "\n";
    std::exit(1);
  });
  // config get: what scripts (scripts/run.sh) read instead of parsing kurier.toml themselves.
  auto* get = config->add_subcommand("get", "Print the effective value of one key (the file's or the default; "
                                            "paths resolved against server.data_dir, arrays one entry per line)");
  static std::string key;
  get->add_option("KEY", key, "Dotted key name, e.g. smtp.submission.listen")->required();
  AddConfigOption(get, config_path);
  get->callback([&] {
    if (!std::filesystem::exists(config_path))
      Fail("configuration file " + config_path + " not found; create one with 'kurier init --dir DIR' or pass --config FILE");
    auto value = ConfigValue(config_path, key);
    if (!value) Fail(value.error().message);
    std::cout << value.value() << "\n";
  });
  // config template: the commented file init writes (the Debian package's /etc/kurier/kurier.toml is made by it).
  auto* tmpl = config->add_subcommand("template", "Print the commented configuration 'kurier init' writes, every key "
                                                  "with its default and what it means");
  static std::vector<std::string> template_sets;
  tmpl->add_option("--set", template_sets, "Change a key in the printed file: KEY=VALUE (repeatable), e.g. "
                                           "--set server.data_dir=/var/lib/kurier");
  tmpl->callback([] {
    auto text = RenderConfigTemplate(SetOverrides(template_sets));
    if (!text) Fail("invalid --set:\n" + text.error().message);
    std::cout << text.value();
  });
  AddAccountCommand(app, config_path);
  AddSmtpUserCommand(app, config_path);
  AddApiKeyCommand(app, config_path);
  AddQueueCommand(app, config_path);
  AddEventsCommand(app, config_path);
  AddContactsCommand(app, config_path);
  AddStatusCommand(app, config_path);
  AddBounceCommand(app);
}

}  // namespace kurier::app
