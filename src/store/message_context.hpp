// message_context.hpp - what every event of a message carries about it (its account, sender, tags and
// metadata), and its recipients and deliveries: the one shape in which the spool (for delivery events),
// the tracking endpoints and the bounce intake look a message up (Store::FindMessageContext).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kurier::store {

struct Event;

struct MessageContext {
  std::string account;
  std::string mail_from;
  std::vector<std::string> recipients;
  std::string tags = "[]";      ///< JSON array text
  std::string metadata = "{}";  ///< JSON object text
  /// (recipient, time) of the message's `delivered` events, oldest first (from the event log only).
  std::vector<std::pair<std::string, int64_t>> delivered;

  /// The time of the last `delivered` event of `recipient` (case-insensitive), 0 when none.
  int64_t DeliveredAt(const std::string& recipient) const;
};

/// The context members of an event's JSON object: `"mail_from":...` and, when not empty, `"tags":...`
/// and `"metadata":...` (no braces, no leading comma).
std::string ContextMembers(const MessageContext& c);

/// Gives a delivery event its message's account and context: the members are added to the end of its
/// JSON object. Events that already name an account, or whose data is not an object, are left alone.
void AddMessageContext(Event& e, const MessageContext& c);

/// A message's context read from its events (oldest first): the `accepted` event gives the account,
/// sender, recipients, tags and metadata; `delivered` events their times. nullopt without a readable
/// `accepted` event.
std::optional<MessageContext> ContextFromEvents(const std::vector<Event>& events);

}  // namespace kurier::store
