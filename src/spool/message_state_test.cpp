// message_state_test.cpp - the state names the API and the CLI share.
#include "spool/message_state.hpp"

#include <gtest/gtest.h>

namespace kurier::spool {
namespace {

TEST(MessageState, RecipientStatusFromTheSpool) {
  struct Row {
    std::string spool_status;
    int attempts;
    int64_t not_before, now;
    std::string want;
  };
  const Row rows[] = {
      {"queued", 0, 0, 100, "queued"},          // waiting for its first attempt
      {"queued", 0, 200, 100, "scheduled"},     // send_at still ahead
      {"queued", 0, 100, 100, "queued"},        // its time has come
      {"queued", 1, 0, 100, "deferred"},        // tried once, waiting for a retry
      {"queued", 3, 200, 100, "deferred"},      // tried (by `queue retry`) before its time: deferred
      {"delivered", 1, 0, 100, "delivered"},   {"bounced", 2, 0, 100, "bounced"},
      {"suppressed", 0, 0, 100, "suppressed"}, {"later", 0, 0, 100, "later"},
  };
  for (const auto& r : rows)
    EXPECT_EQ(RecipientStatus(r.spool_status, r.attempts, r.not_before, r.now), r.want) << r.spool_status << " " << r.attempts;
}

TEST(MessageState, StatusAfterEvent) {
  struct Row {
    std::string type, current, want;
  };
  const Row rows[] = {
      {"deferred", "queued", "deferred"},     {"delivered", "deferred", "delivered"}, {"bounced", "scheduled", "bounced"},
      {"suppressed", "queued", "suppressed"}, {"opened", "delivered", "delivered"},   {"clicked", "delivered", "delivered"},
      {"complained", "delivered", "delivered"}, {"dsn", "bounced", "bounced"},
      // deleted (a cancel, `queue delete`) ends only what still waits
      {"deleted", "scheduled", "cancelled"},  {"deleted", "queued", "cancelled"},     {"deleted", "deferred", "cancelled"},
      {"deleted", "delivered", "delivered"},  {"deleted", "bounced", "bounced"},
  };
  for (const auto& r : rows) EXPECT_EQ(StatusAfterEvent(r.type, r.current), r.want) << r.type;
}

TEST(MessageState, MessageStatusAndNames) {
  EXPECT_EQ(MessageStatus({}), "queued");
  EXPECT_EQ(MessageStatus({"deferred"}), "deferred");
  EXPECT_EQ(MessageStatus({"delivered", "delivered"}), "delivered");
  EXPECT_EQ(MessageStatus({"delivered", "deferred"}), "mixed");
  EXPECT_EQ(MessageStatesText(), "queued, scheduled, deferred, delivered, bounced, suppressed, mixed");
  EXPECT_TRUE(IsMessageState("mixed"));
  EXPECT_TRUE(IsMessageState("scheduled"));
  EXPECT_FALSE(IsMessageState("opened"));
  EXPECT_FALSE(IsMessageState("cancelled"));  // the queue never holds a cancelled message
  EXPECT_TRUE(IsReportedState("cancelled"));
  EXPECT_TRUE(IsReportedState("mixed"));
  EXPECT_EQ(ReportedStatesText(), "queued, scheduled, deferred, delivered, bounced, suppressed, mixed, cancelled");
}

}  // namespace
}  // namespace kurier::spool
