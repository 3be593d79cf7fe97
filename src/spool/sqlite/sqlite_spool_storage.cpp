// sqlite_spool_storage.cpp - the spool on SQLite (WAL, synchronous=FULL for acknowledging commits).
//
// SECURITY: stores what clients sent, unchanged apart from the headers kurier adds. Not exposed to the
// network; one committer thread writes, CLI readers open the file read-mostly (WAL allows both).
// Durability: Commit of a durable transaction returns only after COMMIT under synchronous=FULL, which
// means the WAL was fsync'ed. A crash mid-commit leaves the transaction out entirely.
#include "spool/sqlite/sqlite_spool_storage.hpp"

#include <algorithm>

#include "common/ids.hpp"
#include "spool/message_state.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace kurier::spool {

using store::sqlite::BackgroundCheckpointer;
using store::sqlite::Db;
using store::sqlite::Durability;
using store::sqlite::Stmt;

namespace {
const std::vector<std::string> kMigrations = {
    R"(CREATE TABLE messages(id TEXT NOT NULL UNIQUE, received_at INTEGER NOT NULL, account TEXT NOT NULL,
                             credential TEXT NOT NULL, client_ip TEXT NOT NULL, helo TEXT NOT NULL,
                             tls_version TEXT NOT NULL, tls_cipher TEXT NOT NULL, mail_from TEXT NOT NULL,
                             body_type TEXT NOT NULL, smtputf8 INTEGER NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
       CREATE TABLE recipients(message_id TEXT NOT NULL, idx INTEGER NOT NULL, address TEXT NOT NULL,
                               status TEXT NOT NULL DEFAULT 'queued', PRIMARY KEY(message_id, idx)) WITHOUT ROWID)",
    // 2: delivery state per recipient
    R"(ALTER TABLE recipients ADD COLUMN domain TEXT NOT NULL DEFAULT '';
       ALTER TABLE recipients ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE recipients ADD COLUMN next_attempt INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE recipients ADD COLUMN last_reply TEXT NOT NULL DEFAULT '';
       CREATE INDEX recipients_pending ON recipients(status, next_attempt))",
    // 3: destinations an operator suspended
    "CREATE TABLE suspended_domains(domain TEXT PRIMARY KEY, since INTEGER NOT NULL)",
    // 4: messages from the HTTP API: scheduled sending, tags and metadata
    R"(ALTER TABLE messages ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE messages ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
       ALTER TABLE messages ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}')",
    // 5: the message's send options (SendOptions; NULL: unset). Messages spooled before kept them as
    // X-Kurier-* fields in their text, which delivery removes (option_fields_in_data = 1).
    R"(ALTER TABLE messages ADD COLUMN track_opens INTEGER;
       ALTER TABLE messages ADD COLUMN track_clicks INTEGER;
       ALTER TABLE messages ADD COLUMN list_unsubscribe INTEGER;
       ALTER TABLE messages ADD COLUMN option_fields_in_data INTEGER NOT NULL DEFAULT 1)",
    // 6: test mode (SendOptions::test)
    "ALTER TABLE messages ADD COLUMN test_mode INTEGER NOT NULL DEFAULT 0",
    // 7: the queue in arrival order, with what a message's state needs besides its recipients, so that
    // `queue list` and `status` read the page they show and count without the messages' rows (data)
    "CREATE INDEX IF NOT EXISTS messages_arrival ON messages(received_at, id, not_before)",
    // 8: the contacts each campaign has sent to, written with the message (exactly once across crashes)
    R"(CREATE TABLE campaign_sends(campaign_id TEXT NOT NULL, contact_id INTEGER NOT NULL, message_id TEXT NOT NULL,
                                   sent_at INTEGER NOT NULL, PRIMARY KEY(campaign_id, contact_id)) WITHOUT ROWID)",
};

// A message's state (spool/message_state.hpp) in SQL, over the messages row `m` and parameter ?1 (now):
// each recipient's as RecipientStatus decides it, then the one they share, "mixed" when they differ,
// "queued" when there are none, as MessageStatus does.
std::string MessageStateSql() {
  const std::string recipient =
      "CASE WHEN r.status <> 'queued' THEN r.status WHEN r.attempts > 0 THEN 'deferred' "
      "WHEN m.not_before > ?1 THEN 'scheduled' ELSE 'queued' END";
  return "(SELECT CASE WHEN COUNT(*) = 0 THEN 'queued' WHEN MIN(" + recipient + ") = MAX(" + recipient + ") THEN MIN(" +
         recipient + ") ELSE 'mixed' END FROM recipients r WHERE r.message_id = m.id)";
}

std::optional<bool> OptionalFlag(const Stmt& q, int col) {
  if (q.IsNull(col)) return std::nullopt;
  return q.Int(col) != 0;
}

// Runs a cached statement (Db::Fresh: prepared once, reset, ready to bind) with `args`.
template <typename... A>
Result<void> RunFresh(Db& db, const std::string& sql, const A&... args) {
  auto q = db.Fresh(sql);
  if (!q) return q.error();
  return (*q)->BindAll(args...).Run();
}

SpoolMessage RowToMessage(const Stmt& q, bool with_data) {
  SpoolMessage s;
  s.id = q.Text(0);
  s.received_at = q.Int(1);
  s.account = q.Text(2);
  s.credential = q.Text(3);
  s.client_ip = q.Text(4);
  s.helo = q.Text(5);
  s.tls_version = q.Text(6);
  s.tls_cipher = q.Text(7);
  s.mail_from = q.Text(8);
  s.body_type = q.Text(9);
  s.smtputf8 = q.Int(10) != 0;
  s.size = static_cast<size_t>(q.Int(11));
  s.not_before = q.Int(12);
  s.tags = q.Text(13);
  s.metadata = q.Text(14);
  s.options.track_opens = OptionalFlag(q, 15);
  s.options.track_clicks = OptionalFlag(q, 16);
  s.options.list_unsubscribe = OptionalFlag(q, 17);
  s.option_fields_in_data = q.Int(18) != 0;
  s.options.test = q.Int(19) != 0;
  if (with_data) s.data = q.Text(20);
  return s;
}

constexpr const char* kColumns =
    "id, received_at, account, credential, client_ip, helo, tls_version, tls_cipher, mail_from, body_type, smtputf8, size, "
    "not_before, tags, metadata, track_opens, track_clicks, list_unsubscribe, option_fields_in_data, test_mode";
}  // namespace

Result<std::unique_ptr<SqliteSpoolStorage>> SqliteSpoolStorage::Open(const std::filesystem::path& path, bool fsync) {
  const Durability durability = fsync ? Durability::kFull : Durability::kOff;
  auto db = Db::Open(path, durability);
  if (!db) return db.error();
  if (auto r = db.value()->Migrate(kMigrations); !r) return r.error();
  auto reader = Db::Open(path, durability);
  if (!reader) return reader.error();
  auto checkpointer = BackgroundCheckpointer::Start(*db.value(), path, durability);
  if (!checkpointer) return checkpointer.error();
  return std::unique_ptr<SqliteSpoolStorage>(
      new SqliteSpoolStorage(std::move(db.value()), std::move(reader.value()), std::move(checkpointer.value()), fsync));
}

SqliteSpoolStorage::SqliteSpoolStorage(std::unique_ptr<Db> db, std::unique_ptr<Db> reader,
                                       std::unique_ptr<BackgroundCheckpointer> checkpointer, bool fsync)
    : db_(std::move(db)), reader_(std::move(reader)), checkpointer_(std::move(checkpointer)), fsync_(fsync) {}

SqliteSpoolStorage::~SqliteSpoolStorage() = default;

Result<void> SqliteSpoolStorage::Begin(bool durable) {
  // A commit of delivery results alone need not wait for an fsync: the next FULL commit syncs the WAL
  // with it, and losing it to a power cut only repeats a delivery (never loses one).
  if (fsync_ && durable != full_sync_) {
    if (auto r = db_->Run(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !r) return r;
    full_sync_ = durable;
  }
  return db_->Run("BEGIN IMMEDIATE");
}

Result<void> SqliteSpoolStorage::Insert(const std::vector<const SpoolMessage*>& messages) {
  // Every statement is prepared once (Db::Fresh): with one client, a batch is one message, and parsing
  // the SQL again for each one was a fifth of the committer's time.
  auto m = db_->Fresh(
      "INSERT INTO messages(id, received_at, account, credential, client_ip, helo, tls_version, tls_cipher, mail_from,"
      " body_type, smtputf8, size, data, not_before, tags, metadata, track_opens, track_clicks, list_unsubscribe,"
      " option_fields_in_data, test_mode) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)");
  if (!m) return m.error();
  auto rc = db_->Fresh("INSERT INTO recipients(message_id, idx, address, domain, next_attempt) VALUES(?,?,?,?,?)");
  if (!rc) return rc.error();
  for (const SpoolMessage* p : messages) {
    const SpoolMessage& s = *p;
    (*m)->BindAll(s.id, s.received_at, s.account, s.credential, s.client_ip, s.helo, s.tls_version, s.tls_cipher,
                  s.mail_from, s.body_type, s.smtputf8, s.data.size())
        .BindBlob(13, s.data)  // not copied: bound for the step only
        .Bind(14, s.not_before).Bind(15, s.tags).Bind(16, s.metadata);
    for (auto [i, flag] : {std::pair{17, s.options.track_opens}, std::pair{18, s.options.track_clicks},
                           std::pair{19, s.options.list_unsubscribe}})
      flag ? (*m)->Bind(i, int64_t{*flag}) : (*m)->BindNull(i);
    (*m)->Bind(20, int64_t{s.options.test});
    if (auto r = (*m)->Run(); !r) return r;
    for (size_t i = 0; i < s.recipients.size(); ++i) {
      (*rc)->BindAll(s.id, i, s.recipients[i], RecipientDomain(s.recipients[i]), std::max(s.received_at, s.not_before));
      if (auto r = (*rc)->Run(); !r) return r;
    }
    if (!s.campaign_id.empty()) {
      // The runner asks CampaignSent before it builds a message, so a row here is never there already;
      // IGNORE keeps a bug from failing the other messages of the batch.
      auto cs = db_->Fresh("INSERT OR IGNORE INTO campaign_sends(campaign_id, contact_id, message_id, sent_at) VALUES(?,?,?,?)");
      if (!cs) return cs.error();
      (*cs)->BindAll(s.campaign_id, s.contact_id, s.id, s.received_at);
      if (auto r = (*cs)->Run(); !r) return r;
    }
  }
  return {};
}

Result<std::vector<int64_t>> SqliteSpoolStorage::CampaignSent(const std::string& campaign_id,
                                                              const std::vector<int64_t>& contact_ids) {
  std::string ids = "[";
  for (int64_t id : contact_ids) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
  ids += "]";
  std::lock_guard lock(read_mu_);
  return store::sqlite::Rows(reader_->Query("SELECT contact_id FROM campaign_sends WHERE campaign_id = ? AND "
                                            "contact_id IN (SELECT value FROM json_each(?))",
                                            campaign_id, ids),
                             [](const Stmt& q) { return q.Int(0); }, "cannot read the campaign's sends");
}

Result<int64_t> SqliteSpoolStorage::CampaignSentCount(const std::string& campaign_id) {
  std::lock_guard lock(read_mu_);
  auto n = store::sqlite::First(reader_->Query("SELECT count(*) FROM campaign_sends WHERE campaign_id = ?", campaign_id),
                                [](const Stmt& q) { return q.Int(0); }, "cannot count the campaign's sends");
  if (!n) return n.error();
  return n->value_or(0);
}

Result<std::optional<store::MessageContext>> SqliteSpoolStorage::Context(const std::string& message_id) {
  auto q = db_->Fresh("SELECT account, mail_from, tags, metadata FROM messages WHERE id = ?");
  if (!q) return q.error();
  auto row = (*q)->BindAll(message_id).First(
      [](const Stmt& r) {
        store::MessageContext c;
        c.account = r.Text(0);
        c.mail_from = r.Text(1);
        c.tags = r.Text(2);
        c.metadata = r.Text(3);
        return c;
      },
      "cannot read the spool");
  (*q)->Reset();
  return row;
}

Result<void> SqliteSpoolStorage::Apply(const SpoolChanges& c) {
  if (!c.updates.empty()) {
    auto up = db_->Fresh(
        "UPDATE recipients SET status = ?, attempts = ?, next_attempt = ?, last_reply = ? WHERE message_id = ? AND idx = ?");
    if (!up) return up.error();
    auto done = db_->Fresh(
        "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM recipients WHERE message_id = ?1 AND status = 'queued')");
    if (!done) return done.error();
    auto done_r = db_->Fresh(
        "DELETE FROM recipients WHERE message_id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM recipients WHERE message_id = ?1 AND status = 'queued')");
    if (!done_r) return done_r.error();
    for (const auto& u : c.updates) {
      if (auto r = (*up)->BindAll(u.status, u.attempts, u.next_attempt, u.last_reply, u.message_id, u.idx).Run(); !r) return r;
      if (u.status == "queued") continue;
      for (Stmt* d : {*done, *done_r})
        if (auto r = d->BindAll(u.message_id).Run(); !r) return r;
    }
  }
  for (const auto& id : c.deletes)
    for (const char* sql : {"DELETE FROM recipients WHERE message_id = ?", "DELETE FROM messages WHERE id = ?"})
      if (auto r = RunFresh(*db_, sql, id); !r) return r;
  for (const auto& [domain, on] : c.suspensions) {
    auto r = on ? RunFresh(*db_, "INSERT OR IGNORE INTO suspended_domains(domain, since) VALUES(?, ?)", domain, NowMicros())
                : RunFresh(*db_, "DELETE FROM suspended_domains WHERE domain = ?", domain);
    if (!r) return r;
  }
  return {};
}

Result<void> SqliteSpoolStorage::Commit() { return db_->Run("COMMIT"); }

void SqliteSpoolStorage::Rollback() { (void)db_->Exec("ROLLBACK"); }

Result<void> SqliteSpoolStorage::ReadRecipients(SpoolMessage& m) {
  auto r = reader_->Fresh(
      "SELECT address, idx, domain, status, attempts, next_attempt, last_reply FROM recipients WHERE message_id = ? ORDER BY idx");
  if (!r) return r.error();
  (*r)->BindAll(m.id);
  while ((*r)->Step()) {
    const Stmt& q = **r;
    m.recipients.push_back(q.Text(0));
    m.states.push_back(RecipientState{m.id, static_cast<int>(q.Int(1)), q.Text(0), q.Text(2), q.Text(3),
                                      static_cast<int>(q.Int(4)), q.Int(5), q.Text(6), m.received_at});
  }
  (*r)->Reset();
  return {};
}

Result<std::vector<SpoolMessage>> SqliteSpoolStorage::List(std::size_t limit) {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Query(std::string("SELECT ") + kColumns + " FROM messages ORDER BY received_at, id LIMIT ?", limit);
  if (!q) return q.error();
  auto out = q->Rows([](const Stmt& r) { return RowToMessage(r, false); }, "cannot list the spool");
  if (!out) return out;
  for (auto& m : out.value())
    if (auto r = ReadRecipients(m); !r) return r.error();
  return out;
}

Result<std::optional<SpoolMessage>> SqliteSpoolStorage::Get(const std::string& id) {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Query(std::string("SELECT ") + kColumns + ", data FROM messages WHERE id = ?", id);
  if (!q) return q.error();
  auto m = q->First([](const Stmt& r) { return RowToMessage(r, true); }, "cannot read the spool");
  if (m && m.value())
    if (auto r = ReadRecipients(**m); !r) return r.error();
  return m;
}

Result<std::vector<RecipientState>> SqliteSpoolStorage::PendingRecipients() {
  std::lock_guard rl(read_mu_);
  return Rows(reader_->Query(
      "SELECT r.message_id, r.idx, r.address, r.domain, r.status, r.attempts, r.next_attempt, r.last_reply, m.received_at "
      "FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.status = 'queued' ORDER BY r.message_id, r.idx"),
      [](const Stmt& r) {
        return RecipientState{r.Text(0), static_cast<int>(r.Int(1)), r.Text(2), r.Text(3), r.Text(4),
                              static_cast<int>(r.Int(5)), r.Int(6), r.Text(7), r.Int(8)};
      },
      "cannot read the queue");
}

Result<std::vector<std::string>> SqliteSpoolStorage::SuspendedDomains() {
  std::lock_guard rl(read_mu_);
  return Rows(reader_->Query("SELECT domain FROM suspended_domains ORDER BY domain"),
      [](const Stmt& r) { return r.Text(0); }, "cannot read suspended domains");
}

Result<int64_t> SqliteSpoolStorage::Count() {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Query("SELECT COUNT(*) FROM messages");
  if (!q) return q.error();
  q->Step();
  return q->Int(0);
}

Result<QueueCounts> SqliteSpoolStorage::CountByState(int64_t now) {
  std::lock_guard rl(read_mu_);
  QueueCounts c;
  for (const auto& state : MessageStates()) c.by_state[state] = 0;
  auto rows = Rows(reader_->Query("SELECT state, COUNT(*) FROM (SELECT " + MessageStateSql() +
                                      " AS state FROM messages m) GROUP BY state",
                                  now),
                   [](const Stmt& r) { return std::pair{r.Text(0), r.Int(1)}; }, "cannot count the spool");
  if (!rows) return rows.error();
  for (const auto& [state, n] : rows.value()) c.by_state[state] += n, c.total += n;
  auto oldest = First(reader_->Query("SELECT MIN(received_at) FROM messages"), [](const Stmt& r) { return r.Int(0); },
                      "cannot read the spool");
  if (!oldest) return oldest.error();
  c.oldest = oldest.value().value_or(0);
  return c;
}

Result<std::vector<SpoolMessage>> SqliteSpoolStorage::ListPage(const QueuePage& page) {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Query(std::string("SELECT ") + kColumns + " FROM messages m WHERE ?2 = '' OR " + MessageStateSql() +
                              " = ?2 ORDER BY m.received_at, m.id LIMIT ?3",
                          page.now, page.state, page.limit == 0 ? int64_t{-1} : static_cast<int64_t>(page.limit));
  if (!q) return q.error();
  auto out = q->Rows([](const Stmt& r) { return RowToMessage(r, false); }, "cannot list the spool");
  if (!out || !page.recipients) return out;
  for (auto& m : out.value())
    if (auto r = ReadRecipients(m); !r) return r.error();
  return out;
}

// The default backend's opener (spool.hpp), here so that spool.cpp needs no SQLite header.
Result<std::unique_ptr<Spool>> Spool::Open(const std::filesystem::path& path, SpoolOptions options,
                                           store::Store* events) {
  auto storage = SqliteSpoolStorage::Open(path, options.fsync);
  if (!storage) return storage.error();
  return Open(std::move(storage.value()), options, events);
}

}  // namespace kurier::spool
