// message_context.cpp - a message's context from its events, and its splice into delivery events.
#include "store/message_context.hpp"

#include <boost/json.hpp>

#include "common/encoding.hpp"
#include "store/store.hpp"

namespace kurier::store {

namespace json = boost::json;

int64_t MessageContext::DeliveredAt(const std::string& recipient) const {
  int64_t at = 0;
  const std::string want = ToLowerAscii(recipient);
  for (const auto& [r, time] : delivered)
    if (ToLowerAscii(r) == want) at = time;
  return at;
}

std::string ContextMembers(const MessageContext& c) {
  std::string out = "\"mail_from\":" + json::serialize(json::value(json::string_view(c.mail_from)));
  if (!c.tags.empty() && c.tags != "[]") out += ",\"tags\":" + c.tags;
  if (!c.metadata.empty() && c.metadata != "{}") out += ",\"metadata\":" + c.metadata;
  return out;
}

void AddMessageContext(Event& e, const MessageContext& c) {
  if (!e.account.empty() || e.data.size() < 2 || e.data.back() != '}' || c.account.empty()) return;
  e.account = c.account;
  const std::string members = ContextMembers(c);
  e.data.insert(e.data.size() - 1, e.data.size() > 2 ? "," + members : members);
}

std::optional<MessageContext> ContextFromEvents(const std::vector<Event>& events) {
  std::optional<MessageContext> c;
  for (const auto& e : events) {
    if (e.type != "accepted" && (e.type != "delivered" || !c)) continue;
    boost::system::error_code ec;
    json::value d = json::parse(e.data, ec);
    if (ec || !d.is_object()) continue;
    const auto& o = d.as_object();
    if (e.type == "delivered") {
      if (auto* r = o.if_contains("recipient"); r && r->is_string()) c->delivered.emplace_back(r->as_string(), e.time);
      continue;
    }
    if (c) continue;  // the first accepted event counts
    c.emplace();
    c->account = e.account;
    if (auto* rs = o.if_contains("recipients"); rs && rs->is_array())
      for (const auto& r : rs->as_array())
        if (r.is_string()) c->recipients.emplace_back(r.as_string());
    if (auto* v = o.if_contains("mail_from"); v && v->is_string()) c->mail_from = v->as_string();
    if (auto* v = o.if_contains("tags")) c->tags = json::serialize(*v);
    if (auto* v = o.if_contains("metadata")) c->metadata = json::serialize(*v);
  }
  return c;
}

}  // namespace kurier::store
