// auth_command.cpp - `kurier auth status [--json]` and `kurier auth unblock [--ip A] [--user U]`: the
// running server's AUTH throttling (addresses blocked, (address, username) pairs slowed down), read and
// cleared through the control socket. The state lives in the server's memory only.
#include <boost/json.hpp>
#include <iostream>
#include <optional>

#include "app/app.hpp"
#include "app/control.hpp"

namespace kurier::app {

namespace {

[[noreturn]] void NotRunning(const Config& c) {
  Fail("kurier is not running (no control socket at " + c.control_socket.string() +
       "): AUTH throttling lives in the running server's memory; start it with 'kurier serve'");
}

std::string Str(const boost::json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (!v || v->is_null()) return "-";
  if (v->is_string()) return std::string(v->as_string());
  return boost::json::serialize(*v);
}

}  // namespace

void AddAuthCommand(CLI::App& app, std::string& config_path) {
  auto* auth = app.add_subcommand("auth", "SMTP AUTH throttling of the running server");
  auth->require_subcommand(1);

  static bool json = false;
  auto* status = auth->add_subcommand("status", "Addresses blocked and (address, username) pairs slowed down");
  status->add_flag("--json", json, "Print JSON");
  status->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  status->callback([&config_path] {
    Config c = LoadConfigOrExit(config_path);
    auto answer = SendControl(c.control_socket, "auth-status", "");
    if (!answer) NotRunning(c);
    if (!answer->ok) Fail(answer->detail);
    if (json) {
      std::cout << answer->detail << "\n";
      return;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(answer->detail, ec);
    if (ec || !v.is_object()) Fail("the server sent an unreadable status; see its log");
    const auto& o = v.as_object();
    auto list = [&](const char* key) -> const boost::json::array& {
      static const boost::json::array kEmpty;
      auto* a = o.if_contains(key);
      return a && a->is_array() ? a->as_array() : kEmpty;
    };
    std::size_t shown = 0;
    for (const auto& e : list("addresses")) {
      const auto& a = e.as_object();
      bool blocked = a.if_contains("blocked") && a.at("blocked").as_bool();
      std::cout << "address  " << Str(a, "ip") << "  failures " << Str(a, "failures")
                << (blocked ? "  BLOCKED until " + Str(a, "blocked_until") : "  counted until " + Str(a, "failures_counted_until"))
                << "\n";
      ++shown;
    }
    for (const auto& e : list("pairs")) {
      const auto& p = e.as_object();
      std::cout << "pair     " << Str(p, "ip") << " " << Str(p, "username") << "  failures " << Str(p, "failures")
                << "  next answer waits " << Str(p, "delay_seconds") << " s  counted until "
                << Str(p, "failures_counted_until") << "\n";
      ++shown;
    }
    for (const auto& e : list("usernames")) {
      const auto& u = e.as_object();
      std::cout << "username " << Str(u, "username") << "  failures from all addresses " << Str(u, "failures")
                << "  answers wait " << Str(u, "delay_seconds") << " s more (auth.user_delay)\n";
      ++shown;
    }
    if (shown == 0) std::cout << "no address or username is throttled\n";
  });

  static std::string ip, user;
  auto* unblock = auth->add_subcommand(
      "unblock", "Forget the failed logins (and block) of an address, of a username, or of that pair and address");
  unblock->add_option("--ip", ip, "Client address");
  unblock->add_option("--user", user, "SMTP username");
  unblock->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  unblock->callback([&config_path] {
    if (ip.empty() && user.empty())  // an argument error: exit 2
      throw CLI::ValidationError("give --ip ADDRESS, --user USERNAME or both; see 'kurier auth status'");
    Config c = LoadConfigOrExit(config_path);
    boost::json::object arg;
    if (!ip.empty()) arg["ip"] = ip;
    if (!user.empty()) arg["user"] = user;
    auto answer = SendControl(c.control_socket, "auth-unblock", boost::json::serialize(arg));
    if (!answer) NotRunning(c);
    std::cout << answer->detail << "\n";
    if (!answer->ok) std::exit(1);
  });
}

}  // namespace kurier::app
