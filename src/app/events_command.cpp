// events_command.cpp - `kurier events list`: the event log, oldest first, as lines or as JSON (the
// event JSON of src/events/event_json.hpp in its nested shape).
#include <boost/json.hpp>
#include <iostream>

#include "app/admin_commands.hpp"
#include "common/ids.hpp"
#include "events/event_json.hpp"

namespace kurier::app {

namespace {

std::string type, id;
bool json = false;

}  // namespace

void AddEventsCommand(CLI::App& app, std::string& config_path) {
  auto* ev = app.add_subcommand("events", "Read the event log");
  ev->require_subcommand(1);
  auto* ev_list = ev->add_subcommand("list", "List events, oldest first");
  ev_list->add_option("--type", type, "Only this type (accepted, auth_failed, ...)");
  ev_list->add_option("--message", id, "Only events of this message");
  ev_list->add_flag("--json", json, "JSON output");
  AddConfigOption(ev_list, config_path);
  ev_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    store::EventFilter f;
    f.type = type;
    f.message_id = id;
    f.limit = 100000;
    auto events = OrFail(OpenStoreOrExit(c)->ListEvents(f));
    PrintList(
        events, json, [](const store::Event& e) { return events::EventObject(e, events::EventShape::kNested); },
        [](const store::Event& e) {
          std::cout << FormatTimeUtc(e.time) << " " << e.type << " " << e.message_id << " " << e.data << "\n";
        });
  });
}

}  // namespace kurier::app
