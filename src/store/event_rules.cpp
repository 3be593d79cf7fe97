// event_rules.cpp - suppressions and webhook fan-out caused by events, for every backend.
// Soft-bounce limit (bounces.soft_limit): counted per address over the events of the store, reset by a
// delivery; see event_rules.hpp.
#include "store/event_rules.hpp"

#include <map>

#include <boost/json.hpp>

#include "common/encoding.hpp"

namespace kurier::store {

namespace json = boost::json;

namespace {

const std::string kEmptyObject = "{}";

// A JSON member as text: strings as they are, other values (numbers) as JSON; nullopt when absent or null.
std::optional<std::string> Member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

Error Storage(const std::string& what, const Error& e) { return MakeError(ErrorCode::kStorage, what + ": " + e.message); }

// The data of an event as a JSON object; nullopt when it is not one.
std::optional<json::object> DataObject(const Event& e) {
  boost::system::error_code ec;
  json::value d = json::parse(e.data, ec);
  if (ec || !d.is_object()) return std::nullopt;
  return std::move(d.as_object());
}

// "reason: reply; rule: RULE", with whichever parts the bounce has.
std::string BounceDetail(const json::object& o) {
  auto why = Member(o, "reason"), reply = Member(o, "reply"), rule = Member(o, "rule");
  std::string detail = why && reply ? *why + ": " + *reply : reply ? *reply : why ? *why : "";
  if (rule && !rule->empty()) detail += (detail.empty() ? "rule: " : "; rule: ") + *rule;
  return detail;
}

}  // namespace

std::optional<Suppression> SuppressionFor(const Event& e, int64_t time) {
  const char* reason = e.type == "bounced" ? "hard_bounce" : e.type == "complained" ? "complaint"
                       : e.type == "unsubscribed" ? "unsubscribe" : nullptr;
  if (!reason || e.account.empty()) return std::nullopt;
  auto d = DataObject(e);
  if (!d) return std::nullopt;
  const auto& o = *d;
  auto recipient = Member(o, "recipient");
  if (!recipient) return std::nullopt;
  if (e.type == "bounced" && Member(o, "classification") != std::optional<std::string>("hard")) return std::nullopt;
  Suppression s;
  s.account = e.account;
  s.address = ToLowerAscii(*recipient);
  s.reason = reason;
  s.detail = BounceDetail(o);
  s.message_id = e.message_id;
  s.created_at = time;
  return s;
}

std::optional<SoftBounce> SoftBounceOf(const Event& e) {
  if (e.type != "bounced" || e.account.empty()) return std::nullopt;
  auto d = DataObject(e);
  if (!d) return std::nullopt;
  auto recipient = Member(*d, "recipient");
  if (!recipient || recipient->empty() || Member(*d, "classification") != std::optional<std::string>("soft"))
    return std::nullopt;
  return SoftBounce{ToLowerAscii(*recipient), BounceDetail(*d)};
}

std::optional<Suppression> SoftLimitSuppression(const Event& e, const SoftBounce& b, int soft_bounces, int64_t time,
                                                const SoftBouncePolicy& policy) {
  if (policy.limit <= 0 || soft_bounces < policy.limit) return std::nullopt;
  Suppression s;
  s.account = e.account;
  s.address = b.address;
  s.reason = "soft_bounce_limit";
  auto count = [](int n, const char* one) { return std::to_string(n) + " " + one + (n == 1 ? "" : "s"); };
  s.detail = count(soft_bounces, "soft bounce") + " within " + count(policy.window_days, "day") +
             " without a delivery (bounces.soft_limit " + std::to_string(policy.limit) + "); last: " + b.detail;
  s.message_id = e.message_id;
  s.created_at = time;
  return s;
}

bool WebhookWants(const std::vector<std::string>& event_types, std::string_view type) {
  if (event_types.empty()) return true;
  for (const auto& t : event_types)
    if (t == type) return true;
  return false;
}

namespace {

// A soft bounce that reaches the policy's limit suppresses its address (bounces.soft_limit).
Result<void> ApplySoftBounceLimit(EventSink& sink, const Event& e, int64_t time, const SoftBouncePolicy& policy) {
  if (policy.limit <= 0) return {};
  auto bounce = SoftBounceOf(e);
  if (!bounce) return {};
  const int64_t window = int64_t{policy.window_days} * 86400 * 1000000;
  auto count = sink.CountSoftBounces(e.account, bounce->address, time - window);
  if (!count) return Storage("cannot count soft bounces", count.error());
  if (auto s = SoftLimitSuppression(e, *bounce, *count, time, policy))
    if (auto r = sink.InsertSuppression(*s); !r) return Storage("cannot suppress a recipient", r.error());
  return {};
}

}  // namespace

Result<int> WriteEvents(EventSink& sink, const std::vector<Event>& events, int64_t now, const SoftBouncePolicy& soft_bounces) {
  // Accounts' enabled webhooks, looked up once per append: accounts without one skip the fan-out.
  std::map<std::string, std::vector<WebhookTarget>> webhooks;
  int queued = 0;
  for (const auto& e : events) {
    const int64_t time = e.time ? e.time : now;
    auto id = sink.InsertEvent(e, time, e.data.empty() ? kEmptyObject : e.data);
    if (!id) return Storage("cannot append events", id.error());
    if (e.account.empty()) continue;
    // A hard bounce, complaint or unsubscribe suppresses its recipient for the account, in the same
    // transaction as its event; the detail keeps the bounce reason and the remote reply.
    if (auto s = SuppressionFor(e, time))
      if (auto r = sink.InsertSuppression(*s); !r) return Storage("cannot suppress a recipient", r.error());
    if (auto r = ApplySoftBounceLimit(sink, e, time, soft_bounces); !r) return r.error();
    // Each event of an account goes into the outbox of every enabled webhook of that account that
    // wants its type: an event is never recorded without its webhook deliveries.
    auto hooks = webhooks.find(e.account);
    if (hooks == webhooks.end()) {
      auto found = sink.EnabledWebhooks(e.account);
      if (!found) return Storage("cannot queue webhook deliveries", found.error());
      hooks = webhooks.emplace(e.account, std::move(found.value())).first;
    }
    for (const auto& w : hooks->second) {
      if (!WebhookWants(w.event_types, e.type)) continue;
      if (auto r = sink.QueueWebhookDelivery(w.id, *id, now); !r) return Storage("cannot queue webhook deliveries", r.error());
      ++queued;
    }
  }
  return queued;
}

}  // namespace kurier::store
