// spool.cpp - the durable spool on SQLite (WAL, synchronous=FULL) with a group-committing writer.
//
// SECURITY: stores what clients sent, unchanged apart from the headers kurier adds. Not exposed to the
// network; one committer thread writes, CLI readers open the file read-mostly (WAL allows both).
// Durability: a completion (and so an SMTP 250) is issued only after COMMIT returned, which under
// synchronous=FULL means the WAL was fsync'ed. A crash mid-commit leaves the transaction out entirely.
#include "spool/spool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <map>

#include <boost/json.hpp>

#include "common/ids.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/store.hpp"

namespace kurier::spool {

using store::sqlite::Db;
using store::sqlite::Durability;

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
};


std::string JsonString(const std::string& s) { return boost::json::serialize(boost::json::value(boost::json::string_view(s))); }

std::string AcceptedEventData(const SpoolMessage& m) {
  boost::json::object o;
  o["account"] = m.account;
  o["credential"] = m.credential;
  o["client_ip"] = m.client_ip;
  o["helo"] = m.helo;
  o["tls_version"] = m.tls_version;
  o["tls_cipher"] = m.tls_cipher;
  o["mail_from"] = m.mail_from;
  boost::json::array rcpts;
  for (const auto& r : m.recipients) rcpts.emplace_back(r);
  o["recipients"] = std::move(rcpts);
  o["size"] = m.size;
  if (m.not_before > m.received_at) o["send_at"] = FormatTimeUtc(m.not_before);
  // Both were validated at acceptance; a row that is still not JSON (written by an older version, or
  // damaged) is left out of the event rather than stopping the committer.
  boost::system::error_code ec;
  if (m.tags != "[]")
    if (auto v = boost::json::parse(m.tags, ec); !ec) o["tags"] = std::move(v);
  if (m.metadata != "{}")
    if (auto v = boost::json::parse(m.metadata, ec); !ec) o["metadata"] = std::move(v);
  if (!m.subject.empty()) o["subject"] = m.subject;
  return boost::json::serialize(o);
}
}  // namespace

std::string RecipientDomain(const std::string& address) {
  auto at = address.rfind('@');
  std::string d = at == std::string::npos ? std::string() : address.substr(at + 1);
  for (char& c : d)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return d;
}

Result<std::unique_ptr<Spool>> Spool::Open(const std::filesystem::path& path, SpoolOptions options,
                                           store::Store* events) {
  auto db = Db::Open(path, options.fsync ? Durability::kFull : Durability::kOff);
  if (!db) return db.error();
  if (auto r = db.value()->Migrate(kMigrations); !r) return r.error();
  auto reader = Db::Open(path, options.fsync ? Durability::kFull : Durability::kOff);
  if (!reader) return reader.error();
  auto checkpointer =
      store::sqlite::BackgroundCheckpointer::Start(*db.value(), path, options.fsync ? Durability::kFull : Durability::kOff);
  if (!checkpointer) return checkpointer.error();
  return std::unique_ptr<Spool>(new Spool(std::move(db.value()), std::move(reader.value()), std::move(checkpointer.value()),
                                          options, events));
}

Spool::Spool(std::unique_ptr<Db> db, std::unique_ptr<Db> reader, std::unique_ptr<store::sqlite::BackgroundCheckpointer> checkpointer,
             SpoolOptions options, store::Store* events)
    : db_(std::move(db)), reader_(std::move(reader)), checkpointer_(std::move(checkpointer)), options_(options), events_(events) {
  committer_ = std::thread([this] { Run(); });
}

Spool::~Spool() { Stop(); }

void Spool::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !committer_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (committer_.joinable()) committer_.join();
}

void Spool::Submit(SpoolMessage message, Done done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(message), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(MakeError(ErrorCode::kTemporary, "server shutting down"));
}

void Spool::Update(std::vector<RecipientUpdate> updates, std::vector<store::Event> events) {
  std::lock_guard lock(mu_);
  UpdateBatch b;
  b.updates = std::move(updates);
  b.events = std::move(events);
  updates_.push_back(std::move(b));
  cv_.notify_one();
}

void Spool::Delete(const std::string& id, std::vector<store::Event> events) {
  std::lock_guard lock(mu_);
  UpdateBatch b;
  b.deletes.push_back(id);
  b.events = std::move(events);
  updates_.push_back(std::move(b));
  cv_.notify_one();
}

void Spool::SetSuspended(const std::string& domain, bool suspended) {
  std::lock_guard lock(mu_);
  UpdateBatch b;
  b.suspensions.emplace_back(domain, suspended);
  updates_.push_back(std::move(b));
  cv_.notify_one();
}

void Spool::SetCommitListener(std::function<void(const std::vector<const SpoolMessage*>&)> listener) {
  std::lock_guard lock(mu_);
  listener_ = std::move(listener);
}

void Spool::Run() {
  std::vector<Pending> batch;
  std::vector<UpdateBatch> updates;
  for (;;) {
    std::function<void(const std::vector<const SpoolMessage*>&)> listener;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !updates_.empty(); });
      if (queue_.empty() && updates_.empty()) return;  // stopping and drained
      // Delivery results alone can wait a moment: if a new message arrives meanwhile, both share one
      // transaction instead of two taking turns on the disk.
      if (queue_.empty() && !stopping_)
        cv_.wait_for(lock, std::chrono::milliseconds(2), [&] { return stopping_ || !queue_.empty(); });
      while (!queue_.empty() && batch.size() < static_cast<size_t>(options_.max_batch)) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      while (!updates_.empty()) {
        updates.push_back(std::move(updates_.front()));
        updates_.pop_front();
      }
      listener = listener_;
    }
    // An exception here would end the committer thread and with it the process (every tenant's mail):
    // it fails this batch instead (rolled back, each submitter answered 451), and the next one goes on.
    Result<void> r;
    try {
      r = CommitBatch(batch, updates);
    } catch (const std::exception& e) {
      (void)db_->Exec("ROLLBACK");
      r = MakeError(ErrorCode::kInternal, std::string("internal error: ") + e.what());
    }
    if (r && listener && !batch.empty()) {
      std::vector<const SpoolMessage*> committed;
      for (const auto& p : batch) committed.push_back(&p.message);
      try {
        listener(committed);
      } catch (const std::exception& e) {
        spdlog::error("spool: the commit listener failed: {}", e.what());
      }
    }
    updates.clear();
    if (!r) spdlog::error("spool: commit of {} messages failed: {}", batch.size(), r.error().message);
    for (auto& p : batch) {
      if (r)
        p.done(p.message.id);
      else
        p.done(MakeError(ErrorCode::kTemporary, "spool write failed"));
    }
    batch.clear();
  }
}

Result<void> Spool::CommitBatch(std::vector<Pending>& batch, std::vector<UpdateBatch>& updates) {
  // New messages are acknowledged after this commit, so it must reach the disk (synchronous=FULL).
  // A commit of delivery results alone need not wait for an fsync: the next FULL commit syncs the WAL
  // with it, and losing it to a power cut only repeats a delivery (never loses one).
  if (options_.fsync) {
    bool want_full = !batch.empty();
    if (want_full != full_sync_) {
      if (auto r = db_->Run(want_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !r) return r;
      full_sync_ = want_full;
    }
  }
  const int64_t started = NowMicros();
  // Every statement is prepared once (Db::Fresh): with one client, a batch is one message, and parsing
  // the SQL again for each one was a fifth of the committer's time.
  if (auto r = db_->Run("BEGIN IMMEDIATE"); !r) return r;
  auto fail = [&](const Error& e) -> Result<void> {
    (void)db_->Exec("ROLLBACK");
    return e;
  };
  auto m = db_->Fresh(
      "INSERT INTO messages(id, received_at, account, credential, client_ip, helo, tls_version, tls_cipher, mail_from,"
      " body_type, smtputf8, size, data, not_before, tags, metadata) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!m) return fail(m.error());
  auto rc = db_->Fresh("INSERT INTO recipients(message_id, idx, address, domain, next_attempt) VALUES(?,?,?,?,?)");
  if (!rc) return fail(rc.error());
  for (auto& p : batch) {
    const SpoolMessage& s = p.message;
    (*m)->Bind(1, s.id).Bind(2, s.received_at).Bind(3, s.account).Bind(4, s.credential).Bind(5, s.client_ip)
        .Bind(6, s.helo).Bind(7, s.tls_version).Bind(8, s.tls_cipher).Bind(9, s.mail_from).Bind(10, s.body_type)
        .Bind(11, int64_t{s.smtputf8}).Bind(12, static_cast<int64_t>(s.data.size())).BindBlob(13, s.data)
        .Bind(14, s.not_before).Bind(15, s.tags).Bind(16, s.metadata);
    if (auto r = (*m)->Run(); !r) return fail(r.error());
    for (size_t i = 0; i < s.recipients.size(); ++i) {
      (*rc)->Bind(1, s.id).Bind(2, static_cast<int64_t>(i)).Bind(3, s.recipients[i]).Bind(4, RecipientDomain(s.recipients[i]))
          .Bind(5, std::max(s.received_at, s.not_before));
      if (auto r = (*rc)->Run(); !r) return fail(r.error());
    }
  }
  std::vector<store::Event> update_events;
  if (!updates.empty()) {
    // Delivery events name only the message and the recipient; they get the account, the sender, the
    // tags and the metadata of their message here, before a final update may remove it, so that every
    // event can be filtered, counted and sent to the account's webhooks on its own.
    auto info = db_->Fresh("SELECT account, mail_from, tags, metadata FROM messages WHERE id = ?");
    if (!info) return fail(info.error());
    std::map<std::string, std::array<std::string, 4>> seen;
    for (auto& b : updates)
      for (auto& e : b.events) {
        if (!e.account.empty() || e.message_id.empty() || e.data.size() < 2 || e.data.back() != '}') continue;
        auto it = seen.find(e.message_id);
        if (it == seen.end()) {
          store::sqlite::Stmt* q = *info;
          q->Bind(1, e.message_id);
          std::array<std::string, 4> row;
          if (q->Step()) row = {q->Text(0), q->Text(1), q->Text(2), q->Text(3)};
          q->Reset();
          it = seen.emplace(e.message_id, std::move(row)).first;
        }
        const auto& [account, mail_from, tags, metadata] = it->second;
        if (account.empty()) continue;
        e.account = account;
        std::string extra = ",\"mail_from\":" + JsonString(mail_from);
        if (!tags.empty() && tags != "[]") extra += ",\"tags\":" + tags;
        if (!metadata.empty() && metadata != "{}") extra += ",\"metadata\":" + metadata;
        e.data.insert(e.data.size() - 1, e.data.size() > 2 ? extra : extra.substr(1));
      }
  }
  if (!updates.empty()) {
    auto up = db_->Fresh(
        "UPDATE recipients SET status = ?, attempts = ?, next_attempt = ?, last_reply = ? WHERE message_id = ? AND idx = ?");
    auto done = db_->Fresh(
        "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM recipients WHERE message_id = ?1 AND status = 'queued')");
    auto done_r = db_->Fresh(
        "DELETE FROM recipients WHERE message_id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM recipients WHERE message_id = ?1 AND status = 'queued')");
    if (!up) return fail(up.error());
    if (!done) return fail(done.error());
    if (!done_r) return fail(done_r.error());
    for (auto& b : updates) {
      for (const auto& u : b.updates) {
        (*up)->Bind(1, u.status).Bind(2, int64_t{u.attempts}).Bind(3, u.next_attempt).Bind(4, u.last_reply)
            .Bind(5, u.message_id).Bind(6, int64_t{u.idx});
        if (auto r = (*up)->Run(); !r) return fail(r.error());
        if (u.status != "queued") {
          (*done)->Bind(1, u.message_id);
          if (auto r = (*done)->Run(); !r) return fail(r.error());
          (*done_r)->Bind(1, u.message_id);
          if (auto r = (*done_r)->Run(); !r) return fail(r.error());
        }
      }
      for (const auto& id : b.deletes) {
        for (const char* sql : {"DELETE FROM recipients WHERE message_id = ?", "DELETE FROM messages WHERE id = ?"}) {
          auto d = db_->Fresh(sql);
          if (!d) return fail(d.error());
          (*d)->Bind(1, id);
          if (auto r = (*d)->Run(); !r) return fail(r.error());
        }
      }
      for (const auto& [domain, on] : b.suspensions) {
        auto q = db_->Fresh(on ? "INSERT OR IGNORE INTO suspended_domains(domain, since) VALUES(?, ?)"
                               : "DELETE FROM suspended_domains WHERE domain = ?");
        if (!q) return fail(q.error());
        (*q)->Bind(1, domain);
        if (on) (*q)->Bind(2, NowMicros());
        if (auto r = (*q)->Run(); !r) return fail(r.error());
      }
      for (auto& e : b.events) update_events.push_back(std::move(e));
    }
  }
  if (auto r = db_->Run("COMMIT"); !r) return fail(r.error());
  // Events go through the store's event journal when it has one (RecordEvent: a copy into a mapped
  // file, imported in bulk a few milliseconds later), so that the acknowledgement does not wait for
  // a second database commit.
  auto record = [&](const std::vector<store::Event>& evs, const char* what) {
    for (const auto& e : evs)
      if (auto r = events_->RecordEvent(e); !r)
        spdlog::error("events: cannot record {} event of {}: {}", what, e.message_id, r.error().message);
  };
  if (events_ && !update_events.empty()) record(update_events, "a delivery");
  if (!batch.empty()) {
    std::lock_guard lock(mu_);
    stats_.commits++;
    stats_.messages += batch.size();
    stats_.commit_micros += static_cast<uint64_t>(NowMicros() - started);
    stats_.largest_batch = std::max<uint64_t>(stats_.largest_batch, batch.size());
  }
  if (events_) {
    std::vector<store::Event> evs;
    evs.reserve(batch.size());
    for (auto& p : batch)
      evs.push_back(store::Event{0, p.message.received_at, "accepted", p.message.id, p.message.account,
                                 AcceptedEventData(p.message)});
    record(evs, "an accepted");
  }
  return {};
}

Spool::Stats Spool::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

namespace {
SpoolMessage RowToMessage(store::sqlite::Stmt& q, bool with_data) {
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
  if (with_data) s.data = q.Text(15);
  return s;
}
constexpr const char* kColumns =
    "id, received_at, account, credential, client_ip, helo, tls_version, tls_cipher, mail_from, body_type, smtputf8, size, "
    "not_before, tags, metadata";
}  // namespace

Result<std::vector<SpoolMessage>> Spool::List(std::size_t limit) {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Prepare(std::string("SELECT ") + kColumns + " FROM messages ORDER BY received_at, id LIMIT ?");
  if (!q) return q.error();
  q->Bind(1, static_cast<int64_t>(limit));
  std::vector<SpoolMessage> out;
  while (q->Step()) out.push_back(RowToMessage(*q, false));
  if (!q->ok()) return MakeError(ErrorCode::kStorage, "cannot list the spool: " + q->error());
  auto r = reader_->Prepare(
      "SELECT address, idx, domain, status, attempts, next_attempt, last_reply FROM recipients WHERE message_id = ? ORDER BY idx");
  if (!r) return r.error();
  for (auto& m : out) {
    r->Bind(1, m.id);
    while (r->Step()) {
      m.recipients.push_back(r->Text(0));
      m.states.push_back(RecipientState{m.id, static_cast<int>(r->Int(1)), r->Text(0), r->Text(2), r->Text(3),
                                        static_cast<int>(r->Int(4)), r->Int(5), r->Text(6), m.received_at});
    }
    r->Reset();
  }
  return out;
}

Result<std::optional<SpoolMessage>> Spool::Get(const std::string& id) {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Prepare(std::string("SELECT ") + kColumns + ", data FROM messages WHERE id = ?");
  if (!q) return q.error();
  q->Bind(1, id);
  if (!q->Step()) {
    if (!q->ok()) return MakeError(ErrorCode::kStorage, "cannot read the spool: " + q->error());
    return std::optional<SpoolMessage>();
  }
  SpoolMessage m = RowToMessage(*q, true);
  auto r = reader_->Prepare(
      "SELECT address, idx, domain, status, attempts, next_attempt, last_reply FROM recipients WHERE message_id = ? ORDER BY idx");
  if (!r) return r.error();
  r->Bind(1, id);
  while (r->Step()) {
    m.recipients.push_back(r->Text(0));
    m.states.push_back(RecipientState{id, static_cast<int>(r->Int(1)), r->Text(0), r->Text(2), r->Text(3),
                                      static_cast<int>(r->Int(4)), r->Int(5), r->Text(6), m.received_at});
  }
  return std::optional<SpoolMessage>(std::move(m));
}

Result<std::vector<RecipientState>> Spool::PendingRecipients() {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Prepare(
      "SELECT r.message_id, r.idx, r.address, r.domain, r.status, r.attempts, r.next_attempt, r.last_reply, m.received_at "
      "FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.status = 'queued' ORDER BY r.message_id, r.idx");
  if (!q) return q.error();
  std::vector<RecipientState> out;
  while (q->Step())
    out.push_back(RecipientState{q->Text(0), static_cast<int>(q->Int(1)), q->Text(2), q->Text(3), q->Text(4),
                                 static_cast<int>(q->Int(5)), q->Int(6), q->Text(7), q->Int(8)});
  if (!q->ok()) return MakeError(ErrorCode::kStorage, "cannot read the queue: " + q->error());
  return out;
}

Result<std::vector<std::string>> Spool::SuspendedDomains() {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Prepare("SELECT domain FROM suspended_domains ORDER BY domain");
  if (!q) return q.error();
  std::vector<std::string> out;
  while (q->Step()) out.push_back(q->Text(0));
  if (!q->ok()) return MakeError(ErrorCode::kStorage, "cannot read suspended domains: " + q->error());
  return out;
}

Result<int64_t> Spool::Count() {
  std::lock_guard rl(read_mu_);
  auto q = reader_->Prepare("SELECT COUNT(*) FROM messages");
  if (!q) return q.error();
  q->Step();
  return q->Int(0);
}

}  // namespace kurier::spool
