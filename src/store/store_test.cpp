// Store tests: one body, run against every backend (SQLite today; PostgreSQL joins the list).
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <tuple>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/password.hpp"
#include "store/store_test_backends.hpp"

namespace kurier::store {
namespace {

class StoreTest : public ::testing::TestWithParam<testing::StoreBackend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-store-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    // Webhook secrets are kept encrypted with the node's secret; without one they cannot be written.
    auto s = GetParam().open(dir_, StoreOptions{std::string(32, 'k')});
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

// bounces.soft_limit (default 5 over 15 days): the fifth soft bounce of an address, counted over distinct
// messages within the window and since its last delivery, suppresses it with reason soft_bounce_limit.
TEST_P(StoreTest, SoftBouncesReachingTheLimitSuppress) {
  constexpr int64_t kDay = int64_t{86400} * 1000000;
  auto soft = [](const std::string& address, const std::string& message, int64_t day) {
    return Event{0, day * kDay, "bounced", message, "shop",
                 R"({"recipient":")" + address +
                     R"j(","classification":"soft","reason":"mailboxfull","reply":"452 4.2.2 full","rule":"status 4.2.2 (RFC 3463)"})j"};
  };
  auto delivered = [](const std::string& address, const std::string& message, int64_t day) {
    return Event{0, day * kDay, "delivered", message, "shop", R"({"recipient":")" + address + R"("})"};
  };
  auto suppression = [&](const std::string& address) -> std::optional<Suppression> {
    auto found = store_->FindSuppressions("shop", {address});
    EXPECT_TRUE(found);
    if (!found || found->empty()) return std::nullopt;
    return found->front();
  };
  auto append = [&](std::vector<Event> events) { ASSERT_TRUE(store_->AppendEvents(events)); };
  // Four soft bounces: not yet. The fifth (another append, mixed case): suppressed, naming count and window.
  for (int i = 1; i <= 4; ++i) append({soft("Five@x.example", "m" + std::to_string(i), i)});
  EXPECT_FALSE(suppression("five@x.example"));
  append({soft("five@X.example", "m5", 5)});
  auto s = suppression("five@x.example");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->reason, "soft_bounce_limit");
  EXPECT_EQ(s->detail, "5 soft bounces within 15 days without a delivery (bounces.soft_limit 5); last: "
                       "mailboxfull: 452 4.2.2 full; rule: status 4.2.2 (RFC 3463)");
  EXPECT_EQ(s->message_id, "m5");
  EXPECT_EQ(s->created_at, 5 * kDay);
  // A delivery in between starts the count again: 3 + delivery + 4 is not enough, one more is.
  std::vector<Event> events;
  for (int i = 1; i <= 3; ++i) events.push_back(soft("reset@x.example", "r" + std::to_string(i), i));
  events.push_back(delivered("reset@x.example", "r4", 4));
  for (int i = 5; i <= 8; ++i) events.push_back(soft("reset@x.example", "r" + std::to_string(i), i));
  append(events);
  EXPECT_FALSE(suppression("reset@x.example"));
  append({soft("reset@x.example", "r9", 9)});
  EXPECT_TRUE(suppression("reset@x.example"));
  // Outside the window: two bounces on days 1-2, four on days 20-23 (window from day 8): not enough.
  append({soft("old@x.example", "o1", 1), soft("old@x.example", "o2", 2)});
  for (int i = 20; i <= 23; ++i) append({soft("old@x.example", "o" + std::to_string(i), i)});
  EXPECT_FALSE(suppression("old@x.example"));
  append({soft("old@x.example", "o24", 24)});
  EXPECT_TRUE(suppression("old@x.example"));
  // One message reported five times (say, a bounce report and its copy) is one soft bounce; another
  // account's bounces of the same address are not this account's; hard and soft do not mix.
  for (int i = 1; i <= 5; ++i) append({soft("same@x.example", "s1", i)});
  EXPECT_FALSE(suppression("same@x.example"));
  for (int i = 1; i <= 4; ++i) {
    Event e = soft("shared@x.example", "a" + std::to_string(i), i);
    e.account = "other";
    append({e});
  }
  append({soft("shared@x.example", "b1", 5)});
  EXPECT_FALSE(suppression("shared@x.example"));
}

// The policy comes from StoreOptions (bounces.soft_limit, bounces.soft_window_days); limit 0 turns it off.
TEST_P(StoreTest, SoftBounceLimitFollowsItsOptions) {
  constexpr int64_t kDay = int64_t{86400} * 1000000;
  for (auto [limit, days, bounces_day, suppressed] : {std::tuple{0, 15, 1, false}, std::tuple{2, 3, 1, true},
                                                      std::tuple{2, 3, 4, false}}) {
    SCOPED_TRACE(std::to_string(limit) + " in " + std::to_string(days) + " days, every " + std::to_string(bounces_day) + " days");
    auto dir = dir_ / ("limit-" + std::to_string(limit) + "-" + std::to_string(bounces_day));
    auto opened = GetParam().open(dir, StoreOptions{std::string(32, 'k'), SoftBouncePolicy{limit, days}});
    ASSERT_TRUE(opened) << opened.error().message;
    auto& st = *opened.value();
    for (int i = 0; i < 6; ++i)
      ASSERT_TRUE(st.AppendEvents({Event{0, (10 + i * bounces_day) * kDay, "bounced", "m" + std::to_string(i), "shop",
                                         R"({"recipient":"a@x.example","classification":"soft","reason":"blocked"})"}}));
    auto found = st.FindSuppressions("shop", {"a@x.example"});
    ASSERT_TRUE(found);
    ASSERT_EQ(found->size(), suppressed ? 1u : 0u);
    if (suppressed)
      EXPECT_EQ(found->front().detail, "2 soft bounces within 3 days without a delivery (bounces.soft_limit 2); last: blocked");
  }
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

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::ValuesIn(testing::StoreBackends()), testing::BackendName);

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
      "ALTER TABLE accounts DROP COLUMN refuse_suppressed; ALTER TABLE accounts DROP COLUMN test_mode;"
      "DROP TABLE list_members; DROP TABLE lists; DROP TABLE contacts; DROP TABLE campaigns;"
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

// ---------------------------------------------------------------------------------------------------
// Webhook secrets at rest (issue 12, item 8): SQLite specifics, read with sqlite3 itself.

class WebhookSecretsAtRest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-whsec-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path db() const { return dir_ / "kurier.db"; }
  std::unique_ptr<Store> Open(std::string server_secret = kKey) {
    auto s = OpenStore("sqlite", db(), StoreOptions{std::move(server_secret)});
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(s.value()) : nullptr;
  }
  // Runs SQL on the file with a connection of its own; returns the first column of each row.
  std::vector<std::string> Sql(const std::string& sql) {
    sqlite3* h = nullptr;
    EXPECT_EQ(sqlite3_open(db().c_str(), &h), SQLITE_OK);
    std::vector<std::string> out;
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(
                  h, sql.c_str(),
                  [](void* o, int, char** v, char**) {
                    static_cast<std::vector<std::string>*>(o)->push_back(v[0] ? v[0] : "");
                    return 0;
                  },
                  &out, &err),
              SQLITE_OK)
        << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(h);
    return out;
  }
  // Whether any file of the store (database, WAL, shared memory) holds `needle` anywhere.
  bool OnDisk(const std::string& needle) {
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (bytes.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  static inline const std::string kKey = std::string(32, 'k');
  static inline const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static inline const std::string kPrevious = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  std::filesystem::path dir_;
};

Webhook NewWebhook(const std::string& secret) {
  Webhook w;
  w.account = "shop";
  w.url = "https://hooks.example/";
  w.secret = secret;
  return w;
}

TEST_F(WebhookSecretsAtRest, StoredEncryptedAndReadDecrypted) {
  auto s = Open();
  auto w = s->CreateWebhook(NewWebhook(kSecret));
  ASSERT_TRUE(w) << w.error().message;
  // Rotation: the previous secret is stored too.
  w->previous_secret = kSecret;
  w->previous_secret_expires = NowMicros() + 3'600'000'000;
  w->secret = kPrevious;
  ASSERT_TRUE(s->UpdateWebhook(*w));
  for (const auto& v : Sql("SELECT secret || ' ' || previous_secret FROM webhooks")) {
    EXPECT_EQ(v.rfind("enc:v1:", 0), 0u) << v;
    EXPECT_NE(v.find(" enc:v1:"), std::string::npos) << v;
    EXPECT_EQ(v.find("whsec_"), std::string::npos) << v;
  }
  auto found = s->FindWebhook("shop", w->id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->secret, kPrevious);
  EXPECT_EQ((*found)->previous_secret, kSecret);
  EXPECT_EQ((*found)->secret_error, "");
  auto listed = s->ListWebhooks("shop");
  ASSERT_TRUE(listed && listed->size() == 1);
  EXPECT_EQ(listed->front().secret, kPrevious);
  ASSERT_TRUE(s->AppendEvents({Event{0, 0, "delivered", "m1", "shop", "{}"}}));
  auto due = s->DueWebhookDeliveries(NowMicros() + 1, 10);
  ASSERT_TRUE(due && due->size() == 1);
  EXPECT_EQ(due->front().webhook.LiveSecrets(NowMicros()), (std::vector<std::string>{kPrevious, kSecret}));
  s.reset();
  EXPECT_FALSE(OnDisk("whsec_")) << "no webhook secret in clear in any file of the store";
}

TEST_F(WebhookSecretsAtRest, DamagedRowFailsThatWebhookOnlyAndRotationHealsIt) {
  auto s = Open();
  auto good = s->CreateWebhook(NewWebhook(kSecret));
  auto bad = s->CreateWebhook(NewWebhook(kPrevious));
  ASSERT_TRUE(good && bad);
  // Damage one character of the ciphertext of one row, with another connection.
  Sql("UPDATE webhooks SET secret = substr(secret, 1, 20) || CASE substr(secret, 21, 1) WHEN 'A' THEN 'B' ELSE 'A' END "
      "|| substr(secret, 22) WHERE id = '" + bad->id + "'");
  auto found = s->FindWebhook("shop", bad->id);
  ASSERT_TRUE(found && *found);
  const Webhook& w = **found;
  EXPECT_EQ(w.secret, "");
  EXPECT_NE(w.secret_error.find("webhook " + bad->id + ": its stored secret cannot be decrypted: the encrypted value "
                                "does not authenticate"),
            std::string::npos)
      << w.secret_error;
  EXPECT_NE(w.secret_error.find("POST /v1/webhooks/" + bad->id + "/rotate-secret"), std::string::npos) << w.secret_error;
  // The account's other webhook, and the listing, still work.
  auto listed = s->ListWebhooks("shop");
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& l : *listed) EXPECT_EQ(l.secret, l.id == good->id ? kSecret : "");
  // An edit that does not touch the secret keeps what is stored (no empty secret is sealed over it).
  const auto before = Sql("SELECT secret FROM webhooks WHERE id = '" + bad->id + "'");
  Webhook edited = w;
  edited.url = "https://hooks.example/v2";
  ASSERT_TRUE(s->UpdateWebhook(edited));
  EXPECT_EQ(Sql("SELECT secret FROM webhooks WHERE id = '" + bad->id + "'"), before);
  // A new secret (what rotate-secret does) heals it.
  edited.secret = kSecret;
  edited.secret_error.clear();
  ASSERT_TRUE(s->UpdateWebhook(edited));
  auto healed = s->FindWebhook("shop", bad->id);
  ASSERT_TRUE(healed && *healed);
  EXPECT_EQ((*healed)->secret, kSecret);
  EXPECT_EQ((*healed)->secret_error, "");
}

TEST_F(WebhookSecretsAtRest, SealedValueMovedToAnotherRowDoesNotOpen) {
  auto s = Open();
  auto a = s->CreateWebhook(NewWebhook(kSecret));
  auto b = s->CreateWebhook(NewWebhook(kPrevious));
  ASSERT_TRUE(a && b);
  Sql("UPDATE webhooks SET secret = (SELECT secret FROM webhooks WHERE id = '" + a->id + "') WHERE id = '" + b->id + "'");
  auto found = s->FindWebhook("shop", b->id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->secret, "");
  EXPECT_NE((*found)->secret_error.find("does not authenticate"), std::string::npos) << (*found)->secret_error;
}

TEST_F(WebhookSecretsAtRest, AnotherServerSecretOrNoneCannotReadThem) {
  std::string id;
  {
    auto s = Open();
    auto w = s->CreateWebhook(NewWebhook(kSecret));
    ASSERT_TRUE(w);
    id = w->id;
  }
  {
    auto s = Open(std::string(32, 'x'));  // secret.key replaced
    auto found = s->FindWebhook("shop", id);
    ASSERT_TRUE(found && *found);
    EXPECT_EQ((*found)->secret, "");
    EXPECT_NE((*found)->secret_error.find("another server.secret_file"), std::string::npos) << (*found)->secret_error;
  }
  auto s = Open("");  // a tool that did not load the secret
  auto found = s->FindWebhook("shop", id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->secret, "");
  EXPECT_NE((*found)->secret_error.find("has not loaded server.secret_file"), std::string::npos) << (*found)->secret_error;
  auto created = s->CreateWebhook(NewWebhook(kSecret));
  ASSERT_FALSE(created) << "without the key nothing may be stored in clear";
  EXPECT_NE(created.error().message.find("server.secret_file"), std::string::npos) << created.error().message;
  EXPECT_EQ(Sql("SELECT count(*) FROM webhooks"), std::vector<std::string>{"1"});
}

// A database from before encryption at rest: its plaintext secrets are encrypted when a store with the
// server key opens it, and no copy of them stays in the file.
TEST_F(WebhookSecretsAtRest, PlaintextSecretsOfAnOlderKurierAreEncryptedOnOpen) {
  Open("").reset();  // schema, no key
  Sql("INSERT INTO webhooks(id, account, url, secret, previous_secret, previous_secret_expires, created_at) VALUES "
      "('wh_old1', 'shop', 'https://hooks.example/', '" + kSecret + "', '" + kPrevious + "', 9999999999999999, 1), "
      "('wh_old2', 'shop', 'https://hooks.example/', '" + kPrevious + "', '', 0, 2)");
  ASSERT_TRUE(OnDisk(kSecret)) << "the test must start from plaintext on disk";
  {
    auto s = Open("");  // without the key: left as it is, and still usable
    auto w = s->FindWebhook("shop", "wh_old1");
    ASSERT_TRUE(w && *w);
    EXPECT_EQ((*w)->secret, kSecret);
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM webhooks WHERE secret LIKE 'whsec_%'"), std::vector<std::string>{"2"});
  auto s = Open();
  EXPECT_EQ(Sql("SELECT count(*) FROM webhooks WHERE substr(secret, 1, 7) = 'enc:v1:'"), std::vector<std::string>{"2"});
  EXPECT_EQ(Sql("SELECT count(*) FROM webhooks WHERE substr(previous_secret, 1, 7) = 'enc:v1:'"), std::vector<std::string>{"1"});
  EXPECT_EQ(Sql("SELECT previous_secret FROM webhooks WHERE id = 'wh_old2'"), std::vector<std::string>{""});
  auto w1 = s->FindWebhook("shop", "wh_old1");
  auto w2 = s->FindWebhook("shop", "wh_old2");
  ASSERT_TRUE(w1 && *w1 && w2 && *w2);
  EXPECT_EQ((*w1)->secret, kSecret);
  EXPECT_EQ((*w1)->previous_secret, kPrevious);
  EXPECT_EQ((*w2)->secret, kPrevious);
  EXPECT_EQ((*w2)->previous_secret, "");
  s.reset();
  EXPECT_FALSE(OnDisk("whsec_")) << "the plaintext must not stay in free pages or the WAL";
  // Opening again changes nothing (the pass is idempotent).
  const auto sealed = Sql("SELECT secret FROM webhooks ORDER BY id");
  Open().reset();
  EXPECT_EQ(Sql("SELECT secret FROM webhooks ORDER BY id"), sealed);
}

}  // namespace
}  // namespace kurier::store
