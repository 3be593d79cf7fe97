// event_rules_test.cpp - the rules every store backend applies to appended events: which events
// suppress which address, which webhooks get which event, and that WriteEvents asks its sink for
// exactly the rows they cause (a fake sink: no database).
#include "store/event_rules.hpp"

#include <gtest/gtest.h>

#include <map>

namespace kurier::store {
namespace {

TEST(EventRules, SuppressionFor) {
  struct Row {
    const char* type;
    const char* account;
    const char* data;
    const char* address;  ///< nullptr: no suppression
    const char* reason;
    const char* detail;
  };
  const std::vector<Row> rows = {
      {"bounced", "shop", R"({"recipient":"Hard@X.example","classification":"hard","reason":"userunknown","reply":"550 5.1.1 no"})",
       "hard@x.example", "hard_bounce", "userunknown: 550 5.1.1 no"},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"hard","reply":"550 gone"})", "a@x.example",
       "hard_bounce", "550 gone"},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"hard","reason":"suspend"})", "a@x.example",
       "hard_bounce", "suspend"},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"hard"})", "a@x.example", "hard_bounce", ""},
      {"bounced", "shop",
       R"j({"recipient":"a@x.example","classification":"hard","reason":"userunknown","reply":"550 5.1.1 no","rule":"status 5.1.1 (RFC 3463)"})j",
       "a@x.example", "hard_bounce", "userunknown: 550 5.1.1 no; rule: status 5.1.1 (RFC 3463)"},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"hard","reason":"userunknown","rule":""})",
       "a@x.example", "hard_bounce", "userunknown"},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"hard","rule":"RESOLVER.ADR.RecipNotFound"})",
       "a@x.example", "hard_bounce", "rule: RESOLVER.ADR.RecipNotFound"},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"soft","reason":"mailboxfull"})", nullptr, "", ""},
      {"bounced", "shop", R"({"recipient":"a@x.example"})", nullptr, "", ""},
      {"complained", "shop", R"({"recipient":"Angry@x.example","feedback_type":"abuse"})", "angry@x.example", "complaint", ""},
      {"unsubscribed", "shop", R"({"recipient":"gone@x.example","method":"one-click"})", "gone@x.example", "unsubscribe", ""},
      {"complained", "shop", R"({"feedback":"no recipient"})", nullptr, "", ""},
      {"complained", "shop", R"({"recipient":null})", nullptr, "", ""},
      {"complained", "", R"({"recipient":"anon@x.example"})", nullptr, "", ""},
      {"complained", "shop", "not json", nullptr, "", ""},
      {"delivered", "shop", R"({"recipient":"fine@x.example","classification":"hard"})", nullptr, "", ""},
      {"accepted", "shop", R"({"recipients":["a@x.example"]})", nullptr, "", ""},
      {"opened", "shop", R"({"recipient":"a@x.example"})", nullptr, "", ""},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(std::string(r.type) + " " + r.data);
    auto s = SuppressionFor(Event{7, 0, r.type, "m1", r.account, r.data}, 1234);
    ASSERT_EQ(s.has_value(), r.address != nullptr);
    if (!s) continue;
    EXPECT_EQ(s->account, r.account);
    EXPECT_EQ(s->address, r.address);
    EXPECT_EQ(s->reason, r.reason);
    EXPECT_EQ(s->detail, r.detail);
    EXPECT_EQ(s->message_id, "m1");
    EXPECT_EQ(s->created_at, 1234);
  }
}

TEST(EventRules, WebhookWants) {
  struct Row {
    std::vector<std::string> types;
    const char* type;
    bool wants;
  };
  const std::vector<Row> rows = {
      {{}, "delivered", true},
      {{}, "clicked", true},
      {{"clicked"}, "clicked", true},
      {{"clicked"}, "delivered", false},
      {{"opened", "bounced"}, "bounced", true},
      {{"opened", "bounced"}, "open", false},
      {{"bounced"}, "bounce", false},
  };
  for (const auto& r : rows) EXPECT_EQ(WebhookWants(r.types, r.type), r.wants) << r.type;
}

// A sink that records what it is asked to store.
class FakeSink final : public EventSink {
 public:
  std::map<std::string, std::vector<WebhookTarget>> hooks;
  std::vector<std::string> log;
  int lookups = 0;
  bool fail_suppression = false;
  Result<int64_t> InsertEvent(const Event& e, int64_t time, const std::string& data) override {
    log.push_back("event " + e.type + "@" + std::to_string(time) + " " + data);
    return ++last_id_;
  }
  Result<void> InsertSuppression(const Suppression& s) override {
    if (fail_suppression) return MakeError(ErrorCode::kStorage, "disk full");
    log.push_back("suppress " + s.account + "/" + s.address + " " + s.reason);
    return {};
  }
  Result<std::vector<WebhookTarget>> EnabledWebhooks(const std::string& account) override {
    ++lookups;
    return hooks[account];
  }
  Result<void> QueueWebhookDelivery(const std::string& webhook_id, int64_t event_id, int64_t now) override {
    log.push_back("queue " + webhook_id + " #" + std::to_string(event_id) + "@" + std::to_string(now));
    return {};
  }
  int soft_bounces = 0;  ///< what CountSoftBounces answers
  Result<int> CountSoftBounces(const std::string& account, const std::string& address, int64_t since) override {
    log.push_back("count " + account + "/" + address + " since " + std::to_string(since));
    return soft_bounces;
  }

 private:
  int64_t last_id_ = 0;
};

TEST(EventRules, WriteEventsStoresEachEventWithWhatItCauses) {
  FakeSink sink;
  sink.hooks["shop"] = {WebhookTarget{"wh_all", {}}, WebhookTarget{"wh_bounces", {"bounced"}}};
  const std::vector<Event> events = {
      Event{0, 0, "delivered", "m1", "shop", ""},
      Event{0, 5, "bounced", "m1", "shop", R"({"recipient":"B@x.example","classification":"hard"})"},
      Event{0, 6, "bounced", "m2", "other", R"({"recipient":"c@x.example","classification":"hard"})"},
      Event{0, 7, "auth_failed", "", "", "{}"},
  };
  auto queued = WriteEvents(sink, events, 100);
  ASSERT_TRUE(queued) << queued.error().message;
  EXPECT_EQ(*queued, 3);
  EXPECT_EQ(sink.log, (std::vector<std::string>{
                          "event delivered@100 {}",
                          "queue wh_all #1@100",
                          "event bounced@5 " + events[1].data,
                          "suppress shop/b@x.example hard_bounce",
                          "queue wh_all #2@100",
                          "queue wh_bounces #2@100",
                          "event bounced@6 " + events[2].data,
                          "suppress other/c@x.example hard_bounce",
                          "event auth_failed@7 {}",
                      }));
  EXPECT_EQ(sink.lookups, 2) << "one webhook lookup per account and append";
}

TEST(EventRules, WriteEventsStopsAtTheFirstFailure) {
  FakeSink sink;
  sink.fail_suppression = true;
  auto r = WriteEvents(sink, {Event{0, 1, "complained", "m1", "shop", R"({"recipient":"a@x.example"})"},
                              Event{0, 2, "delivered", "m1", "shop", "{}"}},
                       100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cannot suppress a recipient: disk full");
  EXPECT_EQ(sink.log.size(), 1u);
}

TEST(EventRules, SoftBounceOf) {
  struct Row {
    const char* type;
    const char* account;
    const char* data;
    const char* address;  ///< nullptr: not a soft bounce
    const char* detail;
  };
  const std::vector<Row> rows = {
      {"bounced", "shop", R"j({"recipient":"Full@X.example","classification":"soft","reason":"mailboxfull","reply":"452 full","rule":"status 4.2.2 (RFC 3463)"})j",
       "full@x.example", "mailboxfull: 452 full; rule: status 4.2.2 (RFC 3463)"},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"soft"})", "a@x.example", ""},
      {"bounced", "shop", R"({"recipient":"a@x.example","classification":"hard"})", nullptr, ""},
      {"bounced", "shop", R"({"recipient":"a@x.example"})", nullptr, ""},
      {"bounced", "shop", R"({"recipient":"","classification":"soft"})", nullptr, ""},
      {"bounced", "", R"({"recipient":"a@x.example","classification":"soft"})", nullptr, ""},
      {"deferred", "shop", R"({"recipient":"a@x.example","classification":"soft"})", nullptr, ""},
      {"bounced", "shop", "not json", nullptr, ""},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(std::string(r.type) + " " + r.data);
    auto b = SoftBounceOf(Event{1, 0, r.type, "m1", r.account, r.data});
    ASSERT_EQ(b.has_value(), r.address != nullptr);
    if (!b) continue;
    EXPECT_EQ(b->address, r.address);
    EXPECT_EQ(b->detail, r.detail);
  }
}

TEST(EventRules, SoftLimitSuppression) {
  const Event e{1, 0, "bounced", "m9", "shop", "{}"};
  const SoftBounce b{"a@x.example", "blocked: 421 try later"};
  struct Row {
    int count, limit, days;
    const char* detail;  ///< nullptr: no suppression
  };
  const std::vector<Row> rows = {
      {4, 5, 15, nullptr},
      {5, 5, 15, "5 soft bounces within 15 days without a delivery (bounces.soft_limit 5); last: blocked: 421 try later"},
      {7, 5, 15, "7 soft bounces within 15 days without a delivery (bounces.soft_limit 5); last: blocked: 421 try later"},
      {1, 1, 1, "1 soft bounce within 1 day without a delivery (bounces.soft_limit 1); last: blocked: 421 try later"},
      {9, 0, 15, nullptr},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(std::to_string(r.count) + " of " + std::to_string(r.limit));
    auto s = SoftLimitSuppression(e, b, r.count, 77, SoftBouncePolicy{r.limit, r.days});
    ASSERT_EQ(s.has_value(), r.detail != nullptr);
    if (!s) continue;
    EXPECT_EQ(s->account, "shop");
    EXPECT_EQ(s->address, "a@x.example");
    EXPECT_EQ(s->reason, "soft_bounce_limit");
    EXPECT_EQ(s->detail, r.detail);
    EXPECT_EQ(s->message_id, "m9");
    EXPECT_EQ(s->created_at, 77);
  }
}

// WriteEvents asks the sink to count a soft bounce's address over the window before the event's time,
// and suppresses when the count reaches the limit; with the limit at 0 it never asks.
TEST(EventRules, WriteEventsCountsSoftBounces) {
  constexpr int64_t kDay = int64_t{86400} * 1000000;
  const std::vector<Event> events = {
      Event{0, 20 * kDay, "bounced", "m1", "shop", R"({"recipient":"A@x.example","classification":"soft","reason":"blocked"})"},
      Event{0, 20 * kDay, "delivered", "m2", "shop", R"({"recipient":"a@x.example"})"},
  };
  for (int counted : {4, 5}) {
    FakeSink sink;
    sink.soft_bounces = counted;
    ASSERT_TRUE(WriteEvents(sink, events, 100, SoftBouncePolicy{5, 15}));
    std::vector<std::string> want = {"event bounced@" + std::to_string(20 * kDay) + " " + events[0].data,
                                     "count shop/a@x.example since " + std::to_string(5 * kDay)};
    if (counted == 5) want.push_back("suppress shop/a@x.example soft_bounce_limit");
    want.push_back("event delivered@" + std::to_string(20 * kDay) + " " + events[1].data);
    EXPECT_EQ(sink.log, want) << counted;
  }
  FakeSink off;
  off.soft_bounces = 100;
  ASSERT_TRUE(WriteEvents(off, events, 100, SoftBouncePolicy{0, 15}));
  EXPECT_EQ(off.log.size(), 2u) << "limit 0: no count, no suppression";
}

}  // namespace
}  // namespace kurier::store
