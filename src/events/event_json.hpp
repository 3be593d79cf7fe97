// event_json.hpp - the JSON of one event of the event log, written in one place for everyone who shows
// events: the HTTP API (GET /v1/events), the webhook payloads (Standard Webhooks envelope) and the CLI
// (`kurier events list --json`, `kurier queue show --json`). Only Boost.JSON's forward declarations here.
// STANDARDS: RFC 8259 (JSON), RFC 3339 (times), Standard Webhooks (payload envelope).
#pragma once
#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace kurier::events {

/// The two layouts of an event; each caller keeps the one its users have always seen.
enum class EventShape {
  /// The HTTP API's and the webhooks': {"id": "42" (a string), "type", "time", "message_id" and
  /// "account" only when set, then every field of the event's data object at the top level, in its
  /// order, except those that would replace one of these}. Data that is not a JSON object is left out.
  kFlat,
  /// The CLI's: {"id": 42 (a number), "type", "time", "message_id", "account" (always, "" when unset),
  /// "data": the event's data as JSON, or as a string when it is not JSON}.
  kNested,
};

/// One event as a JSON object in the given shape; times are RFC 3339 UTC with microseconds.
boost::json::object EventObject(const store::Event& e, EventShape shape = EventShape::kFlat);
/// EventObject serialized.
std::string EventJson(const store::Event& e, EventShape shape = EventShape::kFlat);
/// Every event type kurier records, for the filters that take one (GET /v1/events?type=, `kurier events
/// list --type`): accepted, delivered, deferred, bounced, ..., failover_test_failed.
const std::vector<std::string>& EventTypes();
/// True when `type` is one of EventTypes().
bool IsEventType(std::string_view type);
/// EventTypes() as "accepted, delivered, ...", for errors that list them.
std::string EventTypesText();
/// The webhook body for one event: {"type", "timestamp", "data": the flat event object}.
std::string WebhookPayload(const store::Event& e);

}  // namespace kurier::events
