// event_rules.hpp - what an event causes besides its own row, written once for every storage backend:
// the suppression a hard bounce, a complaint, an unsubscribe or too many soft bounces put on the account's
// list (bounces.soft_limit: an address that keeps failing softly is dropped too, as hosted senders do, e.g.
// Oracle Cloud Email Delivery's SOFTBOUNCE suppression reason; Amazon SES suppresses hard bounces only), and the
// durable outbox rows of the account's webhooks that want the event (fan-out). A backend implements
// EventSink (store rows, answer one query) and calls WriteEvents inside the transaction of the append,
// so an event is never recorded without what it causes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "store/store.hpp"

namespace kurier::store {

/// The suppression `e` causes, recorded at `time`: a `complained`, an `unsubscribed` or a hard `bounced`
/// event (data.classification "hard") of an account, naming data.recipient. The address is lower-cased;
/// the detail is "reason: reply", or whichever of the two the event has, followed by "; rule: RULE" when
/// the event names the classifier's rule that decided (data.rule). nullopt for every other event
/// (decided on the type alone, without reading the data, for the frequent accepted and delivery events).
std::optional<Suppression> SuppressionFor(const Event& e, int64_t time);

/// The address a soft `bounced` event of an account is about (data.classification "soft", data.recipient
/// lower-cased), with the detail its suppression would carry if it reached the soft-bounce limit;
/// nullopt for every other event.
struct SoftBounce {
  std::string address;
  std::string detail;  ///< "reason: reply; rule: RULE", as SuppressionFor writes it
};
std::optional<SoftBounce> SoftBounceOf(const Event& e);

/// The suppression that the soft bounce `e` causes when it is the policy's limit-th (or later) soft bounce
/// of its address within the window: `soft_bounces` is how many distinct messages soft-bounced to the
/// address (this one included) since max(time - window, the last delivery to it). Reason
/// "soft_bounce_limit"; the detail names the count and the window, then the last bounce's detail.
std::optional<Suppression> SoftLimitSuppression(const Event& e, const SoftBounce& b, int soft_bounces, int64_t time,
                                                const SoftBouncePolicy& policy);

/// Whether a webhook subscribed to `event_types` (empty: every type) gets an event of type `type`.
bool WebhookWants(const std::vector<std::string>& event_types, std::string_view type);

/// An enabled webhook of an account, as the fan-out sees it.
struct WebhookTarget {
  std::string id;
  std::vector<std::string> event_types;
};

/// The storage side of one append, called inside its transaction. Errors carry the backend's detail.
class EventSink {
 public:
  /// Inserts the event (time already decided, data "{}" when empty); returns its id.
  virtual Result<int64_t> InsertEvent(const Event& e, int64_t time, const std::string& data) = 0;
  /// Adds the suppression unless the address is already on that account's list.
  virtual Result<void> InsertSuppression(const Suppression& s) = 0;
  /// The account's enabled webhooks (asked once per account and append).
  virtual Result<std::vector<WebhookTarget>> EnabledWebhooks(const std::string& account) = 0;
  /// Queues event `event_id` for webhook `webhook_id`, due at `now`.
  virtual Result<void> QueueWebhookDelivery(const std::string& webhook_id, int64_t event_id, int64_t now) = 0;
  /// How many distinct messages have a soft `bounced` event (data.classification "soft") for `address`
  /// (lower-cased) of `account` at or after `since` and after the last `delivered` event to it; the
  /// events of this append written so far are included.
  virtual Result<int> CountSoftBounces(const std::string& account, const std::string& address, int64_t since) = 0;

 protected:
  ~EventSink() = default;
};

/// Writes `events` through `sink` with the suppressions and outbox rows they cause (a soft bounce that
/// reaches `soft_bounces`' limit suppresses too); an event without a time gets `now`. Returns how many
/// outbox rows were queued. The caller owns the transaction.
Result<int> WriteEvents(EventSink& sink, const std::vector<Event>& events, int64_t now,
                        const SoftBouncePolicy& soft_bounces = {});

}  // namespace kurier::store
