// status_command.cpp - `kurier status [--json]`: one screen of what an operator looks at first: the
// running server (through the control socket: pid, start, the listeners it bound, delivery on or off; the
// configured listeners, said so, when none runs), the queue by state with its oldest message's age (counted
// by the spool's storage), deliveries in the last minute and hour and the last
// errors (deferrals and bounces with their replies, from the event log).
#include <algorithm>
#include <boost/json.hpp>
#include <iomanip>
#include <iostream>

#include "app/admin_commands.hpp"
#include "app/control.hpp"
#include "common/ids.hpp"
#include "spool/message_state.hpp"

namespace kurier::app {

namespace {

constexpr int64_t kSecond = 1'000'000;
const char* const kDeliveryTypes[] = {"accepted", "delivered", "deferred", "bounced"};

// "2h 5m", "3d 4h", "42s": how long ago, for people.
std::string Age(int64_t micros) {
  int64_t s = micros / kSecond;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s / 60 % 60) + "m";
  return std::to_string(s / 86400) + "d " + std::to_string(s / 3600 % 24) + "h";
}

// The running server's own answer, or null when none answers on the control socket.
boost::json::value ServerStatus(const Config& c) {
  auto answer = SendControl(c.control_socket, "status", "");
  if (!answer || !answer->ok) return nullptr;
  boost::system::error_code ec;
  auto v = boost::json::parse(answer->detail, ec);
  return ec || !v.is_object() ? boost::json::value(nullptr) : v;
}

// Delivery events of every account since `from`, by type (recipients for `accepted`).
boost::json::object DeliveryCounts(store::Store& s, const std::vector<store::Account>& accounts, int64_t from, int64_t now) {
  std::map<std::string, int64_t> n;
  for (const auto& a : accounts) {
    store::StatsQuery q;
    q.account = a.name;
    q.from = from;
    q.to = now + 1;
    q.bucket = now + 1;  // one bucket (two at most, summed)
    for (const auto& row : OrFail(s.Stats(q))) n[row.type] += row.total;
  }
  boost::json::object o;
  for (const char* t : kDeliveryTypes) o[t] = n[t];
  return o;
}

// The last `limit` deferrals and bounces, newest first.
boost::json::array LastErrors(store::Store& s, std::size_t limit) {
  std::vector<store::Event> all;
  for (const char* type : {"deferred", "bounced"}) {
    store::EventFilter f;
    f.type = type;
    f.newest_first = true;
    f.limit = limit;
    for (auto& e : OrFail(s.ListEvents(f))) all.push_back(std::move(e));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
  if (all.size() > limit) all.resize(limit);
  boost::json::array out;
  for (const auto& e : all) {
    boost::system::error_code ec;
    auto d = boost::json::parse(e.data, ec);
    auto field = [&](const char* k) -> std::string {
      if (ec || !d.is_object()) return "";
      auto* v = d.as_object().if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : "";
    };
    out.push_back(boost::json::object{{"time", FormatTimeUtc(e.time)}, {"type", e.type}, {"message_id", e.message_id},
                                      {"recipient", field("recipient")}, {"reply", field("reply")}});
  }
  return out;
}

boost::json::object Collect(const Config& c, int64_t now) {
  boost::json::object o;
  boost::json::value server = ServerStatus(c);
  o["running"] = !server.is_null();
  // The listeners as the running server bound them; otherwise as the configuration names them.
  boost::json::array listeners;
  if (server.is_object() && server.as_object().contains("listeners") && server.at("listeners").is_array()) {
    listeners = server.at("listeners").as_array();
  } else {
    for (const auto& l : ConfiguredListeners(c)) listeners.push_back(boost::json::object{{"name", l.name}, {"address", l.address}});
  }
  o["listeners"] = std::move(listeners);
  o["listeners_from"] = server.is_null() ? "configuration" : "server";
  o["server"] = server;
  auto sp = OpenSpoolOrExit(c);
  spool::QueueCounts q = OrFail(sp->CountByState(now));
  sp->Stop();
  boost::json::object queue;
  for (const auto& state : spool::MessageStates()) queue[state] = q.by_state[state];
  queue["total"] = q.total;
  queue["oldest_received_at"] = q.oldest ? boost::json::value(FormatTimeUtc(q.oldest)) : boost::json::value(nullptr);
  queue["oldest_age_seconds"] = q.oldest ? boost::json::value((now - q.oldest) / kSecond) : boost::json::value(nullptr);
  o["queue"] = std::move(queue);
  auto s = OpenStoreOrExit(c);
  auto accounts = OrFail(s->ListAccounts());
  o["last_minute"] = DeliveryCounts(*s, accounts, now - 60 * kSecond, now);
  o["last_hour"] = DeliveryCounts(*s, accounts, now - 3600 * kSecond, now);
  o["last_errors"] = LastErrors(*s, 5);
  return o;
}

std::string Str(const boost::json::value& v) { return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v); }

void PrintText(const Config& c, boost::json::object& o) {
  std::cout << std::left;
  if (o["running"].as_bool()) {
    auto& sv = o["server"].as_object();
    std::cout << "kurier is running: pid " << Str(sv["pid"]) << ", since " << Str(sv["started_at"]) << ", hostname "
              << Str(sv["hostname"]) << ", delivery " << (sv["delivery"].as_bool() ? "on" : "OFF (mail is kept in the queue)")
              << "\n\n"
              << std::setw(14) << "LISTENER" << "ADDRESS (bound)\n";
  } else {
    std::cout << "kurier is not running (nothing answers on " << c.control_socket.string()
              << "); start it with 'kurier serve --config " << c.file.string() << "'\n\n"
              << std::setw(14) << "LISTENER" << "ADDRESS (configured, not bound: kurier is not running)\n";
  }
  for (const auto& l : o["listeners"].as_array())
    std::cout << std::setw(14) << Str(l.as_object().at("name")) << Str(l.as_object().at("address")) << "\n";
  auto& q = o["queue"].as_object();
  std::cout << "\n" << std::setw(14) << "QUEUE" << "MESSAGES\n";
  for (const auto& state : spool::MessageStates())
    if (q[state].as_int64() != 0 || state == "queued") std::cout << std::setw(14) << state << q[state].as_int64() << "\n";
  std::cout << std::setw(14) << "total" << q["total"].as_int64();
  if (!q["oldest_received_at"].is_null())
    std::cout << " (oldest " << Age(q["oldest_age_seconds"].as_int64() * kSecond) << " old, " << Str(q["oldest_received_at"]) << ")";
  std::cout << "\n\n" << std::setw(14) << "RECIPIENTS" << std::setw(14) << "LAST MINUTE" << "LAST HOUR\n";
  for (const char* t : kDeliveryTypes)
    std::cout << std::setw(14) << t << std::setw(14) << o["last_minute"].as_object()[t].as_int64()
              << o["last_hour"].as_object()[t].as_int64() << "\n";
  auto& errors = o["last_errors"].as_array();
  std::cout << "\nLAST ERRORS" << (errors.empty() ? ": none\n" : "\n");
  for (const auto& e : errors) {
    const auto& eo = e.as_object();
    std::cout << Str(eo.at("time")) << "  " << std::setw(9) << Str(eo.at("type")) << "<" << Str(eo.at("recipient")) << ">  "
              << Str(eo.at("reply")) << "\n";
  }
}

}  // namespace

void AddStatusCommand(CLI::App& app, std::string& config_path) {
  static bool json = false;
  auto* cmd = app.add_subcommand(
      "status", "One screen: the running server and its listeners, the queue by state, recent deliveries and the last errors");
  cmd->add_flag("--json", json, "JSON output");
  AddConfigOption(cmd, config_path);
  cmd->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    const int64_t now = NowMicros();
    boost::json::object o = Collect(c, now);
    if (json) std::cout << boost::json::serialize(o) << "\n";
    else PrintText(c, o);
  });
}

}  // namespace kurier::app
