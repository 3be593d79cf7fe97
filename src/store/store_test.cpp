// Store tests: one body, run against every backend (SQLite today; PostgreSQL joins the list).
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <tuple>

#include "common/encoding.hpp"
#include "store/password.hpp"

namespace kurier::store {
namespace {

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-store-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto s = OpenStore(GetParam(), dir_ / "kurier.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s.value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, AccountsAndSenderDomains) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  auto dup = store_->CreateAccount("shop");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(store_->CreateAccount("has space"));
  ASSERT_TRUE(store_->AddSenderDomain("shop", "Shop.Example"));
  ASSERT_TRUE(store_->AddSenderDomain("shop", "shop.example"));  // idempotent, case-insensitive
  ASSERT_TRUE(store_->AddSenderDomain("shop", "other.example"));
  auto a = store_->FindAccount("shop");
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->sender_domains, (std::vector<std::string>{"other.example", "shop.example"}));
  ASSERT_TRUE(store_->RemoveSenderDomain("shop", "other.example"));
  EXPECT_FALSE(store_->RemoveSenderDomain("shop", "other.example"));
  EXPECT_FALSE(store_->AddSenderDomain("nobody", "x.example"));
  auto missing = store_->FindAccount("nobody");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_P(StoreTest, CredentialsAreHashedAndRemovedWithTheirAccount) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  auto hash = HashPassword("s3cret");
  ASSERT_TRUE(hash);
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  ASSERT_TRUE(store_->AddSmtpCredential("shop", "wp", hash.value()));
  EXPECT_FALSE(store_->AddSmtpCredential("shop", "wp", hash.value()));
  auto c = store_->FindSmtpCredential("wp");
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->account, "shop");
  EXPECT_TRUE(VerifyPassword((*c)->password_hash, "s3cret"));
  EXPECT_FALSE(VerifyPassword((*c)->password_hash, "s3cret "));
  ASSERT_TRUE(store_->RemoveAccount("shop"));
  auto gone = store_->FindSmtpCredential("wp");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

TEST_P(StoreTest, ApiKeysAndEvents) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  ApiKey k;
  k.account = "shop";
  k.name = "ci";
  k.prefix = "kr_abc";
  k.key_hash = "00ff";
  k.scopes = "send read";
  auto created = store_->CreateApiKey(k);
  ASSERT_TRUE(created);
  ASSERT_TRUE(store_->RevokeApiKey(created->id));
  EXPECT_FALSE(store_->RevokeApiKey(created->id));
  auto keys = store_->ListApiKeys("shop");
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_TRUE(keys->front().revoked);
  EXPECT_TRUE(keys->front().key_hash.empty()) << "listings never carry the hash";

  ASSERT_TRUE(store_->AppendEvents({Event{0, 1, "accepted", "m1", "shop", R"({"a":1})"},
                                    Event{0, 2, "auth_failed", "", "shop", "{}"},
                                    Event{0, 3, "accepted", "m2", "shop", "{}"}}));
  EventFilter f;
  f.type = "accepted";
  auto accepted = store_->ListEvents(f);
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->size(), 2u);
  EXPECT_EQ(accepted->at(0).message_id, "m1");
  EXPECT_EQ(accepted->at(0).data, R"({"a":1})");
  f = EventFilter{};
  f.message_id = "m2";
  auto m2 = store_->ListEvents(f);
  ASSERT_TRUE(m2);
  ASSERT_EQ(m2->size(), 1u);
}

// Every filter of ListEvents, alone and combined, against one small log (ids 1..6 in insertion order).
TEST_P(StoreTest, EventFiltersSelectTheRightEvents) {
  ASSERT_TRUE(store_->AppendEvents({
      Event{0, 100, "accepted", "m1", "shop",
            R"({"mail_from":"News@Shop.example","recipients":["Ann@x.example","bob@y.example"],"tags":["spring"]})"},
      Event{0, 200, "delivered", "m1", "shop", R"({"recipient":"ann@x.example","mail_from":"news@shop.example","tags":["spring"]})"},
      Event{0, 300, "deferred", "m1", "shop", R"({"recipient":"bob@y.example","tags":["spring"]})"},
      Event{0, 400, "accepted", "m2", "other", R"({"mail_from":"a@other.example","recipients":["ann@x.example"]})"},
      Event{0, 500, "clicked", "m1", "shop", R"({"recipient":"Ann@X.example","tags":["spring","promo"]})"},
      Event{0, 600, "auth_failed", "", "shop", "{}"},
  }));
  auto all = store_->ListEvents(EventFilter{});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 6u);
  const int64_t first = all->front().id;
  struct Case {
    const char* name;
    EventFilter filter;
    std::vector<int64_t> want;  ///< offsets from the first id
  };
  auto F = [](auto&& set) {
    EventFilter f;
    set(f);
    return f;
  };
  const std::vector<Case> cases = {
      {"type", F([](auto& f) { f.type = "accepted"; }), {0, 3}},
      {"message", F([](auto& f) { f.message_id = "m1"; }), {0, 1, 2, 4}},
      {"account", F([](auto& f) { f.account = "other"; }), {3}},
      {"account and type", F([](auto& f) { f.account = "shop"; f.type = "accepted"; }), {0}},
      {"since and until", F([](auto& f) { f.since = 200; f.until = 500; }), {1, 2, 3}},
      {"sender, any case", F([](auto& f) { f.sender = "news@shop.EXAMPLE"; }), {0, 1}},
      {"recipient: own events and accepted lists", F([](auto& f) { f.recipient = "ANN@x.example"; }), {0, 1, 3, 4}},
      {"tag", F([](auto& f) { f.tag = "promo"; }), {4}},
      {"limit", F([](auto& f) { f.limit = 2; }), {0, 1}},
      {"newest first with limit", F([](auto& f) { f.newest_first = true; f.limit = 2; }), {5, 4}},
      {"combined", F([](auto& f) { f.account = "shop"; f.message_id = "m1"; f.tag = "spring"; f.since = 150; }), {1, 2, 4}},
      {"nothing matches", F([](auto& f) { f.message_id = "m9"; }), {}},
  };
  for (const auto& c : cases) {
    auto got = store_->ListEvents(c.filter);
    ASSERT_TRUE(got) << c.name;
    std::vector<int64_t> ids;
    for (const auto& e : *got) ids.push_back(e.id - first);
    EXPECT_EQ(ids, c.want) << c.name;
  }
  // Cursors: after an id (oldest first) and before an id (newest first).
  EventFilter after;
  after.after_id = first + 3;
  auto a = store_->ListEvents(after);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ(a->front().id, first + 4);
  EventFilter before;
  before.before_id = first + 2;
  before.newest_first = true;
  auto b = store_->ListEvents(before);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ(b->front().id, first + 1);
}

// Which events suppress their recipient, in the same append.
TEST_P(StoreTest, HardBouncesComplaintsAndUnsubscribesSuppress) {
  struct Case {
    const char* type;
    const char* data;
    bool suppressed;
    const char* reason;
    const char* detail;
  };
  const std::vector<Case> cases = {
      {"bounced", R"({"recipient":"Hard@X.example","classification":"hard","reason":"userunknown","reply":"550 5.1.1 no such user"})",
       true, "hard_bounce", "userunknown: 550 5.1.1 no such user"},
      {"bounced", R"({"recipient":"soft@x.example","classification":"soft","reason":"mailboxfull"})", false, "", ""},
      {"complained", R"({"recipient":"angry@x.example"})", true, "complaint", ""},
      {"unsubscribed", R"({"recipient":"gone@x.example","method":"one-click"})", true, "unsubscribe", ""},
      {"delivered", R"({"recipient":"fine@x.example"})", false, "", ""},
      {"complained", R"({"feedback":"no recipient"})", false, "", ""},
  };
  for (const auto& c : cases) ASSERT_TRUE(store_->AppendEvents({Event{0, 0, c.type, "m1", "shop", c.data}})) << c.type;
  for (const auto& c : cases) {
    std::string data = c.data;
    auto at = data.find("\"recipient\":\"");
    if (at == std::string::npos) continue;
    at += 13;
    std::string address = data.substr(at, data.find('"', at) - at);
    auto found = store_->FindSuppressions("shop", {address});
    ASSERT_TRUE(found);
    ASSERT_EQ(found->size(), c.suppressed ? 1u : 0u) << address;
    if (!c.suppressed) continue;
    EXPECT_EQ(found->front().address, ToLowerAscii(address));
    EXPECT_EQ(found->front().reason, c.reason);
    EXPECT_EQ(found->front().detail, c.detail);
    EXPECT_EQ(found->front().message_id, "m1");
  }
  // An event without an account suppresses nothing.
  ASSERT_TRUE(store_->AppendEvents({Event{0, 0, "complained", "m2", "", R"({"recipient":"anon@x.example"})"}}));
  auto anon = store_->FindSuppressions("", {"anon@x.example"});
  ASSERT_TRUE(anon);
  EXPECT_TRUE(anon->empty());
}

// FindSuppressions answers a whole list at once: any case, the account's entry before the global one,
// unknown and odd addresses simply not found.
TEST_P(StoreTest, FindSuppressionsAnswersAListAtOnce) {
  for (const auto& [account, address, reason] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"shop", "a@x.example", "manual"},
                                                                      {"", "a@x.example", "complaint"},
                                                                      {"", "g@x.example", "hard_bounce"},
                                                                      {"other", "o@x.example", "manual"},
                                                                      {"shop", "q\"uote@x.example", "manual"}})
    ASSERT_TRUE(store_->AddSuppression(Suppression{account, address, reason, "", "", 0}));
  auto found = store_->FindSuppressions(
      "shop", {"A@X.example", "g@x.example", "o@x.example", "nobody@x.example", "q\"uote@x.example", "back\\slash@x"});
  ASSERT_TRUE(found) << found.error().message;
  std::vector<std::string> got;
  for (const auto& f : *found) got.push_back(f.address + "/" + (f.account.empty() ? "global" : f.account) + "/" + f.reason);
  EXPECT_EQ(got, (std::vector<std::string>{"a@x.example/shop/manual", "g@x.example/global/hard_bounce",
                                           "q\"uote@x.example/shop/manual"}));
  auto none = store_->FindSuppressions("shop", {});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// Events reach the outbox of the account's enabled webhooks that want their type, and nothing else.
TEST_P(StoreTest, EventsFanOutToTheWebhooksThatWantThem) {
  Webhook all, clicks, off, other;
  all.account = clicks.account = off.account = "shop";
  other.account = "other";
  all.url = clicks.url = off.url = other.url = "https://hooks.example/";
  all.secret = clicks.secret = off.secret = other.secret = "s";
  clicks.event_types = {"clicked"};
  off.enabled = false;
  for (auto* w : {&all, &clicks, &off, &other}) {
    auto c = store_->CreateWebhook(*w);
    ASSERT_TRUE(c) << c.error().message;
    *w = *c;
  }
  ASSERT_TRUE(store_->AppendEvents({Event{0, 0, "delivered", "m1", "shop", "{}"}, Event{0, 0, "clicked", "m1", "shop", "{}"},
                                    Event{0, 0, "delivered", "m3", "nobody", "{}"}}));
  auto count = [&](const Webhook& w) {
    auto rows = store_->ListWebhookDeliveries(w.id, 100);
    EXPECT_TRUE(rows);
    return rows ? rows->size() : 0u;
  };
  EXPECT_EQ(count(all), 2u);
  EXPECT_EQ(count(clicks), 1u);
  EXPECT_EQ(count(off), 0u);
  EXPECT_EQ(count(other), 0u);
}

// Retention removes old events (oldest ids first) but keeps those that webhook deliveries still need.
TEST_P(StoreTest, PurgeKeepsYoungEventsAndPendingDeliveries) {
  Webhook w;
  w.account = "shop";
  w.url = "https://hooks.example/";
  w.secret = "s";
  w.event_types = {"bounced"};
  ASSERT_TRUE(store_->CreateWebhook(w));
  ASSERT_TRUE(store_->AppendEvents({Event{0, 10, "delivered", "m1", "shop", "{}"}, Event{0, 20, "bounced", "m1", "shop", "{}"},
                                    Event{0, 30, "delivered", "m2", "shop", "{}"}, Event{0, 40, "delivered", "m3", "shop", "{}"}}));
  auto purged = store_->PurgeEvents(35);
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(*purged, 2) << "the two old deliveries go; the bounce waits for its webhook";
  auto left = store_->ListEvents(EventFilter{});
  ASSERT_TRUE(left);
  std::vector<std::string> kept;
  for (const auto& e : *left) kept.push_back(e.type + "@" + std::to_string(e.time));
  EXPECT_EQ(kept, (std::vector<std::string>{"bounced@20", "delivered@40"}));
  auto none = store_->PurgeEvents(1000);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 1);
  auto empty = store_->PurgeEvents(1000);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite"));

// A store made by an older kurier (schema 7: suppression trigger, time indexes, no account defaults)
// upgrades in place, and its events, suppressions and accounts work as in a new one.
TEST(SqliteStoreUpgrade, Schema7UpgradesInPlace) {
  const auto dir = std::filesystem::temp_directory_path() / ("kurier-upgrade-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    auto s = OpenStore("sqlite", dir / "kurier.db");
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE((*s)->AppendEvents({Event{0, 5, "delivered", "m1", "shop", R"({"recipient":"a@x.example"})"}}));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "kurier.db").c_str(), &db), SQLITE_OK);
  const char* back_to_7 =
      "CREATE INDEX events_type_time ON events(type, time); CREATE INDEX events_time ON events(time);"
      "CREATE TRIGGER events_suppress AFTER INSERT ON events WHEN 0 BEGIN SELECT 1; END;"
      "ALTER TABLE accounts DROP COLUMN track_opens; ALTER TABLE accounts DROP COLUMN track_clicks;"
      "ALTER TABLE accounts DROP COLUMN list_unsubscribe; DROP TABLE journal_positions;"
      "DELETE FROM schema_migrations WHERE version > 7;";
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, back_to_7, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);
  auto s = OpenStore("sqlite", dir / "kurier.db");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE((*s)->AppendEvents({Event{0, 6, "unsubscribed", "m1", "shop", R"({"recipient":"a@x.example"})"}}));
  auto events = (*s)->ListEvents(EventFilter{});
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 2u);
  auto found = (*s)->FindSuppressions("shop", {"a@x.example"});
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), 1u);
  // Migration 9: account send defaults, unset until set.
  ASSERT_TRUE((*s)->CreateAccount("shop"));
  ASSERT_TRUE((*s)->SetAccountDefault("shop", "track_clicks", true));
  EXPECT_FALSE((*s)->SetAccountDefault("shop", "track_everything", true));
  auto acc = (*s)->FindAccount("shop");
  ASSERT_TRUE(acc && *acc);
  EXPECT_EQ((*acc)->track_clicks, std::optional<bool>(true));
  EXPECT_EQ((*acc)->track_opens, std::nullopt);
  s->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kurier::store
