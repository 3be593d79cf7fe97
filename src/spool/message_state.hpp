// message_state.hpp - the states of a message and of each of its recipients, named once for everyone
// who shows them: the HTTP API (GET /v1/messages, from the message's events) and the CLI (`kurier queue
// list|show`, `kurier status`, from the spool), so that both say the same of the same message.
//   queued     waiting for its first attempt
//   scheduled  waiting for its send_at (an API send), not tried yet
//   deferred   tried, refused for now (4xx or unreachable), waiting for its next attempt
//   delivered  accepted by the recipient's server (or the relay)
//   bounced    refused for good (5xx, or expired after queue.max_lifetime)
//   suppressed on a suppression list when its turn came; not sent
//   cancelled  taken out of the queue before it was delivered (DELETE /v1/messages/{id}, `kurier queue
//              delete`): the API knows it from the `deleted` event; the queue, which no longer holds
//              the message, never shows it
// A message's state is the one its recipients share, or "mixed".
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kurier::spool {

/// The recipient states, in the order above.
const std::vector<std::string>& RecipientStates();
/// The states a message can be in: the recipient states and "mixed" (what a listing filters by).
const std::vector<std::string>& MessageStates();
/// MessageStates() as "queued, scheduled, ..., mixed", for errors that list them.
std::string MessageStatesText();
/// True when `state` is one of MessageStates().
bool IsMessageState(std::string_view state);
/// The states the API reports (and filters by): MessageStates() and "cancelled"; as text for errors.
bool IsReportedState(std::string_view state);
std::string ReportedStatesText();

/// The state of a recipient the spool keeps with `spool_status` ("queued", "delivered", "bounced",
/// "suppressed") after `attempts` attempts, of a message not to be sent before `not_before`
/// (microseconds; 0: at once), at `now`.
std::string_view RecipientStatus(std::string_view spool_status, int attempts, int64_t not_before, int64_t now);
/// The state of a recipient in state `current` after an event of `type` about it: delivery results
/// (deferred, delivered, bounced, suppressed) set it, `deleted` cancels it while it still waits;
/// other events (opened, clicked, ...) leave it.
std::string_view StatusAfterEvent(std::string_view type, std::string_view current);
/// A message's state from its recipients' states: the one they share, "mixed" when they differ,
/// "queued" when there are none.
std::string_view MessageStatus(const std::vector<std::string_view>& recipient_states);

}  // namespace kurier::spool
