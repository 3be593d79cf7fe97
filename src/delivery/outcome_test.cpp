// Outcome rules: what each result makes of a recipient (table), retry scheduling with a fixed clock,
// expiry, the suppression split and the DSN.
#include "delivery/outcome.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "smtp/proto/replies.hpp"

namespace kurier::delivery {
namespace {

using smtp::proto::Outcome;
using smtp::proto::RecipientResult;
using smtp::proto::ServerReply;

ServerReply Reply(int code, std::string enhanced, std::string text) {
  ServerReply r;
  r.code = code;
  r.enhanced = enhanced;
  r.lines = {enhanced + " " + text};
  return r;
}

constexpr int64_t kNow = 1'700'000'000'000'000;

Job OneRecipient(int64_t received_at = kNow - 1'000'000) {
  Job j;
  j.message_id = "Q1";
  j.domain = "x.test";
  j.received_at = received_at;
  j.rcpts = {Job::Rcpt{2, "r@x.test", 1}};
  return j;
}

TEST(Outcome, EachResultDecidesTheRecipientsState) {
  struct Case {
    const char* name;
    RecipientResult result;
    int64_t received_at;
    const char* status;      // the spool's recipient state
    const char* event;       // the event type
    const char* reason;      // the bounce reason in the event ("" when none)
    const char* dsn_status;  // the DSN status ("" when no DSN)
    bool retried;
  };
  const int64_t old = kNow - 432'001'000'000;  // past queue.max_lifetime
  const Case cases[] = {
      {"delivered", {Outcome::kDelivered, Reply(250, "2.0.0", "ok"), false}, kNow, "delivered", "delivered", "", "", false},
      {"bounced", {Outcome::kBounced, Reply(550, "5.1.1", "no such user"), false, "RCPT"}, kNow, "bounced", "bounced",
       "userunknown", "5.1.1", false},
      // the command the reply answered reaches the classifier: refused at MAIL FROM, it is the sender
      {"bounced at MAIL", {Outcome::kBounced, Reply(550, "5.1.1", "no such user"), false, "MAIL"}, kNow, "bounced", "bounced",
       "rejected", "5.1.1", false},
      {"deferred", {Outcome::kDeferred, Reply(451, "4.3.0", "try later"), false}, kNow, "queued", "deferred", "", "", true},
      {"expired", {Outcome::kDeferred, Reply(451, "4.3.0", "try later"), false}, old, "bounced", "bounced", "expired", "4.3.0", false},
      // kurier's own replies (no server said them) are marked `local` in the event and the DSN
      {"local bounce", {Outcome::kBounced, smtp::proto::LocalReply(smtp::proto::ReplyId::kRouteNxDomain, {"x.test: no such domain"}), true},
       kNow, "bounced", "bounced", "", "5.1.2", false},
      {"local deferral", {Outcome::kDeferred, smtp::proto::LocalReply(smtp::proto::ReplyId::kNoGreeting, {"mx.x.test [192.0.2.1]", "30"}), true},
       kNow, "queued", "deferred", "", "", true},
  };
  for (const Case& c : cases) {
    std::mt19937 rng(1);
    QueuePolicy q;
    Job job = OneRecipient(c.received_at);
    Decision d = Decide(q, job, {c.result}, "mx.x.test [192.0.2.1]", "TLSv1.3", {"s1"}, kNow, rng);
    ASSERT_EQ(d.updates.size(), 1u) << c.name;
    EXPECT_EQ(d.updates[0].status, c.status) << c.name;
    EXPECT_EQ(d.updates[0].idx, 2) << c.name;
    EXPECT_EQ(d.updates[0].attempts, 2) << c.name;
    ASSERT_EQ(d.events.size(), 1u);
    EXPECT_EQ(d.events[0].type, c.event) << c.name;
    EXPECT_EQ(d.events[0].time, kNow);
    auto data = boost::json::parse(d.events[0].data).as_object();
    EXPECT_EQ(data.at("recipient").as_string(), "r@x.test");
    EXPECT_EQ(data.at("mx").as_string(), "mx.x.test [192.0.2.1]");
    EXPECT_EQ(data.at("dkim").as_array().size(), 1u);
    if (*c.reason) {
      EXPECT_EQ(data.at("reason").as_string(), c.reason) << c.name;
    }
    // A bounce keeps the classifier's rule (a string, "" while no step names itself); kurier's own
    // expiry names queue.max_lifetime.
    EXPECT_EQ(data.contains("rule"), std::string(c.event) == "bounced") << c.name;
    if (std::string(c.name) == "expired")
      EXPECT_EQ(data.at("rule").as_string(), "queue.max_lifetime reached (RFC 5321 4.5.4.1)");
    EXPECT_EQ(d.failed.size(), *c.dsn_status ? 1u : 0u) << c.name;
    if (*c.dsn_status) {
      EXPECT_EQ(d.failed[0].status, c.dsn_status) << c.name;
      EXPECT_EQ(d.failed[0].local, c.result.reply.local) << c.name;
      EXPECT_EQ(d.failed[0].remote_mta, c.result.reply.local ? "" : "mx.x.test [192.0.2.1]") << c.name;
    }
    EXPECT_EQ(data.contains("local"), c.result.reply.local) << c.name;
    EXPECT_EQ(!d.retry.rcpts.empty(), c.retried) << c.name;
  }
}

TEST(Outcome, ADeferredRecipientIsRetriedOnTheSchedule) {
  std::mt19937 rng(7);
  QueuePolicy q;  // retry_initial 60 s, +-10 %
  Job job = OneRecipient();
  RecipientResult res{Outcome::kDeferred, Reply(421, "4.4.2", "busy"), true};
  Decision d = Decide(q, job, {res}, "", "", {}, kNow, rng);
  ASSERT_EQ(d.retry.rcpts.size(), 1u);
  EXPECT_EQ(d.retry.rcpts[0].attempts, 2);
  EXPECT_EQ(d.retry.message, nullptr);  // retries read the message back: no memory for waiting mail
  EXPECT_GE(d.retry_due, kNow + 54'000'000);
  EXPECT_LE(d.retry_due, kNow + 4 * 66'000'000);
  EXPECT_EQ(d.updates[0].next_attempt, d.retry_due);
}

TEST(Outcome, SuppressedRecipientsAreSplitOff) {
  Job job = OneRecipient();
  job.rcpts.push_back(Job::Rcpt{3, "Gone@X.test", 0});
  store::Suppression s;
  s.address = "gone@x.test";
  s.reason = "hard_bounce";
  s.created_at = kNow - 10;
  SuppressionSplit split = SplitSuppressed(job, {s}, kNow);
  ASSERT_EQ(split.left.size(), 1u);
  EXPECT_EQ(split.left[0].address, "r@x.test");
  ASSERT_EQ(split.updates.size(), 1u);
  EXPECT_EQ(split.updates[0].status, "suppressed");
  EXPECT_EQ(split.updates[0].idx, 3);
  ASSERT_EQ(split.events.size(), 1u);
  EXPECT_EQ(split.events[0].type, "suppressed");
  auto data = boost::json::parse(split.events[0].data).as_object();
  EXPECT_EQ(data.at("scope").as_string(), "global");
  EXPECT_EQ(data.at("reason").as_string(), "hard_bounce");
}

TEST(Outcome, TheDsnGoesFromTheNullSenderToTheOriginalSender) {
  spool::SpoolMessage original;
  original.id = "Q1";
  original.account = "acct";
  original.mail_from = "ann@sender.test";
  original.received_at = kNow - 5'000'000;
  original.data = "From: ann@sender.test\r\nSubject: hello\r\n\r\nbody\r\n";
  std::vector<DsnRecipient> failed{{"r@x.test", "5.1.1", "550 5.1.1 no such user", "mx.x.test", false}};
  auto [dsn, event] = MakeDsn("mta.test", "Q1", original, failed, kNow);
  EXPECT_EQ(dsn.mail_from, "");
  EXPECT_EQ(dsn.recipients, std::vector<std::string>{"ann@sender.test"});
  EXPECT_EQ(dsn.account, "acct");
  EXPECT_EQ(dsn.received_at, kNow);
  EXPECT_EQ(dsn.size, dsn.data.size());
  EXPECT_NE(dsn.data.find("5.1.1"), std::string::npos);
  EXPECT_EQ(event.type, "dsn");
  EXPECT_EQ(event.message_id, "Q1");
  auto data = boost::json::parse(event.data).as_object();
  EXPECT_EQ(data.at("dsn_id").as_string(), dsn.id);
  EXPECT_EQ(data.at("to").as_string(), "ann@sender.test");
}

}  // namespace
}  // namespace kurier::delivery
