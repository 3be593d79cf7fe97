// message_state.cpp - the states of a message and its recipients (see message_state.hpp).
#include "spool/message_state.hpp"

#include <algorithm>

#include "common/encoding.hpp"

namespace kurier::spool {

const std::vector<std::string>& RecipientStates() {
  static const std::vector<std::string> kStates = {"queued", "scheduled", "deferred", "delivered", "bounced", "suppressed"};
  return kStates;
}

const std::vector<std::string>& MessageStates() {
  static const std::vector<std::string> kStates = [] {
    auto all = RecipientStates();
    all.push_back("mixed");
    return all;
  }();
  return kStates;
}

std::string MessageStatesText() { return Join(MessageStates()); }

bool IsMessageState(std::string_view state) {
  const auto& all = MessageStates();
  return std::find(all.begin(), all.end(), state) != all.end();
}

bool IsReportedState(std::string_view state) { return state == "cancelled" || IsMessageState(state); }

std::string ReportedStatesText() { return MessageStatesText() + ", cancelled"; }

std::string_view RecipientStatus(std::string_view spool_status, int attempts, int64_t not_before, int64_t now) {
  if (spool_status != "queued") {
    for (const auto& s : RecipientStates())
      if (s == spool_status) return s;
    return spool_status;  // a state of a newer version: shown as it is
  }
  if (attempts > 0) return "deferred";
  return not_before > now ? "scheduled" : "queued";
}

std::string_view StatusAfterEvent(std::string_view type, std::string_view current) {
  for (std::string_view result : {"deferred", "delivered", "bounced", "suppressed"})
    if (type == result) return result;
  if (type == "deleted" && (current == "queued" || current == "scheduled" || current == "deferred")) return "cancelled";
  return current;
}

std::string_view MessageStatus(const std::vector<std::string_view>& recipient_states) {
  if (recipient_states.empty()) return "queued";
  for (auto s : recipient_states)
    if (s != recipient_states.front()) return "mixed";
  return recipient_states.front();
}

}  // namespace kurier::spool
