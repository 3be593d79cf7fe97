// event_json.cpp - the JSON of one event (see event_json.hpp): the flat shape of the HTTP API and the
// webhooks, and the nested shape of the CLI.
// STANDARDS: RFC 8259 (JSON), RFC 3339 (times), Standard Webhooks (payload envelope).
#include "events/event_json.hpp"

#include <boost/json.hpp>

#include "common/encoding.hpp"
#include "common/ids.hpp"

namespace kurier::events {

namespace json = boost::json;

namespace {

json::object FlatObject(const store::Event& e) {
  json::object o{{"id", std::to_string(e.id)}, {"type", e.type}, {"time", FormatTimeUtc(e.time)}};
  if (!e.message_id.empty()) o["message_id"] = e.message_id;
  if (!e.account.empty()) o["account"] = e.account;
  boost::system::error_code ec;
  json::value d = json::parse(e.data, ec);
  if (!ec && d.is_object())
    for (auto& [k, v] : d.as_object())
      if (!o.contains(k)) o[k] = v;
  return o;
}

json::value ParseJsonOrString(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return json::value(text);
  return v;
}

json::object NestedObject(const store::Event& e) {
  return json::object{{"id", e.id},
                      {"type", e.type},
                      {"time", FormatTimeUtc(e.time)},
                      {"message_id", e.message_id},
                      {"account", e.account},
                      {"data", ParseJsonOrString(e.data)}};
}

}  // namespace

json::object EventObject(const store::Event& e, EventShape shape) {
  return shape == EventShape::kNested ? NestedObject(e) : FlatObject(e);
}

std::string EventJson(const store::Event& e, EventShape shape) { return json::serialize(EventObject(e, shape)); }

std::string WebhookPayload(const store::Event& e) {
  json::object o{{"type", e.type}, {"timestamp", FormatTimeUtc(e.time)}, {"data", FlatObject(e)}};
  return json::serialize(o);
}

const std::vector<std::string>& EventTypes() {
  // "scheduled" is named by the OpenAPI document's enum, though no event of that type is written.
  static const std::vector<std::string> kTypes = {
      "accepted",   "scheduled",   "delivered", "deferred",      "bounced",       "opened",
      "clicked",    "unsubscribed", "complained", "suppressed",  "dsn",           "deleted",
      "failover",   "failback",    "backup_health", "failover_test", "failover_test_failed", "auth_failed",
      "suspended",  "resumed",   "campaign_scheduled", "campaign_started", "campaign_paused", "campaign_resumed",
      "campaign_finished", "campaign_cancelled"};
  return kTypes;
}

bool IsEventType(std::string_view type) {
  for (const auto& t : EventTypes())
    if (t == type) return true;
  return false;
}

std::string EventTypesText() { return Join(EventTypes()); }

}  // namespace kurier::events
