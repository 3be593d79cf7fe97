// Spool tests: one body per behaviour, run against every spool storage backend (spool_test_backends.hpp).
#include "spool/spool.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <map>

#include "common/ids.hpp"
#include "spool/message_state.hpp"
#include "spool/spool_test_backends.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/store.hpp"

namespace kurier::spool {
namespace {

class SpoolTest : public ::testing::TestWithParam<testing::SpoolBackend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-spool-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Result<std::unique_ptr<Spool>> Open(SpoolOptions options, store::Store* events) {
    auto storage = GetParam().open(dir_, options.fsync);
    if (!storage) return storage.error();
    return Spool::Open(std::move(storage.value()), options, events);
  }
  static SpoolMessage Message(int i) {
    SpoolMessage m;
    m.id = NewQueueId();
    m.received_at = NowMicros();
    m.account = "default";
    m.client_ip = "127.0.0.1";
    m.mail_from = "a@example.com";
    m.recipients = {"b" + std::to_string(i) + "@example.net", "c@example.net"};
    m.body_type = "8BITMIME";
    m.data = "Subject: " + std::to_string(i) + "\r\n\r\n\xc3\xa9\x00 body\r\n";
    m.data.push_back('\0');  // binary-safe
    return m;
  }
  std::filesystem::path dir_;
};

TEST_P(SpoolTest, ConcurrentSubmitsAreGroupCommittedAndSurviveReopen) {
  auto store = store::OpenStore("sqlite", dir_ / "kurier.db");
  ASSERT_TRUE(store);
  std::vector<SpoolMessage> sent;
  {
    auto sp = Open(SpoolOptions{true, 64}, store.value().get());
    ASSERT_TRUE(sp) << sp.error().message;
    std::vector<std::future<Result<std::string>>> done;
    for (int i = 0; i < 200; ++i) {
      auto p = std::make_shared<std::promise<Result<std::string>>>();
      done.push_back(p->get_future());
      sent.push_back(Message(i));
      sp.value()->Submit(sent.back(), [p](Result<std::string> r) { p->set_value(std::move(r)); });
    }
    for (size_t i = 0; i < done.size(); ++i) {
      auto r = done[i].get();
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r.value(), sent[i].id);
    }
    auto st = sp.value()->stats();
    EXPECT_EQ(st.messages, 200u);
    EXPECT_LT(st.commits, 200u) << "submissions that arrive together share a commit";
    EXPECT_LE(st.largest_batch, 64u);
  }
  // A new process opening the spool sees every acknowledged message exactly once, byte for byte.
  auto sp = Open(SpoolOptions{true, 64}, nullptr);
  ASSERT_TRUE(sp);
  auto list = sp.value()->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), sent.size());
  for (const auto& m : sent) {
    auto got = sp.value()->Get(m.id);
    ASSERT_TRUE(got && *got);
    EXPECT_EQ((*got)->data, m.data);
    EXPECT_EQ((*got)->recipients, m.recipients);
    EXPECT_EQ((*got)->size, m.data.size());
  }
  store::EventFilter f;
  f.type = "accepted";
  auto events = store.value()->ListEvents(f);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), sent.size());
}

TEST_P(SpoolTest, SubmitAfterStopFailsCleanly) {
  auto sp = Open(SpoolOptions{true, 8}, nullptr);
  ASSERT_TRUE(sp);
  sp.value()->Stop();
  bool failed = false;
  sp.value()->Submit(Message(1), [&](Result<std::string> r) { failed = !r.ok(); });
  EXPECT_TRUE(failed);
  auto n = sp.value()->Count();
  ASSERT_TRUE(n);
  EXPECT_EQ(n.value(), 0);
}

// Delivery results: events get their message's account and context, a message whose recipients are all
// final leaves the spool in the same commit, deletions and suspensions are kept.
TEST_P(SpoolTest, DeliveryResultsCarryContextAndFinishMessages) {
  auto store = store::OpenStore("sqlite", dir_ / "kurier.db");
  ASSERT_TRUE(store);
  auto sp = Open(SpoolOptions{false, 64}, store.value().get());
  ASSERT_TRUE(sp) << sp.error().message;
  Spool& spool = *sp.value();
  auto submit = [&](SpoolMessage m) {
    std::promise<Result<std::string>> p;
    auto f = p.get_future();
    spool.Submit(std::move(m), [&p](Result<std::string> r) { p.set_value(std::move(r)); });
    auto r = f.get();
    EXPECT_TRUE(r) << r.error().message;
  };
  SpoolMessage a = Message(1), b = Message(2), c = Message(3);
  a.account = "shop";
  a.tags = R"(["t1"])";
  a.metadata = R"({"k":"v"})";
  b.options = SendOptions{true, std::nullopt, false};
  for (const auto& m : {a, b, c}) submit(m);
  auto pending = spool.PendingRecipients();
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->size(), 6u);

  // a: both recipients final (it leaves); b: one deferred (it stays); c: deleted.
  spool.Update({RecipientUpdate{a.id, 0, "delivered", 1, 0, "250 ok"}, RecipientUpdate{a.id, 1, "bounced", 1, 0, "550 no"},
                RecipientUpdate{b.id, 0, "queued", 1, 123, "451 later"}},
               {store::Event{0, 0, "delivered", a.id, "", R"({"recipient":"b1@example.net"})"},
                store::Event{0, 0, "bounced", a.id, "", "{}"},
                store::Event{0, 0, "deferred", "unknown-id", "", "{}"}});
  spool.Delete(c.id, {});
  spool.SetSuspended("example.org", true);
  spool.SetSuspended("example.com", true);
  spool.SetSuspended("example.com", false);
  spool.Stop();

  auto left = spool.List();
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().id, b.id);
  ASSERT_EQ(left->front().states.size(), 2u);
  EXPECT_EQ(left->front().states[0].status, "queued");
  EXPECT_EQ(left->front().states[0].attempts, 1);
  EXPECT_EQ(left->front().states[0].next_attempt, 123);
  EXPECT_EQ(left->front().states[0].last_reply, "451 later");
  EXPECT_EQ(left->front().options, b.options);  // unset stays unset, false stays false
  EXPECT_FALSE(left->front().option_fields_in_data);
  auto gone = spool.Get(a.id);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  auto count = spool.Count();
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 1);
  auto suspended = spool.SuspendedDomains();
  ASSERT_TRUE(suspended);
  EXPECT_EQ(*suspended, (std::vector<std::string>{"example.org"}));

  store::EventFilter f;
  f.message_id = a.id;
  auto events = store.value()->ListEvents(f);
  ASSERT_TRUE(events);
  std::vector<std::string> got;
  for (const auto& e : *events) got.push_back(e.type + " " + e.account + " " + (e.type == "accepted" ? "" : e.data));
  EXPECT_EQ(got, (std::vector<std::string>{
                     "accepted shop ",
                     R"(delivered shop {"recipient":"b1@example.net","mail_from":"a@example.com","tags":["t1"],"metadata":{"k":"v"}})",
                     R"(bounced shop {"mail_from":"a@example.com","tags":["t1"],"metadata":{"k":"v"}})",
                 }));
  f.message_id = "unknown-id";
  auto unknown = store.value()->ListEvents(f);
  ASSERT_TRUE(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ(unknown->front().account, "");
  EXPECT_EQ(unknown->front().data, "{}");
  // The store's message-context lookup reads the same message back from its events.
  auto context = store.value()->FindMessageContext(a.id);
  ASSERT_TRUE(context && *context);
  EXPECT_EQ((*context)->account, "shop");
  EXPECT_EQ((*context)->recipients, a.recipients);
  EXPECT_EQ((*context)->tags, a.tags);
  EXPECT_GT((*context)->DeliveredAt("B1@example.net"), 0);
}

// `kurier queue list|status` count and page the queue in the storage: the states its query gives are the
// ones RecipientStatus/MessageStatus give the same messages read whole, the pages are the oldest first.
TEST_P(SpoolTest, QueueCountsAndPagesAgreeWithTheMessageStates) {
  auto sp = Open(SpoolOptions{false, 64}, nullptr);
  ASSERT_TRUE(sp) << sp.error().message;
  Spool& spool = *sp.value();
  const int64_t now = NowMicros();
  std::vector<SpoolMessage> sent;
  for (int i = 0; i < 7; ++i) {
    sent.push_back(Message(i));
    sent.back().received_at = now - (10 - i) * 1'000'000;  // the order of arrival: 0 first
  }
  sent[1].not_before = now + 3'600'000'000;  // scheduled
  sent[6].recipients = {"only@example.net"};
  for (const auto& m : sent) {
    std::promise<Result<std::string>> p;
    auto f = p.get_future();
    spool.Submit(m, [&p](Result<std::string> r) { p.set_value(std::move(r)); });
    ASSERT_TRUE(f.get());
  }
  spool.Update({RecipientUpdate{sent[2].id, 0, "queued", 1, now, "451 later"},  // deferred
                RecipientUpdate{sent[2].id, 1, "queued", 2, now, "451 later"},
                RecipientUpdate{sent[3].id, 0, "delivered", 1, 0, "250 ok"},  // mixed: delivered + queued
                RecipientUpdate{sent[4].id, 0, "queued", 1, now, "451 later"},  // mixed: deferred + queued
                RecipientUpdate{sent[5].id, 0, "suppressed", 0, 0, ""},  // mixed: suppressed + deferred
                RecipientUpdate{sent[5].id, 1, "queued", 1, now, "451 later"}},
               {});
  spool.Stop();

  auto all = spool.List();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), sent.size());
  std::map<std::string, int64_t, std::less<>> expected;
  std::vector<std::pair<std::string, std::string>> order;  // id, state, oldest first
  for (const auto& m : *all) {
    std::vector<std::string_view> states;
    for (const auto& st : m.states) states.push_back(RecipientStatus(st.status, st.attempts, m.not_before, now));
    std::string state(MessageStatus(states));
    ++expected[state];
    order.emplace_back(m.id, state);
  }
  EXPECT_EQ(expected, (std::map<std::string, int64_t, std::less<>>{{"queued", 2}, {"scheduled", 1}, {"deferred", 1}, {"mixed", 3}}));

  auto counts = spool.CountByState(now);
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->total, 7);
  EXPECT_EQ(counts->oldest, sent[0].received_at);
  for (const auto& state : MessageStates()) EXPECT_EQ(counts->by_state[state], expected[state]) << state;

  for (const auto& state : std::vector<std::string>{"", "queued", "scheduled", "deferred", "mixed", "delivered"}) {
    for (std::size_t limit : {std::size_t{0}, std::size_t{1}, std::size_t{2}}) {
      std::vector<std::string> want;
      for (const auto& [id, s] : order)
        if ((state.empty() || s == state) && (limit == 0 || want.size() < limit)) want.push_back(id);
      auto page = spool.ListPage(QueuePage{state, limit, now});
      ASSERT_TRUE(page) << page.error().message;
      std::vector<std::string> got;
      for (const auto& m : *page) got.push_back(m.id);
      EXPECT_EQ(got, want) << "state '" << state << "', limit " << limit;
      if (!page->empty()) {
        EXPECT_EQ(page->front().states.size(), page->front().recipients.size());
      }
    }
  }
  auto bare = spool.ListPage(QueuePage{"", 0, now, false});
  ASSERT_TRUE(bare);
  ASSERT_EQ(bare->size(), 7u);
  EXPECT_TRUE(bare->front().states.empty());
  // An hour later the scheduled message is due: queued.
  auto later = spool.CountByState(now + 3'700'000'000);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->by_state["scheduled"], 0);
  EXPECT_EQ(later->by_state["queued"], 3);
}

// A message spooled before the send options had columns (schema 4) still carries them as X-Kurier-*
// fields in its text: after the upgrade it says so, and delivery reads and removes them.
TEST(SqliteSpoolStorage, MessagesFromSchema4AreMarkedAsCarryingTheirFields) {
  const auto dir = std::filesystem::temp_directory_path() / ("kurier-spool-v4-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(SqliteSpoolStorage::Open(dir / "spool.db", false));  // today's schema, then back to 4 by hand
  {
    auto db = store::sqlite::Db::Open(dir / "spool.db", store::sqlite::Durability::kOff);
    ASSERT_TRUE(db);
    auto r = db.value()->Exec(
        "ALTER TABLE messages DROP COLUMN track_opens; ALTER TABLE messages DROP COLUMN track_clicks;"
        "ALTER TABLE messages DROP COLUMN list_unsubscribe; ALTER TABLE messages DROP COLUMN option_fields_in_data;"
        "ALTER TABLE messages DROP COLUMN test_mode; DROP TABLE campaign_sends; DELETE FROM schema_migrations WHERE version >= 5;"
        "INSERT INTO messages(id, received_at, account, credential, client_ip, helo, tls_version, tls_cipher, mail_from,"
        " body_type, smtputf8, size, data) VALUES('OLD1', 1, 'shop', 'user', '127.0.0.1', 'h', '', '', 'a@shop.test',"
        " '7BIT', 0, 40, 'X-Kurier-Track-Opens: no\r\nSubject: s\r\n\r\nb\r\n')");
    ASSERT_TRUE(r) << r.error().message;
  }
  auto storage = SqliteSpoolStorage::Open(dir / "spool.db", false);
  ASSERT_TRUE(storage) << storage.error().message;
  auto old = storage.value()->Get("OLD1");
  ASSERT_TRUE(old && *old);
  EXPECT_TRUE((*old)->option_fields_in_data);
  EXPECT_EQ((*old)->options, SendOptions{});
  storage.value().reset();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Backends, SpoolTest, ::testing::ValuesIn(testing::SpoolBackends()), testing::BackendName);

}  // namespace
}  // namespace kurier::spool
