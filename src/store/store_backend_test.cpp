// Store tests for the parts of the interface store_test.cpp does not reach: statistics, the webhook
// outbox's lifecycle, sending domains and DKIM keys, idempotency keys, account defaults and flags. One
// body, run against every backend (store_test_backends.hpp), so that SQLite and PostgreSQL cannot
// disagree there unnoticed; and, for PostgreSQL, webhook secrets sealed at rest (the SQLite twin is
// WebhookSecretsAtRest in store_test.cpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "store/postgres/pg_db.hpp"
#include "store/postgres/pg_test_server.hpp"
#include "store/store.hpp"
#include "store/store_test_backends.hpp"

namespace kurier::store {
namespace {

constexpr int64_t kHour = int64_t{3600} * 1000000;
constexpr int64_t kDay = 24 * kHour;
const std::string kServerSecret = "a-server-secret-of-more-than-32-characters";
const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const char* CodeName(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kAlreadyExists: return "already_exists";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kStorage: return "storage";
    case ErrorCode::kConfig: return "config";
    case ErrorCode::kTemporary: return "temporary";
    case ErrorCode::kInternal: return "internal";
  }
  return "?";
}

/// "ok", or the error's code name ("not_found", ...), so that a wrong outcome reads well in a failure.
template <class T>
std::string Outcome(const Result<T>& r) {
  return r ? "ok" : CodeName(r.error().code);
}

/// EXPECT_EQ on Outcome(expr), with the error's message; more can be streamed after it.
#define EXPECT_OUTCOME(expr, want)               \
  if (auto&& outcome_ = (expr); false) {         \
  } else                                         \
    EXPECT_EQ(Outcome(outcome_), want) << (outcome_ ? std::string() : outcome_.error().message + " ")

class StoreBackendTest : public ::testing::TestWithParam<testing::StoreBackend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-store-backend-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto s = GetParam().open(dir_, StoreOptions{kServerSecret});
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s.value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Account MustFind(const std::string& name) {
    auto a = store_->FindAccount(name);
    EXPECT_TRUE(a) << a.error().message;
    if (!a || !*a) {
      ADD_FAILURE() << "no account " << name;
      return Account{};
    }
    return **a;
  }
  std::vector<Store::OutboxRow> Deliveries(const std::string& webhook_id, std::size_t limit = 100) {
    auto rows = store_->ListWebhookDeliveries(webhook_id, limit);
    EXPECT_TRUE(rows) << rows.error().message;
    return rows ? *rows : std::vector<Store::OutboxRow>{};
  }
  /// How many outbox rows are due at `now` (-1 on error).
  int DueCount(int64_t now) {
    auto due = store_->DueWebhookDeliveries(now, 100);
    EXPECT_TRUE(due) << due.error().message;
    return due ? static_cast<int>(due->size()) : -1;
  }
  /// NextWebhookDue (-1 on error).
  int64_t NextDue() {
    auto next = store_->NextWebhookDue();
    EXPECT_TRUE(next) << next.error().message;
    return next ? *next : -1;
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

// ---------------------------------------------------------------------------------------------------
// Statistics

/// "h10 bounced:hard 1/1": the bucket's hour since the epoch, type(:classification), total/unique.
std::vector<std::string> StatsLines(const std::vector<StatsRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows)
    out.push_back("h" + std::to_string(r.bucket / kHour) + " " + r.type +
                  (r.classification.empty() ? "" : ":" + r.classification) + " " + std::to_string(r.total) + "/" +
                  std::to_string(r.unique));
  return out;
}

// Two hour buckets (hours 10 and 11) of one account's events, one before and one at the end of the range,
// and another account's: every filter of StatsQuery alone and combined.
TEST_P(StoreBackendTest, StatsCountByBucketTypeAndFilter) {
  const int64_t t0 = 10 * kHour;
  const std::string m1 = R"("mail_from":"news@shop.example","tags":["spring"])";
  const std::string m2 = R"("mail_from":"x@op.example","tags":["autumn"])";
  const std::string m3 = R"("mail_from":"Y@Shop.Example","tags":["spring","promo"])";
  auto ev = [](int64_t time, const char* type, const char* message, const std::string& common, const std::string& rest,
               const char* account = "shop") {
    return Event{0, time, type, message, account, "{" + common + (rest.empty() ? "" : "," + rest) + "}"};
  };
  ASSERT_TRUE(store_->AppendEvents({
      ev(t0 - 1, "accepted", "m0", m1, R"("recipients":["z@x.example"])"),  // before `from` below
      ev(t0, "delivered", "m1", m1, R"("recipient":"a@x.example")"),        // at `from`
      ev(t0 + 1, "accepted", "m1", m1, R"("recipients":["a@x.example","b@x.example","c@x.example"])"),
      ev(t0 + 2, "accepted", "m2", m2, R"("recipients":["d@x.example"])"),
      ev(t0 + 3, "delivered", "m1", m1, R"("recipient":"b@x.example")"),
      ev(t0 + 4, "bounced", "m1", m1, R"("recipient":"c@x.example","classification":"hard","reason":"userunknown")"),
      ev(t0 + 10, "opened", "m1", m1, R"("recipient":"a@x.example")"),
      ev(t0 + 20, "opened", "m1", m1, R"("recipient":"A@X.example")"),  // the same recipient again
      ev(t0 + 30, "opened", "m1", m1, R"("recipient":"b@x.example")"),
      ev(t0 + kHour + 1, "bounced", "m2", m2, R"("recipient":"d@x.example","classification":"soft","reason":"mailboxfull")"),
      ev(t0 + kHour + 2, "bounced", "m3", m3, R"("recipient":"e@x.example","classification":"hard","reason":"userunknown")"),
      ev(t0 + kHour + 3, "clicked", "m1", m1, R"("recipient":"a@x.example")"),
      ev(t0 + kHour + 4, "clicked", "m1", m1, R"("recipient":"a@x.example")"),
      ev(t0 + 2 * kHour - 1, "deferred", "m2", m2, R"("recipient":"d@x.example")"),
      ev(t0 + 2 * kHour, "delivered", "m2", m2, R"("recipient":"d@x.example")"),  // at `to`: outside
      // Another account, same sending domain and tag; its accepted event lists no recipients (counts 1).
      ev(t0 + 5, "accepted", "m5", R"("mail_from":"o@shop.example")", "", "other"),
      ev(t0 + 6, "opened", "m5", R"("mail_from":"o@shop.example","tags":["spring"])", R"("recipient":"p@x.example")", "other"),
  }));
  struct Case {
    const char* name;
    StatsQuery query;
    std::vector<std::string> want;
  };
  auto Q = [&](auto&& set) {
    StatsQuery q;
    q.account = "shop";
    q.from = t0;
    q.to = t0 + 2 * kHour;
    set(q);
    return q;
  };
  const std::vector<std::string> all = {"h10 accepted 4/2",       "h10 bounced:hard 1/1",   "h10 delivered 2/2",
                                        "h10 opened 3/2",         "h11 bounced:hard 1/1",   "h11 bounced:soft 1/1",
                                        "h11 clicked 2/1",        "h11 deferred 1/1"};
  const std::vector<std::string> spring = {"h10 accepted 3/1", "h10 bounced:hard 1/1", "h10 delivered 2/2",
                                           "h10 opened 3/2",   "h11 bounced:hard 1/1", "h11 clicked 2/1"};
  const std::vector<std::string> autumn = {"h10 accepted 1/1", "h11 bounced:soft 1/1", "h11 deferred 1/1"};
  const std::vector<Case> cases = {
      {"hourly, [from, to)", Q([](auto&) {}), all},
      {"first hour", Q([&](auto& q) { q.to = t0 + kHour; }), {all.begin(), all.begin() + 4}},
      {"second hour", Q([&](auto& q) { q.from = t0 + kHour; }), {all.begin() + 4, all.end()}},
      {"a few microseconds", Q([&](auto& q) { q.from = t0 + 4; q.to = t0 + 11; }), {"h10 bounced:hard 1/1", "h10 opened 1/1"}},
      {"across the hour before", Q([&](auto& q) { q.from = t0 - 1; q.to = t0 + 1; }), {"h9 accepted 1/1", "h10 delivered 1/1"}},
      {"daily", Q([](auto& q) { q.bucket = kDay; }),
       {"h0 accepted 4/2", "h0 bounced:hard 2/2", "h0 bounced:soft 1/1", "h0 clicked 2/1", "h0 deferred 1/1",
        "h0 delivered 2/2", "h0 opened 3/2"}},
      {"tag spring", Q([](auto& q) { q.tag = "spring"; }), spring},
      {"tag autumn", Q([](auto& q) { q.tag = "autumn"; }), autumn},
      {"tag promo", Q([](auto& q) { q.tag = "promo"; }), {"h11 bounced:hard 1/1"}},
      {"tag is matched whole", Q([](auto& q) { q.tag = "spr"; }), {}},
      {"domain shop.example (any case of the sender)", Q([](auto& q) { q.domain = "shop.example"; }), spring},
      {"domain in capitals", Q([](auto& q) { q.domain = "SHOP.EXAMPLE"; }), spring},
      {"domain op.example is not shop.example's tail", Q([](auto& q) { q.domain = "op.example"; }), autumn},
      {"domain hop.example", Q([](auto& q) { q.domain = "hop.example"; }), {}},
      {"domain example", Q([](auto& q) { q.domain = "example"; }), {}},
      {"tag and domain", Q([](auto& q) { q.tag = "promo"; q.domain = "shop.example"; }), {"h11 bounced:hard 1/1"}},
      {"tag and another domain", Q([](auto& q) { q.tag = "spring"; q.domain = "op.example"; }), {}},
      {"another account", Q([](auto& q) { q.account = "other"; }), {"h10 accepted 1/1", "h10 opened 1/1"}},
      {"another account, tag", Q([](auto& q) { q.account = "other"; q.tag = "spring"; }), {"h10 opened 1/1"}},
      {"no such account", Q([](auto& q) { q.account = "nobody"; }), {}},
      {"empty range", Q([&](auto& q) { q.to = t0; }), {}},
  };
  for (const auto& c : cases) {
    auto got = store_->Stats(c.query);
    ASSERT_TRUE(got) << c.name << ": " << got.error().message;
    EXPECT_EQ(StatsLines(*got), c.want) << c.name;
  }
}

// ---------------------------------------------------------------------------------------------------
// Webhooks and their outbox

Webhook ShopWebhook(std::vector<std::string> types) {
  Webhook w;
  w.account = "shop";
  w.url = "https://hooks.example/kurier";
  w.event_types = std::move(types);
  w.description = "orders";
  w.secret = kSecret;
  return w;
}

/// "type state attempts last_status last_error" of each outbox row, newest first as listed.
std::vector<std::string> OutboxLines(const std::vector<Store::OutboxRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows)
    out.push_back(r.event_type + " " + r.state + " " + std::to_string(r.attempts) + " " + std::to_string(r.last_status) +
                  (r.last_error.empty() ? "" : " " + r.last_error));
  return out;
}

// Append → due (with the webhook's secret decrypted and the event) → a retry later → delivered; a row
// given up is failed; NextWebhookDue follows the pending rows.
TEST_P(StoreBackendTest, WebhookOutboxRetriesThenDelivers) {
  auto w = store_->CreateWebhook(ShopWebhook({"delivered", "bounced"}));
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->id.rfind("wh_", 0), 0u) << w->id;
  auto next = store_->NextWebhookDue();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 0) << "nothing queued yet";

  const int64_t before = NowMicros();
  ASSERT_TRUE(store_->AppendEvents({Event{0, 1000, "delivered", "m1", "shop", R"({"recipient":"a@x.example"})"},
                                    Event{0, 1001, "opened", "m1", "shop", R"({"recipient":"a@x.example"})"},
                                    Event{0, 1002, "bounced", "m2", "shop", R"({"recipient":"b@x.example"})"}}));
  const int64_t after = NowMicros();
  EXPECT_EQ(DueCount(before - 1), 0) << "queued rows are due from their append on";
  next = store_->NextWebhookDue();
  ASSERT_TRUE(next);
  EXPECT_GE(*next, before) << "a new row is due at its append";
  EXPECT_LE(*next, after);
  // Rows handed out are claimed (not handed out again, to this node or another) until their attempt is
  // finished or the claim lapses; the limit is honoured, oldest first.
  auto first = store_->DueWebhookDeliveries(after, 1);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->size(), 1u);
  const WebhookDelivery d = first->front();
  EXPECT_EQ(d.webhook.id, w->id);
  EXPECT_EQ(d.webhook.account, "shop");
  EXPECT_EQ(d.webhook.url, "https://hooks.example/kurier");
  EXPECT_EQ(d.webhook.event_types, (std::vector<std::string>{"delivered", "bounced"}));
  EXPECT_EQ(d.webhook.secret, kSecret);
  EXPECT_EQ(d.webhook.secret_error, "");
  EXPECT_EQ(d.event.type, "delivered");
  EXPECT_EQ(d.event.time, 1000);
  EXPECT_EQ(d.event.message_id, "m1");
  EXPECT_EQ(d.event.account, "shop");
  EXPECT_EQ(d.event.data, R"({"recipient":"a@x.example"})");
  EXPECT_EQ(d.attempts, 0);
  EXPECT_GE(d.created_at, before);
  EXPECT_LE(d.created_at, after);
  auto due = store_->DueWebhookDeliveries(after, 10);
  ASSERT_TRUE(due) << due.error().message;
  ASSERT_EQ(due->size(), 1u) << "the opened event is not a type the webhook wants; the delivered one is claimed";
  EXPECT_EQ(due->at(0).event.type, "bounced");
  EXPECT_EQ(due->at(0).event.message_id, "m2");
  EXPECT_LT(d.id, due->at(0).id);
  EXPECT_EQ(DueCount(after + kWebhookClaimMicros - 1), 0) << "claimed rows are not handed out twice";
  next = store_->NextWebhookDue();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, after + kWebhookClaimMicros) << "a claim that lapses makes its row due again";

  // The first fails with a retry in a minute; the second is delivered.
  const int64_t retry = after + 60 * int64_t{1000000};
  ASSERT_TRUE(store_->FinishWebhookAttempt(d.id, WebhookAttempt{false, 503, "service unavailable", retry}));
  ASSERT_TRUE(store_->FinishWebhookAttempt(due->at(0).id, WebhookAttempt{true, 200, "", 0}));
  EXPECT_EQ(DueCount(retry - 1), 0) << "not due before its retry";
  next = store_->NextWebhookDue();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, retry);
  auto again = store_->DueWebhookDeliveries(retry, 10);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().id, d.id);
  EXPECT_EQ(again->front().attempts, 1);
  auto rows = Deliveries(w->id);
  EXPECT_EQ(OutboxLines(rows), (std::vector<std::string>{"bounced delivered 1 200", "delivered pending 1 503 service unavailable"}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].id, d.id);
  EXPECT_EQ(rows[1].event_id, d.event.id);
  EXPECT_EQ(rows[1].next_attempt, retry + kWebhookClaimMicros) << "claimed by the read at its retry time";
  EXPECT_EQ(rows[1].created_at, d.created_at);

  ASSERT_TRUE(store_->FinishWebhookAttempt(d.id, WebhookAttempt{true, 204, "", 0}));
  EXPECT_EQ(DueCount(retry + kDay), 0);
  next = store_->NextWebhookDue();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 0);
  EXPECT_EQ(OutboxLines(Deliveries(w->id)), (std::vector<std::string>{"bounced delivered 1 200", "delivered delivered 2 204"}));

  // Given up (no next attempt): failed, never due again.
  ASSERT_TRUE(store_->AppendEvents({Event{0, 1003, "bounced", "m3", "shop", "{}"}}));
  due = store_->DueWebhookDeliveries(NowMicros(), 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  ASSERT_TRUE(store_->FinishWebhookAttempt(due->front().id, WebhookAttempt{false, 0, "connection refused", 0}));
  EXPECT_EQ(DueCount(NowMicros() + kDay), 0);
  EXPECT_EQ(NextDue(), 0);
  EXPECT_EQ(OutboxLines(Deliveries(w->id)).front(), "bounced failed 1 0 connection refused");
  EXPECT_EQ(OutboxLines(Deliveries(w->id, 1)), std::vector<std::string>{"bounced failed 1 0 connection refused"});
}

// UpdateWebhook writes what it says; DisableWebhook drops what is pending; enabling clears the reason;
// DeleteWebhook removes it once; another account can neither see nor change it.
TEST_P(StoreBackendTest, WebhookUpdateDisableAndDelete) {
  auto created = store_->CreateWebhook(ShopWebhook({"delivered"}));
  ASSERT_TRUE(created) << created.error().message;
  Webhook w = *created;
  auto found = store_->FindWebhook("shop", w.id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->url, "https://hooks.example/kurier");
  EXPECT_EQ((*found)->description, "orders");
  EXPECT_EQ((*found)->secret, kSecret);
  EXPECT_EQ((*found)->created_at, w.created_at);
  EXPECT_TRUE((*found)->enabled);

  w.url = "https://hooks.example/v2";
  w.event_types = {"opened", "clicked"};
  w.description = "engagement";
  ASSERT_TRUE(store_->UpdateWebhook(w));
  found = store_->FindWebhook("shop", w.id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->url, "https://hooks.example/v2");
  EXPECT_EQ((*found)->event_types, (std::vector<std::string>{"opened", "clicked"}));
  EXPECT_EQ((*found)->description, "engagement");
  EXPECT_EQ((*found)->secret, kSecret);
  ASSERT_TRUE(store_->AppendEvents({Event{0, 1, "delivered", "m1", "shop", "{}"}, Event{0, 2, "opened", "m1", "shop", "{}"}}));
  EXPECT_EQ(OutboxLines(Deliveries(w.id)), std::vector<std::string>{"opened pending 0 0"}) << "the new types apply";

  // Another account: not found, not changed, not deleted.
  auto foreign = store_->FindWebhook("other", w.id);
  ASSERT_TRUE(foreign);
  EXPECT_FALSE(*foreign);
  Webhook theirs = w;
  theirs.account = "other";
  theirs.url = "https://evil.example/";
  EXPECT_OUTCOME(store_->UpdateWebhook(theirs), "not_found");
  EXPECT_OUTCOME(store_->DeleteWebhook("other", w.id), "not_found");
  EXPECT_EQ(store_->FindWebhook("shop", w.id).value()->url, "https://hooks.example/v2");
  auto listed = store_->ListWebhooks("other");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());

  // Disabled: the pending row is dropped, nothing new is queued, nothing is due.
  ASSERT_TRUE(store_->DisableWebhook(w.id, "410 Gone"));
  found = store_->FindWebhook("shop", w.id);
  ASSERT_TRUE(found && *found);
  EXPECT_FALSE((*found)->enabled);
  EXPECT_EQ((*found)->disabled_reason, "410 Gone");
  EXPECT_EQ(OutboxLines(Deliveries(w.id)), std::vector<std::string>{"opened dropped 0 0 webhook disabled: 410 Gone"});
  ASSERT_TRUE(store_->AppendEvents({Event{0, 3, "clicked", "m1", "shop", "{}"}}));
  EXPECT_EQ(Deliveries(w.id).size(), 1u);
  EXPECT_EQ(DueCount(NowMicros() + kDay), 0);
  EXPECT_EQ(NextDue(), 0);

  // An edit that leaves it disabled keeps the reason; enabling clears it; dropped rows stay dropped.
  Webhook edit = **found;
  edit.description = "still off";
  ASSERT_TRUE(store_->UpdateWebhook(edit));
  found = store_->FindWebhook("shop", w.id);
  ASSERT_TRUE(found && *found);
  EXPECT_FALSE((*found)->enabled);
  EXPECT_EQ((*found)->disabled_reason, "410 Gone");
  edit.enabled = true;
  ASSERT_TRUE(store_->UpdateWebhook(edit));
  found = store_->FindWebhook("shop", w.id);
  ASSERT_TRUE(found && *found);
  EXPECT_TRUE((*found)->enabled);
  EXPECT_EQ((*found)->disabled_reason, "");
  EXPECT_EQ((*found)->secret, kSecret);
  EXPECT_EQ(DueCount(NowMicros() + kDay), 0);
  ASSERT_TRUE(store_->AppendEvents({Event{0, 4, "clicked", "m1", "shop", "{}"}}));
  EXPECT_EQ(OutboxLines(Deliveries(w.id)),
            (std::vector<std::string>{"clicked pending 0 0", "opened dropped 0 0 webhook disabled: 410 Gone"}));

  // Deleted: gone with its outbox; a second delete is not found.
  ASSERT_TRUE(store_->DeleteWebhook("shop", w.id));
  auto gone = store_->FindWebhook("shop", w.id);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  EXPECT_TRUE(Deliveries(w.id).empty());
  EXPECT_EQ(NextDue(), 0);
  EXPECT_OUTCOME(store_->DeleteWebhook("shop", w.id), "not_found");
  EXPECT_OUTCOME(store_->UpdateWebhook(w), "not_found");
  listed = store_->ListWebhooks("shop");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

// ---------------------------------------------------------------------------------------------------
// Sending domains and DKIM keys

/// "domain account selector algorithm key_path state retire_at" of each key, in listing order.
std::vector<std::string> KeyLines(const Result<std::vector<DkimKey>>& keys) {
  std::vector<std::string> out;
  if (!keys) return {"error: " + keys.error().message};
  for (const auto& k : keys.value())
    out.push_back(k.domain + " " + k.account + " " + k.selector + " " + k.algorithm + " " + k.key_path + " " + k.state +
                  (k.active ? " active" : " inactive") + " " + std::to_string(k.retire_at));
  return out;
}

TEST_P(StoreBackendTest, SendingDomainsBelongToOneAccount) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  ASSERT_TRUE(store_->CreateAccount("other"));
  EXPECT_OUTCOME(store_->AddDomain("shop", "Shop.Example"), "ok");
  auto taken = store_->AddDomain("other", "shop.EXAMPLE");
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(taken.error().message.find("belongs to account 'shop'"), std::string::npos) << taken.error().message;
  auto again = store_->AddDomain("shop", "shop.example");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos) << again.error().message;
  EXPECT_OUTCOME(store_->AddDomain("nobody", "nobody.example"), "not_found");

  // Verification shows in the owner's verified_domains (name order), not in another account's.
  EXPECT_TRUE(MustFind("shop").verified_domains.empty());
  ASSERT_TRUE(store_->AddDomain("shop", "b.example"));
  ASSERT_TRUE(store_->AddDomain("other", "o.example"));
  EXPECT_OUTCOME(store_->SetDomainVerified("SHOP.example", true), "ok");
  EXPECT_EQ(MustFind("shop").verified_domains, std::vector<std::string>{"shop.example"});
  EXPECT_OUTCOME(store_->SetDomainVerified("b.example", true), "ok");
  EXPECT_OUTCOME(store_->SetDomainVerified("shop.example", true), "ok");  // verified again: stays
  EXPECT_EQ(MustFind("shop").verified_domains, (std::vector<std::string>{"b.example", "shop.example"}));
  EXPECT_TRUE(MustFind("other").verified_domains.empty());
  EXPECT_TRUE(MustFind("shop").sender_domains.empty()) << "sending domains are not sender domains";
  EXPECT_OUTCOME(store_->SetDomainVerified("shop.example", false), "ok");
  EXPECT_EQ(MustFind("shop").verified_domains, std::vector<std::string>{"b.example"});
  EXPECT_OUTCOME(store_->SetDomainVerified("shop.example", true), "ok");
  EXPECT_EQ(MustFind("shop").verified_domains, (std::vector<std::string>{"b.example", "shop.example"}));
  EXPECT_OUTCOME(store_->SetDomainVerified("unknown.example", true), "not_found");
  EXPECT_OUTCOME(store_->SetDomainVerified("unknown.example", false), "not_found");
  EXPECT_OUTCOME(store_->SetDomainVerified("op.example", true), "not_found");  // no suffix match
}

TEST_P(StoreBackendTest, DkimKeysAreListedAndRotated) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  ASSERT_TRUE(store_->CreateAccount("other"));
  ASSERT_TRUE(store_->AddDomain("shop", "shop.example"));
  ASSERT_TRUE(store_->AddDomain("other", "a.example"));
  DkimKey k;
  k.domain = "unknown.example";
  k.selector = "s1";
  k.algorithm = "rsa";
  k.key_path = "/keys/s1.pem";
  EXPECT_OUTCOME(store_->AddDkimKey(k), "not_found");

  const int64_t before = NowMicros();
  k.domain = "SHOP.Example";  // looked up in any case
  auto k1 = store_->AddDkimKey(k);
  ASSERT_TRUE(k1) << k1.error().message;
  EXPECT_GT(k1->id, 0);
  EXPECT_TRUE(k1->active);
  EXPECT_GE(k1->created_at, before);
  k.selector = "s2";
  k.algorithm = "ed25519";
  k.key_path = "/keys/s2.pem";
  k.state = "pending";
  auto k2 = store_->AddDkimKey(k);
  ASSERT_TRUE(k2) << k2.error().message;
  EXPECT_FALSE(k2->active);
  EXPECT_GT(k2->id, k1->id);
  k.domain = "a.example";
  k.selector = "s1";
  k.key_path = "/keys/a-s1.pem";
  k.state = "active";
  auto k3 = store_->AddDkimKey(k);
  ASSERT_TRUE(k3) << k3.error().message;
  k.domain = "shop.example";
  k.selector = "s1";
  EXPECT_FALSE(store_->AddDkimKey(k)) << "a selector is used once per domain";

  // By domain (any case): its keys, oldest first, whatever their state. All: by domain name, then oldest.
  const std::vector<std::string> shop_keys = {"shop.example shop s1 rsa /keys/s1.pem active active 0",
                                              "shop.example shop s2 ed25519 /keys/s2.pem pending inactive 0"};
  EXPECT_EQ(KeyLines(store_->ListDkimKeys("Shop.EXAMPLE")), shop_keys);
  EXPECT_EQ(KeyLines(store_->ListDkimKeys("")),
            (std::vector<std::string>{"a.example other s1 ed25519 /keys/a-s1.pem active active 0", shop_keys[0], shop_keys[1]}));
  EXPECT_EQ(KeyLines(store_->ListDkimKeys("none.example")), std::vector<std::string>{});
  auto listed = store_->ListDkimKeys("shop.example");
  ASSERT_TRUE(listed && listed->size() == 2);
  EXPECT_EQ(listed->at(0).id, k1->id);
  EXPECT_EQ(listed->at(0).created_at, k1->created_at);
  EXPECT_EQ(listed->at(1).id, k2->id);

  // Rotation: s2 pending → active, s1 active → retiring (until retire_at) → retired.
  const int64_t retire_at = NowMicros() + 2 * kDay;
  EXPECT_OUTCOME(store_->SetDkimKeyState(k2->id, "active", 0), "ok");
  EXPECT_OUTCOME(store_->SetDkimKeyState(k1->id, "retiring", retire_at), "ok");
  const std::string at = std::to_string(retire_at);
  EXPECT_EQ(KeyLines(store_->ListDkimKeys("shop.example")),
            (std::vector<std::string>{"shop.example shop s1 rsa /keys/s1.pem retiring inactive " + at,
                                      "shop.example shop s2 ed25519 /keys/s2.pem active active 0"}));
  EXPECT_OUTCOME(store_->SetDkimKeyState(k1->id, "retired", retire_at), "ok");
  EXPECT_EQ(KeyLines(store_->ListDkimKeys("shop.example")).front(),
            "shop.example shop s1 rsa /keys/s1.pem retired inactive " + at);
  EXPECT_OUTCOME(store_->SetDkimKeyState(k3->id + 1000, "active", 0), "not_found");
}

// ---------------------------------------------------------------------------------------------------
// Idempotency keys

std::string Describe(const Result<std::optional<Store::IdempotentResponse>>& r) {
  if (!r) return "error: " + r.error().message;
  const auto& found = r.value();
  if (!found) return "none";
  return found->request_hash + " " + std::to_string(found->status) + " " + found->body;
}

TEST_P(StoreBackendTest, IdempotencyKeysAreSavedReplacedAndExpired) {
  const int64_t t0 = NowMicros();
  ASSERT_TRUE(store_->SaveIdempotent("shop", "k1", {"hash1", 202, R"({"id":"m1"})"}, 0));
  const int64_t t1 = NowMicros();
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k1", t0)), R"(hash1 202 {"id":"m1"})");
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k1", 0)), R"(hash1 202 {"id":"m1"})");
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k1", t1 + 1)), "none") << "saved before not_before";
  EXPECT_EQ(Describe(store_->FindIdempotent("other", "k1", 0)), "none") << "keys are per account";
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "K1", 0)), "none") << "keys are exact";
  ASSERT_TRUE(store_->SaveIdempotent("other", "k1", {"hash-o", 200, "{}"}, 0));
  EXPECT_EQ(Describe(store_->FindIdempotent("other", "k1", 0)), "hash-o 200 {}");

  // Saved again: replaced, with a new time.
  const int64_t t2 = NowMicros();
  ASSERT_TRUE(store_->SaveIdempotent("shop", "k1", {"hash2", 422, "invalid"}, 0));
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k1", t2)), "hash2 422 invalid");
  EXPECT_EQ(Describe(store_->FindIdempotent("other", "k1", 0)), "hash-o 200 {}");

  // expire_before removes every account's older rows, and keeps younger ones and the row it saves.
  const int64_t t3 = NowMicros();
  ASSERT_TRUE(store_->SaveIdempotent("shop", "k4", {"hash4", 200, "four"}, 0));
  ASSERT_TRUE(store_->SaveIdempotent("shop", "k5", {"hash5", 200, "five"}, t3));
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k1", 0)), "none");
  EXPECT_EQ(Describe(store_->FindIdempotent("other", "k1", 0)), "none");
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k4", 0)), "hash4 200 four");
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k5", 0)), "hash5 200 five");
  ASSERT_TRUE(store_->SaveIdempotent("shop", "k6", {"hash6", 201, "six"}, NowMicros() + kDay));
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k4", 0)), "none");
  EXPECT_EQ(Describe(store_->FindIdempotent("shop", "k6", 0)), "hash6 201 six") << "saved after the purge";
}

// ---------------------------------------------------------------------------------------------------
// Accounts: defaults, flags, listing, names

TEST_P(StoreBackendTest, AccountDefaultsAreSetAndCleared) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  Account a = MustFind("shop");
  EXPECT_EQ(a.name, "shop");
  EXPECT_GT(a.id, 0);
  EXPECT_GT(a.created_at, 0);
  EXPECT_TRUE(a.send_dsn);
  EXPECT_TRUE(a.sandbox);
  struct Setting {
    const char* name;
    std::optional<bool> Account::*field;
  };
  const std::vector<Setting> settings = {{"track_opens", &Account::track_opens},
                                         {"track_clicks", &Account::track_clicks},
                                         {"list_unsubscribe", &Account::list_unsubscribe},
                                         {"refuse_suppressed", &Account::refuse_suppressed},
                                         {"test_mode", &Account::test_mode}};
  for (const auto& s : settings) EXPECT_EQ(a.*(s.field), std::nullopt) << s.name;
  for (const auto& s : settings) {
    for (std::optional<bool> value : {std::optional<bool>(true), std::optional<bool>(false), std::optional<bool>()}) {
      SCOPED_TRACE(std::string(s.name) + " = " + (value ? (*value ? "true" : "false") : "unset"));
      EXPECT_OUTCOME(store_->SetAccountDefault("shop", s.name, value), "ok");
      a = MustFind("shop");
      EXPECT_EQ(a.*(s.field), value);
      for (const auto& other : settings) {
        if (other.field != s.field) {
          EXPECT_EQ(a.*(other.field), std::nullopt) << other.name << " changed too";
        }
      }
    }
  }
  // All five at once, each with its own value.
  const std::vector<bool> values = {true, false, true, false, true};
  for (std::size_t i = 0; i < settings.size(); ++i)
    ASSERT_TRUE(store_->SetAccountDefault("shop", settings[i].name, values[i])) << settings[i].name;
  a = MustFind("shop");
  for (std::size_t i = 0; i < settings.size(); ++i)
    EXPECT_EQ(a.*(settings[i].field), std::optional<bool>(values[i])) << settings[i].name;
  for (const char* bad : {"track_everything", "", "sandbox", "send_dsn", "Track_Opens", "track_opens = 1, sandbox"})
    EXPECT_OUTCOME(store_->SetAccountDefault("shop", bad, true), "invalid_argument") << bad;
  EXPECT_OUTCOME(store_->SetAccountDefault("nobody", "track_opens", true), "not_found");
  EXPECT_TRUE(MustFind("shop").sandbox) << "no setting name reaches another column";

  // Sandbox and delivery status notifications.
  EXPECT_OUTCOME(store_->SetSandbox("shop", false), "ok");
  EXPECT_OUTCOME(store_->SetSendDsn("shop", false), "ok");
  a = MustFind("shop");
  EXPECT_FALSE(a.sandbox);
  EXPECT_FALSE(a.send_dsn);
  EXPECT_OUTCOME(store_->SetSendDsn("shop", true), "ok");
  a = MustFind("shop");
  EXPECT_FALSE(a.sandbox);
  EXPECT_TRUE(a.send_dsn);
  EXPECT_OUTCOME(store_->SetSandbox("shop", true), "ok");
  EXPECT_TRUE(MustFind("shop").sandbox);
  EXPECT_OUTCOME(store_->SetSandbox("nobody", false), "not_found");
  EXPECT_OUTCOME(store_->SetSendDsn("nobody", false), "not_found");
}

TEST_P(StoreBackendTest, AccountsAreListedByNameWithTheirSettings) {
  for (const char* name : {"zeta", "shop", "Alpha", "beta-2", "Zulu", "beta1", "beta"}) ASSERT_TRUE(store_->CreateAccount(name)) << name;
  ASSERT_TRUE(store_->SetSandbox("beta", false));
  ASSERT_TRUE(store_->SetAccountDefault("zeta", "test_mode", true));
  ASSERT_TRUE(store_->AddSenderDomain("shop", "shop.example"));
  auto listed = store_->ListAccounts();
  ASSERT_TRUE(listed) << listed.error().message;
  std::vector<std::string> names;
  for (const auto& a : *listed) names.push_back(a.name);
  // Byte order (SQLite's BINARY collation): capitals before small letters, '-' before digits. PostgreSQL
  // orders by the database's collation: the test server's (initdb under C.UTF-8) is byte order too; a
  // database made with a language collation (en_US.UTF-8) would list Zulu after shop and beta1 first.
  EXPECT_EQ(names, (std::vector<std::string>{"Alpha", "Zulu", "beta", "beta-2", "beta1", "shop", "zeta"}));
  ASSERT_EQ(listed->size(), 7u);
  EXPECT_FALSE(listed->at(2).sandbox);
  EXPECT_TRUE(listed->at(0).sandbox);
  EXPECT_EQ(listed->at(6).test_mode, std::optional<bool>(true));
  EXPECT_EQ(listed->at(5).sender_domains, std::vector<std::string>{"shop.example"});
}

TEST_P(StoreBackendTest, AccountNamesAndSenderDomainErrors) {
  for (const std::string& bad : {std::string(), std::string("has space"), std::string("a/b"), std::string("tab\there"),
                                std::string("new\nline"), std::string("cr\rhere"), std::string(65, 'a')})
    EXPECT_OUTCOME(store_->CreateAccount(bad), "invalid_argument") << "'" << bad << "'";
  EXPECT_OUTCOME(store_->CreateAccount(std::string(64, 'a')), "ok");
  auto listed = store_->ListAccounts();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u) << "no invalid name was stored";

  ASSERT_TRUE(store_->CreateAccount("shop"));
  ASSERT_TRUE(store_->AddSenderDomain("shop", "shop.example"));
  EXPECT_OUTCOME(store_->RemoveSenderDomain("shop", "missing.example"), "not_found");
  EXPECT_OUTCOME(store_->RemoveSenderDomain("nobody", "shop.example"), "not_found");
  EXPECT_OUTCOME(store_->RemoveSenderDomain(std::string(64, 'a'), "shop.example"), "not_found") << "another account's";
  EXPECT_EQ(MustFind("shop").sender_domains, std::vector<std::string>{"shop.example"});
  // Sender domains are added case-insensitively (stored lower-cased); removing one is too.
  // DISAGREE: SQLite removes "MIXED.example" (sender_domains.domain is COLLATE NOCASE); PostgreSQL answers
  // not_found ("account 'shop' has no sender domain 'MIXED.example'": pg_store.cpp compares `domain = $2`
  // without lower-casing the argument) and keeps mixed.example.
  ASSERT_TRUE(store_->AddSenderDomain("shop", "Mixed.Example"));
  EXPECT_EQ(MustFind("shop").sender_domains, (std::vector<std::string>{"mixed.example", "shop.example"}));
  EXPECT_OUTCOME(store_->RemoveSenderDomain("shop", "MIXED.example"), "ok");
  EXPECT_EQ(MustFind("shop").sender_domains, std::vector<std::string>{"shop.example"});
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreBackendTest, ::testing::ValuesIn(testing::StoreBackends()), testing::BackendName);

// ---------------------------------------------------------------------------------------------------
// PostgreSQL: webhook secrets at rest, read with a connection of the test's own.

TEST(PgWebhookSecretsAtRest, StoredSealedAndReadDecrypted) {
  const auto dir = std::filesystem::temp_directory_path() / ("kurier-pg-whsec-test-" + std::to_string(::getpid()));
  const std::string url = pg::testing::DatabaseFor(dir);
  const std::string previous = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  std::string id;
  {
    auto s = OpenStore("postgresql", url, StoreOptions{kServerSecret});
    ASSERT_TRUE(s) << s.error().message;
    Webhook in = ShopWebhook({});
    in.previous_secret = previous;
    in.previous_secret_expires = NowMicros() + kHour;
    auto w = (*s)->CreateWebhook(in);
    ASSERT_TRUE(w) << w.error().message;
    id = w->id;
    auto found = (*s)->FindWebhook("shop", id);
    ASSERT_TRUE(found && *found);
    EXPECT_EQ((*found)->secret, kSecret);
    EXPECT_EQ((*found)->previous_secret, previous);
    EXPECT_EQ((*found)->secret_error, "");
  }
  auto c = pg::Connection::Open(url);
  auto r = c.Exec("SELECT secret, previous_secret FROM webhooks");
  ASSERT_EQ(r.Rows(), 1);
  for (int column : {0, 1}) {
    const std::string stored(r.Text(0, column));
    EXPECT_EQ(stored.rfind("enc:v1:", 0), 0u) << stored;
    EXPECT_EQ(stored.find("whsec_"), std::string::npos) << stored;
    EXPECT_EQ(stored.find(column == 0 ? kSecret.substr(6) : previous.substr(6)), std::string::npos) << stored;
  }
  // Another server key cannot open them.
  auto s = OpenStore("postgresql", url, StoreOptions{std::string(40, 'x')});
  ASSERT_TRUE(s) << s.error().message;
  auto found = (*s)->FindWebhook("shop", id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->secret, "");
  EXPECT_NE((*found)->secret_error.find("cannot be decrypted"), std::string::npos) << (*found)->secret_error;
}

}  // namespace
}  // namespace kurier::store
