// pg_spool_storage_test.cpp - what matters to the spool on PostgreSQL beyond the bodies every backend
// runs (spool_test.cpp): a failed COMMIT acknowledges nothing, bytes survive exactly, batches bigger than
// one statement, delivery results applied in SQLite's order, and a newer schema refused. Against the real
// PostgreSQL 15 server of the test process (store/postgres/pg_test_server.hpp).
#include "spool/postgres/pg_spool_storage.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <set>

#include "common/ids.hpp"
#include "spool/message_state.hpp"
#include "spool/sqlite/sqlite_spool_storage.hpp"
#include "spool/spool.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/pg_test_server.hpp"

namespace kurier::spool {
namespace {

namespace pg = store::pg;

// The bytes of a string literal, NULs included (without the terminating one).
template <std::size_t N>
std::string Raw(const char (&text)[N]) {
  return std::string(text, N - 1);
}

class PgSpoolStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-pg-spool-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    url_ = pg::testing::DatabaseFor(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static SpoolMessage Message(const std::string& tag, std::vector<std::string> recipients) {
    SpoolMessage m;
    m.id = NewQueueId();
    m.received_at = NowMicros();
    m.account = "default";
    m.client_ip = "127.0.0.1";
    m.helo = "client.example";
    m.mail_from = "a@example.com";
    m.recipients = std::move(recipients);
    m.body_type = "8BITMIME";
    m.data = "Subject: " + tag + "\r\n\r\nbody\r\n";
    return m;
  }
  std::unique_ptr<PgSpoolStorage> OpenPg() {
    auto s = PgSpoolStorage::Open(url_);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(s.value()) : nullptr;
  }
  // One group commit of `messages` and then `changes` (if any), as the spool's committer runs it.
  static void Commit(SpoolStorage& s, const std::vector<const SpoolMessage*>& messages, const SpoolChanges& changes = {}) {
    auto b = s.Begin(!messages.empty());
    ASSERT_TRUE(b) << b.error().message;
    auto in = s.Insert(messages);
    ASSERT_TRUE(in) << in.error().message;
    auto ap = s.Apply(changes);
    ASSERT_TRUE(ap) << ap.error().message;
    auto r = s.Commit();
    ASSERT_TRUE(r) << r.error().message;
  }

  std::filesystem::path dir_;
  std::string url_;
};

// Forwards to a PgSpoolStorage; once armed, it ends the committer's server backend from another
// connection just before the next COMMIT of a batch with messages, and remembers that batch's ids.
class KillBeforeCommit final : public SpoolStorage {
 public:
  KillBeforeCommit(std::unique_ptr<SpoolStorage> inner, std::string url) : inner_(std::move(inner)), url_(std::move(url)) {}
  void Arm() { armed_ = true; }
  std::vector<std::string> Killed() {
    std::lock_guard l(mu_);
    return killed_;
  }
  std::string failure() {
    std::lock_guard l(mu_);
    return failure_;
  }

  Result<void> Begin(bool durable) override {
    batch_.clear();
    return inner_->Begin(durable);
  }
  Result<void> Insert(const std::vector<const SpoolMessage*>& messages) override {
    for (const auto* m : messages) batch_.push_back(m->id);
    return inner_->Insert(messages);
  }
  Result<std::optional<store::MessageContext>> Context(const std::string& id) override { return inner_->Context(id); }
  Result<void> Apply(const SpoolChanges& changes) override { return inner_->Apply(changes); }
  Result<void> Commit() override {
    if (!batch_.empty() && armed_.exchange(false)) {
      auto admin = pg::Connection::Open(url_);
      // The committer is the one connection of this database inside a transaction; wait for it to end.
      auto r = admin.Exec("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'");
      std::lock_guard l(mu_);
      if (r.Rows() != 1 || r.Text(0, 0) != "t") failure_ = "ended " + std::to_string(r.Rows()) + " backends, not 1";
      killed_ = batch_;
    }
    try {
      return inner_->Commit();
    } catch (const std::exception& e) {
      std::lock_guard l(mu_);
      failure_ = std::string("Commit threw: ") + e.what();
      throw;
    }
  }
  void Rollback() override { inner_->Rollback(); }
  Result<std::vector<RecipientState>> PendingRecipients() override { return inner_->PendingRecipients(); }
  Result<std::vector<SpoolMessage>> List(std::size_t limit) override { return inner_->List(limit); }
  Result<std::optional<SpoolMessage>> Get(const std::string& id) override { return inner_->Get(id); }
  Result<int64_t> Count() override { return inner_->Count(); }
  Result<QueueCounts> CountByState(int64_t now) override { return inner_->CountByState(now); }
  Result<std::vector<SpoolMessage>> ListPage(const QueuePage& page) override { return inner_->ListPage(page); }
  Result<std::vector<std::string>> SuspendedDomains() override { return inner_->SuspendedDomains(); }

 private:
  std::unique_ptr<SpoolStorage> inner_;
  std::string url_;
  std::atomic<bool> armed_{false};
  std::vector<std::string> batch_;  // committer thread only
  std::mutex mu_;
  std::vector<std::string> killed_;
  std::string failure_;
};

TEST_F(PgSpoolStorageTest, AFailedCommitAcknowledgesNothingAndLosesNothingCommitted) {
  auto pg_storage = OpenPg();
  ASSERT_TRUE(pg_storage);
  auto* hook = new KillBeforeCommit(std::move(pg_storage), url_);
  auto sp = Spool::Open(std::unique_ptr<SpoolStorage>(hook), SpoolOptions{true, 64}, nullptr);
  ASSERT_TRUE(sp);
  auto submit = [&](const SpoolMessage& m) {
    auto p = std::make_shared<std::promise<Result<std::string>>>();
    auto f = p->get_future();
    sp.value()->Submit(m, [p](Result<std::string> r) { p->set_value(std::move(r)); });
    return f;
  };
  const SpoolMessage before = Message("before", {"x@example.net"});
  ASSERT_TRUE(submit(before).get());

  hook->Arm();
  std::vector<SpoolMessage> batch;
  std::vector<std::future<Result<std::string>>> results;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(Message("batch " + std::to_string(i), {"y" + std::to_string(i) + "@example.net", "z@example.org"}));
    results.push_back(submit(batch.back()));
  }
  std::set<std::string> acknowledged = {before.id};
  int refused = 0;
  const auto killed_list = [&] {
    for (auto& f : results) f.wait();
    return hook->Killed();
  }();
  const std::set<std::string> killed(killed_list.begin(), killed_list.end());
  ASSERT_FALSE(killed.empty()) << "no batch reached its commit";
  EXPECT_EQ(hook->failure(), "");
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto r = results[i].get();
    if (killed.count(batch[i].id)) {
      EXPECT_FALSE(r) << "message " << i << " was acknowledged although its commit failed";
      ++refused;
    } else {
      EXPECT_TRUE(r) << r.error().message;
      acknowledged.insert(batch[i].id);
    }
  }
  EXPECT_EQ(refused, static_cast<int>(killed.size()));
  // The committer opens a new connection for the next batch.
  const SpoolMessage after = Message("after", {"w@example.net"});
  auto r = submit(after).get();
  ASSERT_TRUE(r) << r.error().message;
  acknowledged.insert(after.id);
  sp.value()->Stop();
  sp.value().reset();

  // Another node (a new storage on the same database) sees exactly the acknowledged messages.
  auto again = OpenPg();
  ASSERT_TRUE(again);
  auto list = again->List(1000);
  ASSERT_TRUE(list) << list.error().message;
  std::set<std::string> stored;
  for (const auto& m : *list) stored.insert(m.id);
  EXPECT_EQ(stored, acknowledged);
  auto got = again->Get(before.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->data, before.data);
  auto pending = again->PendingRecipients();
  ASSERT_TRUE(pending);
  for (const auto& p : *pending) EXPECT_EQ(killed.count(p.message_id), 0u) << "a recipient of the failed batch";
}

// The spool's events are written in the batch's own transaction when the store is in the same database:
// rolled back with it, committed with it (a crash between the commit and a later append cannot lose them).
TEST_F(PgSpoolStorageTest, EventsCommitWithTheirBatchAndOnlyWithIt) {
  store::StoreOptions options;
  options.migrate = true;
  auto st = store::postgres::PgStore::Open(url_, options);
  ASSERT_TRUE(st) << st.error().message;
  auto storage = OpenPg();
  ASSERT_TRUE(storage);
  int woken = 0;
  storage->SetEventWriter([&](pg::Connection& c, const std::vector<store::Event>& evs) {
    return st.value()->WriteEventsOn(c, evs);
  }, [&](int queued) { woken += queued; });
  auto count = [&](const std::string& id) {
    return pg::Connection::Open(url_).Exec("SELECT count(*) FROM events WHERE message_id = $1", {id}).Int(0, 0);
  };
  auto batch = [&](const SpoolMessage& m, bool commit) {
    ASSERT_TRUE(storage->Begin(true));
    ASSERT_TRUE(storage->Insert({&m}));
    auto in = storage->Events({store::Event{0, m.received_at, "accepted", m.id, m.account, "{}"}});
    ASSERT_TRUE(in) << in.error().message;
    EXPECT_TRUE(in.value());
    if (commit) {
      ASSERT_TRUE(storage->Commit());
    } else {
      storage->Rollback();
    }
  };
  const SpoolMessage dropped = Message("dropped", {"a@example.net"});
  batch(dropped, false);
  EXPECT_EQ(count(dropped.id), 0);
  const SpoolMessage kept = Message("kept", {"b@example.net"});
  batch(kept, true);
  EXPECT_EQ(count(kept.id), 1);
  EXPECT_EQ(woken, 0);  // no webhook: nothing to wake
  // Without a writer the spool records them itself, after the commit.
  auto plain = OpenPg();
  ASSERT_TRUE(plain);
  ASSERT_TRUE(plain->Begin(false));
  auto none = plain->Events({store::Event{0, 1, "accepted", "x", "default", "{}"}});
  ASSERT_TRUE(none);
  EXPECT_FALSE(none.value());
  plain->Rollback();
}

// What came off the wire is kept byte for byte: NUL, high bytes and invalid UTF-8 in the body, the HELO
// name, the envelope and a remote reply, where a text column would have refused the whole batch.
TEST_F(PgSpoolStorageTest, BytesSurviveExactly) {
  auto s = OpenPg();
  ASSERT_TRUE(s);
  SpoolMessage m = Message("binary", {std::string("b\xfe\xff@ex\xc3\xa4mple.NET"), "Plain@Example.NET"});
  m.helo = Raw("h\xff\0o");
  m.mail_from = "a\xc3\x28@example.com";
  m.data.clear();
  for (int round = 0; round < 3; ++round)
    for (int b = 0; b < 256; ++b) m.data.push_back(static_cast<char>(b));
  std::mt19937 random(42);
  for (int i = 0; i < 1 << 20; ++i) m.data.push_back(static_cast<char>(random() & 0xff));
  m.data += Raw("\0\0\\x00\"{}");
  Commit(*s, {&m});

  const std::string reply = Raw("451 \xff\x00 \\ later \"x\"");
  SpoolChanges changes;
  changes.updates.push_back(RecipientUpdate{m.id, 0, "queued", 1, 77, reply});
  changes.suspensions.emplace_back(std::string("d\xff\\.example"), true);
  Commit(*s, {}, changes);

  auto got = s->Get(m.id);
  ASSERT_TRUE(got && *got) << (got ? "not found" : got.error().message);
  EXPECT_TRUE((*got)->data == m.data) << "the body changed";
  EXPECT_EQ((*got)->size, m.data.size());
  EXPECT_EQ((*got)->helo, m.helo);
  EXPECT_EQ((*got)->mail_from, m.mail_from);
  EXPECT_EQ((*got)->recipients, m.recipients);
  ASSERT_EQ((*got)->states.size(), 2u);
  EXPECT_EQ((*got)->states[0].last_reply, reply);
  EXPECT_EQ((*got)->states[0].domain, RecipientDomain(m.recipients[0]));
  EXPECT_EQ((*got)->states[1].domain, "example.net");
  auto suspended = s->SuspendedDomains();
  ASSERT_TRUE(suspended);
  EXPECT_EQ(*suspended, (std::vector<std::string>{std::string("d\xff\\.example")}));
  ASSERT_TRUE(s->Begin(false));
  auto context = s->Context(m.id);
  ASSERT_TRUE(context && *context);
  EXPECT_EQ((*context)->mail_from, m.mail_from);
  s->Rollback();
}

// A batch bigger than one statement holds (kRowsPerStatement rows) is written whole.
TEST_F(PgSpoolStorageTest, ABatchLargerThanOneStatementIsWrittenWhole) {
  auto s = OpenPg();
  ASSERT_TRUE(s);
  std::vector<SpoolMessage> messages;
  for (int i = 0; i < 1500; ++i) {
    std::vector<std::string> rcpts;
    for (int r = 0; r < 3; ++r) rcpts.push_back("r" + std::to_string(r) + "." + std::to_string(i) + "@example.net");
    messages.push_back(Message(std::to_string(i), rcpts));
  }
  std::vector<const SpoolMessage*> batch;
  for (const auto& m : messages) batch.push_back(&m);
  Commit(*s, batch);
  auto n = s->Count();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1500);
  auto pending = s->PendingRecipients();
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->size(), 4500u);
  auto last = s->Get(messages.back().id);
  ASSERT_TRUE(last && *last);
  EXPECT_EQ((*last)->recipients, messages.back().recipients);
}

// The same group commits on SQLite and on PostgreSQL leave the same spool, including delivery results
// whose order matters (a message whose recipients are all final leaves at once; later updates of it are
// no-ops) and suspensions switched on and off in one batch.
TEST_F(PgSpoolStorageTest, DeliveryResultsLeaveTheSameSpoolAsSqlite) {
  auto lite = SqliteSpoolStorage::Open(dir_ / "spool.db", false);
  ASSERT_TRUE(lite) << lite.error().message;
  auto pgs = OpenPg();
  ASSERT_TRUE(pgs);
  const int64_t now = NowMicros();
  std::vector<SpoolMessage> m;
  for (int i = 0; i < 6; ++i) {
    m.push_back(Message(std::to_string(i), {"a" + std::to_string(i) + "@example.net", "b@Example.ORG"}));
    m.back().received_at = now - (10 - i) * 1'000'000;
  }
  m[3].recipients.resize(1);
  m[5].not_before = now + 3'600'000'000;
  m[5].options = SendOptions{true, std::nullopt, false, true};
  SpoolChanges first, second;
  first.updates = {{m[0].id, 0, "delivered", 1, 0, "250 ok"}, {m[0].id, 1, "bounced", 1, 0, "550 no"},
                   {m[1].id, 0, "bounced", 1, 0, "550 no"},
                   {m[3].id, 0, "delivered", 1, 0, "250 ok"}, {m[3].id, 0, "queued", 2, now + 5, "451 again"},
                   {m[4].id, 1, "queued", 2, now + 9, "451 later"}, {m[4].id, 0, "suppressed", 0, 0, ""}};
  first.deletes = {m[2].id, "no-such-id"};
  first.suspensions = {{"x.test", true}, {"x.test", false}, {"y.test", true}, {"y.test", false}, {"y.test", true}};
  second.updates = {{m[1].id, 1, "delivered", 1, 0, "250 ok"}, {m[1].id, 0, "queued", 3, now, "revived?"},
                    {m[4].id, 1, "queued", 3, now + 11, "451 still"}};
  std::vector<const SpoolMessage*> all;
  for (const auto& x : m) all.push_back(&x);
  for (SpoolStorage* s : {static_cast<SpoolStorage*>(lite.value().get()), static_cast<SpoolStorage*>(pgs.get())}) {
    Commit(*s, all, first);
    Commit(*s, {}, second);
  }
  auto text = [now](SpoolStorage& s) {
    std::string out;
    auto list = s.List(100);
    EXPECT_TRUE(list);
    for (const auto& x : *list) {
      const auto& o = x.options;
      out += x.id + " " + std::to_string(x.received_at) + " nb=" + std::to_string(x.not_before) +
             " test=" + std::to_string(o.test) + " opens=" + (o.track_opens ? std::to_string(*o.track_opens) : "unset") +
             " clicks=" + (o.track_clicks ? std::to_string(*o.track_clicks) : "unset") + ":";
      for (const auto& st : x.states)
        out += " [" + std::to_string(st.idx) + " " + st.address + " " + st.domain + " " + st.status + " " +
               std::to_string(st.attempts) + " " + std::to_string(st.next_attempt) + " " + st.last_reply + "]";
      out += "\n";
    }
    auto counts = s.CountByState(now);
    EXPECT_TRUE(counts);
    for (const auto& [state, n] : counts->by_state) out += state + "=" + std::to_string(n) + " ";
    out += "total=" + std::to_string(counts->total) + " oldest=" + std::to_string(counts->oldest) + "\n";
    for (const auto& state : MessageStates()) {
      auto page = s.ListPage(QueuePage{state, 1, now});
      EXPECT_TRUE(page);
      out += state + ":" + (page->empty() ? "-" : page->front().id) + " ";
    }
    auto pending = s.PendingRecipients();
    EXPECT_TRUE(pending);
    out += "\npending " + std::to_string(pending->size()) + ", suspended";
    auto suspended = s.SuspendedDomains();
    EXPECT_TRUE(suspended);
    for (const auto& d : *suspended) out += " " + d;
    return out;
  };
  const std::string expected = text(*lite.value());
  EXPECT_EQ(text(*pgs), expected);
  // The order-sensitive cases took SQLite's path: m0 and m1 left, m3 left at its first (final) update.
  for (int gone : {0, 1, 2, 3}) EXPECT_EQ(expected.find(m[gone].id), std::string::npos) << gone;
  EXPECT_NE(expected.find("suspended y.test"), std::string::npos);
}

// After a server restart or fail-over every connection a node holds is gone: the next batch and the next
// reads open new ones instead of failing once per lost connection.
TEST_F(PgSpoolStorageTest, ConnectionsTheServerDroppedAreReplaced) {
  auto s = OpenPg();
  ASSERT_TRUE(s);
  const SpoolMessage a = Message("a", {"x@example.net"});
  Commit(*s, {&a});
  std::vector<std::future<Result<int64_t>>> reads;  // several at once, so that the pool opens several
  for (int i = 0; i < 4; ++i) reads.push_back(std::async(std::launch::async, [&] { return s->Count(); }));
  for (auto& r : reads) ASSERT_TRUE(r.get());
  auto admin = pg::Connection::Open(url_);
  auto ended = admin.Exec("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND pid <> pg_backend_pid()");
  EXPECT_GE(ended.Rows(), 2) << "the committer's connection and at least one reader";
  const SpoolMessage b = Message("b", {"y@example.net"});
  Commit(*s, {&b});
  for (int i = 0; i < 6; ++i) {
    auto n = s->Count();
    ASSERT_TRUE(n) << "read " << i << ": " << n.error().message;
    EXPECT_EQ(*n, 2);
  }
}

// `queue retry` through a node that does not own the message: the request waits in the database for the
// owner, which takes it once; the owner itself and an unknown id leave nothing.
TEST_F(PgSpoolStorageTest, ARetryAskedThroughAnotherNodeWaitsForTheOwnerOnce) {
  auto a = PgSpoolStorage::Open(url_, 2, true, "node-a");
  auto b = PgSpoolStorage::Open(url_, 2, true, "node-b");
  ASSERT_TRUE(a && b);
  auto m = Message("retry", {"r@example.net"});
  Commit(*a.value(), {&m});

  auto through_b = b.value()->RequestRetry(m.id);
  ASSERT_TRUE(through_b) << through_b.error().message;
  EXPECT_EQ(through_b.value(), std::optional<std::string>("node-a"));
  EXPECT_EQ(b.value()->RequestRetry(m.id).value(), std::optional<std::string>("node-a"));  // asked twice: one request
  EXPECT_EQ(a.value()->RequestRetry(m.id).value(), std::optional<std::string>(""));  // its own: nothing to leave
  EXPECT_EQ(b.value()->RequestRetry("no-such-message").value(), std::nullopt);

  EXPECT_TRUE(b.value()->TakeRetryRequests().value().empty());  // not b's message
  EXPECT_EQ(a.value()->TakeRetryRequests().value(), std::vector<std::string>{m.id});
  EXPECT_TRUE(a.value()->TakeRetryRequests().value().empty());  // taken once

  // A request for a message that leaves the spool goes with it.
  ASSERT_TRUE(b.value()->RequestRetry(m.id));
  SpoolChanges gone;
  gone.deletes.push_back(m.id);
  Commit(*a.value(), {}, gone);
  EXPECT_TRUE(a.value()->TakeRetryRequests().value().empty());
}

// A campaign's message records (campaign, contact) in the transaction that stores it, on both backends:
// what a failed commit did not store is not recorded either.
TEST_F(PgSpoolStorageTest, CampaignSendsCommitWithTheirMessages) {
  auto sqlite = SqliteSpoolStorage::Open(dir_ / "spool.db", false);
  ASSERT_TRUE(sqlite) << sqlite.error().message;
  auto pgs = OpenPg();
  ASSERT_TRUE(pgs);
  for (SpoolStorage* s : std::initializer_list<SpoolStorage*>{sqlite.value().get(), pgs.get()}) {
    auto a = Message("a", {"a@example.net"}), b = Message("b", {"b@example.net"}), plain = Message("p", {"p@example.net"});
    a.campaign_id = b.campaign_id = "cmp_1";
    a.contact_id = 10;
    b.contact_id = 11;
    Commit(*s, {&a, &plain});
    ASSERT_TRUE(s->Begin(true));
    ASSERT_TRUE(s->Insert({&b}));
    s->Rollback();
    auto sent = s->CampaignSent("cmp_1", {10, 11, 12});
    ASSERT_TRUE(sent) << sent.error().message;
    EXPECT_EQ(sent.value(), std::vector<int64_t>{10});
    EXPECT_EQ(s->CampaignSentCount("cmp_1").value(), 1);
    EXPECT_EQ(s->CampaignSentCount("cmp_2").value(), 0);
    Commit(*s, {&b});
    EXPECT_EQ(s->CampaignSentCount("cmp_1").value(), 2);
  }
}

TEST_F(PgSpoolStorageTest, ADatabaseWithANewerSchemaIsRefused) {
  ASSERT_TRUE(OpenPg());
  auto admin = pg::Connection::Open(url_);
  admin.Exec("UPDATE kurier_schema SET version = version + 1 WHERE component = 'spool'");
  auto s = PgSpoolStorage::Open(url_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kStorage);
  const std::string& text = s.error().message;
  EXPECT_NE(text.find("spool schema is version " + std::to_string(PgSpoolStorage::Migrations().Latest() + 1)),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("upgrade this node's kurier"), std::string::npos) << text;
}

}  // namespace
}  // namespace kurier::spool
