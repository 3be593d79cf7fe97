// events_command.cpp - `kurier events list`: the event log, newest first like GET /v1/events (or oldest
// first with --order asc), as lines under a header or as JSON (the event JSON of src/events/event_json.hpp
// in its nested shape). --type takes the types the API takes, --since the times it takes.
#include <boost/json.hpp>
#include <cstdint>
#include <iomanip>
#include <iostream>

#include "api/list_query.hpp"
#include "app/admin_commands.hpp"
#include "common/ids.hpp"
#include "events/event_json.hpp"

namespace kurier::app {

namespace {

std::string type, id, since, order = "desc";
bool json = false;
std::size_t limit = 100;

}  // namespace

void AddEventsCommand(CLI::App& app, std::string& config_path) {
  auto* ev = app.add_subcommand("events", "Read the event log");
  ev->require_subcommand(1);
  auto* ev_list = ev->add_subcommand("list", "List events, newest first");
  ev_list->add_option("--type", type, "Only this type: " + events::EventTypesText())
      ->check(CLI::Validator(
          [](std::string& v) {
            return events::IsEventType(v) ? std::string() : "unknown event type '" + v + "'; use one of " + events::EventTypesText();
          },
          "TYPE"));
  ev_list->add_option("--message", id, "Only events of this message");
  ev_list->add_option("--since", since, "Only events from this time on: RFC 3339 (2026-11-26T10:00:00Z) or a time ago (15m, 1h, 7d)")
      ->check(CLI::Validator(
          [](std::string& v) {
            return api::ParseTimeOrAgo(v, NowMicros()) ? std::string()
                                                       : "'" + v + "' is not a time: use RFC 3339 (2026-11-26T10:00:00Z) or a time ago (15m, 1h, 7d)";
          },
          "TIME"));
  ev_list->add_option("--limit", limit, "Show at most N events (0: all)")->check(LimitValidator())->capture_default_str();
  ev_list->add_option("--order", order, "desc: newest first; asc: oldest first")->check(CLI::IsMember({"asc", "desc"}))->capture_default_str();
  ev_list->add_flag("--json", json, "JSON output");
  AddConfigOption(ev_list, config_path);
  ev_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    store::EventFilter f;
    f.type = type;
    f.message_id = id;
    f.newest_first = order == "desc";
    if (!since.empty()) f.since = api::ParseTimeOrAgo(since, NowMicros()).value_or(0);
    // One more than shown tells whether the list was cut.
    f.limit = limit == 0 ? static_cast<std::size_t>(INT64_MAX) : limit + 1;
    auto events = OrFail(OpenStoreOrExit(c)->ListEvents(f));
    const bool cut = limit != 0 && events.size() > limit;
    if (cut) events.resize(limit);
    const std::string notice = "showing the " + std::to_string(limit) + (f.newest_first ? " newest" : " oldest") +
                               " events; more match: use --limit N (0: all), --since, --type or --message";
    if (!json) std::cout << std::left << std::setw(28) << "TIME" << std::setw(22) << "TYPE" << std::setw(22) << "MESSAGE" << "DATA\n";
    PrintList(
        events, json, [](const store::Event& e) { return events::EventObject(e, events::EventShape::kNested); },
        [](const store::Event& e) {
          std::cout << std::setw(28) << FormatTimeUtc(e.time) << std::setw(22) << e.type << std::setw(22)
                    << (e.message_id.empty() ? "-" : e.message_id) << e.data << "\n";
        });
    if (cut) (json ? std::cerr << "kurier: " : std::cout) << notice << "\n";
  });
}

}  // namespace kurier::app
