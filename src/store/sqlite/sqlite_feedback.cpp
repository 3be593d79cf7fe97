// sqlite_feedback.cpp - what flows back from delivery to the user, in SQLite: the event append (the
// rules of event_rules.cpp over SQLite statements), suppressions, webhooks and their durable outbox,
// event retention and statistics.
// SECURITY: webhook secrets must stay usable for signing, so they cannot be hashed: they are stored
// encrypted (SecretBox: XChaCha20-Poly1305 under a key derived from server.secret_file, bound to the
// webhook's id), so a copy of the database alone does not let anyone forge webhook signatures. The API
// shows a secret only when it is created or rotated. Every statement is prepared with bound parameters.
#include <sodium.h>

#include <tuple>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/event_rules.hpp"
#include "store/store_shared.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace kurier::store::sqlite {

namespace {

Error Storage(const std::string& what, const std::string& detail) {
  return MakeError(ErrorCode::kStorage, what + ": " + detail);
}

constexpr const char* kWebhookColumns =
    "id, account, url, event_types, description, secret, previous_secret, previous_secret_expires, enabled, "
    "disabled_reason, created_at";

Webhook RowToWebhook(const Stmt& q, int at = 0) {
  Webhook w;
  w.id = q.Text(at + 0);
  w.account = q.Text(at + 1);
  w.url = q.Text(at + 2);
  w.event_types = SplitEventTypes(q.Text(at + 3));
  w.description = q.Text(at + 4);
  w.secret = q.Text(at + 5);
  w.previous_secret = q.Text(at + 6);
  w.previous_secret_expires = q.Int(at + 7);
  w.enabled = q.Int(at + 8) != 0;
  w.disabled_reason = q.Text(at + 9);
  w.created_at = q.Int(at + 10);
  return w;
}

Suppression SuppressionRow(const Stmt& r) {
  return Suppression{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5)};
}

}  // namespace

Webhook SqliteStore::ReadWebhook(const Stmt& q, int at) const {
  Webhook w = RowToWebhook(q, at);
  OpenWebhookSecrets(w, box_);
  return w;
}

Result<std::pair<std::string, std::string>> SqliteStore::SealSecrets(const Webhook& w) const {
  return SealWebhookSecrets(w, box_);
}

Result<int> SqliteStore::SealPlaintextWebhookSecrets() {
  std::lock_guard lock(mu_);
  std::vector<std::tuple<std::string, std::string, std::string>> rows;  // id, secret, previous_secret
  {
    auto q = db_->Query(
        "SELECT id, secret, previous_secret FROM webhooks WHERE (secret != '' AND substr(secret, 1, 7) != 'enc:v1:') "
        "OR (previous_secret != '' AND substr(previous_secret, 1, 7) != 'enc:v1:')");
    if (!q) return q.error();
    auto read = q->Rows([](const Stmt& r) { return std::tuple{r.Text(0), r.Text(1), r.Text(2)}; },
                        "cannot read webhooks to encrypt their secrets");
    if (!read) return read.error();
    rows = std::move(read.value());
  }
  if (rows.empty()) return 0;
  // secure_delete: the pages the plaintext leaves are overwritten with zeros, not left in free space.
  if (auto r = db_->Exec("PRAGMA secure_delete = ON; BEGIN IMMEDIATE"); !r) return r.error();
  for (auto& [id, secret, previous] : rows) {
    Webhook w;
    w.id = id;
    w.secret = SecretBox::IsSealed(secret) ? "" : secret;
    w.previous_secret = SecretBox::IsSealed(previous) ? "" : previous;
    auto fail = [&](const std::string& why) {
      (void)db_->Exec("ROLLBACK; PRAGMA secure_delete = OFF");
      return Storage("cannot encrypt webhook secrets", why);
    };
    auto sealed = SealSecrets(w);
    if (!sealed) return fail(sealed.error().message);
    if (auto r = db_->Execute("UPDATE webhooks SET secret = CASE WHEN ?1 THEN ?2 ELSE secret END, "
                              "previous_secret = CASE WHEN ?3 THEN ?4 ELSE previous_secret END WHERE id = ?5",
                              !w.secret.empty(), sealed->first, !w.previous_secret.empty(), sealed->second, id);
        !r)
      return fail(r.error().message);
    sodium_memzero(secret.data(), secret.size());
    sodium_memzero(previous.data(), previous.size());
  }
  if (auto r = db_->Exec("COMMIT; PRAGMA secure_delete = OFF"); !r) return r.error();
  // Move the new pages into the database file and empty the WAL, whose old frames held the plaintext.
  (void)db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return static_cast<int>(rows.size());
}

namespace {

// The SQLite side of store::WriteEvents (event_rules.hpp), inside AppendLocked's transaction. Its
// statements are cached by the connection and looked up once per append: the click endpoint and the
// event journal append many batches, the journal thousands of events each.
class SqliteEventSink final : public EventSink {
 public:
  explicit SqliteEventSink(Db& db) : db_(db) {}
  Result<int64_t> InsertEvent(const Event& e, int64_t time, const std::string& data) override {
    auto q = Statement(insert_, "INSERT INTO events(time, type, message_id, account, data) VALUES(?,?,?,?,?)");
    if (!q) return q.error();
    (*q)->BindAll(time, e.type, e.message_id.empty() ? std::nullopt : std::optional<std::string_view>(e.message_id),
                  e.account, data);
    if (auto r = (*q)->Run(); !r) return r.error();
    return db_.LastInsertId();
  }
  Result<void> InsertSuppression(const Suppression& s) override {
    auto q = Statement(suppress_,
                       "INSERT OR IGNORE INTO suppressions(account, address, reason, detail, message_id, created_at) "
                       "VALUES(?,?,?,?,?,?)");
    if (!q) return q.error();
    return (*q)->BindAll(s.account, s.address, s.reason, s.detail, s.message_id, s.created_at).Run();
  }
  Result<std::vector<WebhookTarget>> EnabledWebhooks(const std::string& account) override {
    auto q = Statement(webhooks_, "SELECT id, event_types FROM webhooks WHERE account = ? AND enabled = 1 ORDER BY rowid");
    if (!q) return q.error();
    auto rows = (*q)->BindAll(account).Rows(
        [](const Stmt& r) { return WebhookTarget{r.Text(0), SplitEventTypes(r.Text(1))}; }, "webhooks");
    (*q)->Reset();
    return rows;
  }
  Result<void> QueueWebhookDelivery(const std::string& webhook_id, int64_t event_id, int64_t now) override {
    auto q = Statement(queue_, "INSERT INTO webhook_outbox(webhook_id, event_id, next_attempt, created_at) VALUES(?,?,?,?)");
    if (!q) return q.error();
    return (*q)->BindAll(webhook_id, event_id, now, now).Run();
  }
  Result<int> CountSoftBounces(const std::string& account, const std::string& address, int64_t since) override {
    // Through the events_recipient index; "after the last delivery" by id, the order events were recorded in.
    auto q = Statement(count_,
                       "SELECT COUNT(DISTINCT COALESCE(message_id, 'event ' || id)) FROM events "
                       "WHERE recipient = ?1 AND account = ?2 AND type = 'bounced' "
                       "AND json_extract(data, '$.classification') = 'soft' AND time >= ?3 "
                       "AND id > COALESCE((SELECT MAX(id) FROM events WHERE recipient = ?1 AND account = ?2 "
                       "AND type = 'delivered'), 0)");
    if (!q) return q.error();
    Stmt* st = *q;
    st->BindAll(address, account, since);
    if (!st->Step()) {
      std::string why = st->error();
      st->Reset();
      return Storage("cannot count soft bounces", why.empty() ? "no row" : why);
    }
    const int n = static_cast<int>(st->Int(0));
    st->Reset();
    return n;
  }

 private:
  Result<Stmt*> Statement(Stmt*& slot, const char* sql) {
    if (slot) return slot;
    auto q = db_.Cached(sql);
    if (q) slot = *q;
    return q;
  }
  Db& db_;
  Stmt *insert_ = nullptr, *suppress_ = nullptr, *webhooks_ = nullptr, *queue_ = nullptr, *count_ = nullptr;
};

}  // namespace

Result<void> SqliteStore::AppendLocked(const std::vector<Event>& events, const JournalPosition* reached) {
  if (auto r = db_->Run("BEGIN"); !r) return r;
  auto fail = [&](const Error& e) {
    (void)db_->Exec("ROLLBACK");
    return e;
  };
  // The rules (suppressions, webhook fan-out) are the store's, not SQLite's: event_rules.cpp.
  SqliteEventSink sink(*db_);
  auto queued = WriteEvents(sink, events, NowMicros(), soft_bounces_);
  if (!queued) return fail(queued.error());
  if (reached) {
    auto p = db_->Cached("INSERT INTO journal_positions(name, generation, position) VALUES('events', ?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET generation = excluded.generation, position = excluded.position");
    if (!p) return fail(Storage("cannot record the event journal's position", p.error().message));
    if (auto done = (*p)->BindAll(reached->generation, reached->offset).Run(); !done)
      return fail(Storage("cannot record the event journal's position", done.error().message));
  }
  if (auto r = db_->Run("COMMIT"); !r) return fail(Storage("cannot commit events", r.error().message));
  if (*queued > 0 && webhook_listener_) webhook_listener_();
  return {};
}

Result<int64_t> SqliteStore::PurgeEvents(int64_t before) {
  std::lock_guard lock(mu_);
  // Outbox rows that are finished go with their age; pending ones keep their event alive.
  if (auto r = db_->Execute("DELETE FROM webhook_outbox WHERE state != 'pending' AND created_at < ?", before); !r)
    return Storage("cannot purge the webhook outbox", r.error().message);
  // Ids grow with time, so the events to purge are the oldest rowids: the walk stops at the first
  // event that is young enough (an event recorded out of order waits for the ones before it).
  auto n = db_->Execute(
      "DELETE FROM events WHERE id < COALESCE((SELECT id FROM events WHERE time >= ?1 ORDER BY id LIMIT 1), "
      "(SELECT MAX(id) + 1 FROM events)) AND time < ?1 "
      "AND id NOT IN (SELECT event_id FROM webhook_outbox WHERE state = 'pending')",
      before);
  if (!n) return Storage("cannot purge events", n.error().message);
  return static_cast<int64_t>(*n);
}

Result<std::vector<StatsRow>> SqliteStore::Stats(const StatsQuery& s) {
  DrainJournal();
  std::lock_guard lock(mu_);
  // Delivery events carry the sender and tags copied from the message by the spool, so that every type
  // can be filtered the same way. "total" counts recipients (an accepted message counts each of its
  // recipients); "unique" counts each (message, recipient) once: opens and clicks.
  // Columns: bucket, type, classification, total, unique.
  return Rows(db_->Query(
      "SELECT (time / ?1) * ?1 AS bucket, type, COALESCE(json_extract(data, '$.classification'), ''), "
      "SUM(CASE WHEN type = 'accepted' THEN COALESCE(json_array_length(data, '$.recipients'), 1) ELSE 1 END), "
      "COUNT(DISTINCT COALESCE(message_id, '') || ' ' || COALESCE(recipient, '')) FROM events "
      "WHERE account = ?2 AND time >= ?3 AND time < ?4 "
      "AND (?5 = '' OR EXISTS(SELECT 1 FROM json_each(data, '$.tags') WHERE value = ?5)) "
      "AND (?6 = '' OR lower(json_extract(data, '$.mail_from')) LIKE '%@' || lower(?6)) "
      "GROUP BY bucket, type, 3 ORDER BY bucket, type",
      s.bucket, s.account, s.from, s.to, s.tag, s.domain),
      [](const Stmt& r) { return StatsRow{r.Int(0), r.Text(1), r.Int(3), r.Int(4), r.Text(2)}; }, "cannot compute statistics");
}

Result<bool> SqliteStore::AddSuppression(const Suppression& s) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute(
      "INSERT OR IGNORE INTO suppressions(account, address, reason, detail, message_id, created_at) VALUES(?,?,?,?,?,?)",
      s.account, ToLowerAscii(s.address), s.reason, s.detail, s.message_id, s.created_at ? s.created_at : NowMicros());
  if (!n) return Storage("cannot add a suppression", n.error().message);
  return *n > 0;
}

Result<bool> SqliteStore::RemoveSuppression(const std::string& account, const std::string& address) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute("DELETE FROM suppressions WHERE account = ? AND address = ?", account, ToLowerAscii(address));
  if (!n) return Storage("cannot remove a suppression", n.error().message);
  return *n > 0;
}

Result<std::vector<Suppression>> SqliteStore::ListSuppressions(const std::string& account, const std::string& after,
                                                               std::size_t limit) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(
      "SELECT account, address, reason, detail, message_id, created_at FROM suppressions "
      "WHERE account = ? AND address > ? ORDER BY address LIMIT ?",
      account, ToLowerAscii(after), limit),
      SuppressionRow, "cannot list suppressions");
}

Result<std::vector<Suppression>> SqliteStore::FindSuppressions(const std::string& account,
                                                               const std::vector<std::string>& addresses) {
  std::vector<Suppression> out;
  if (addresses.empty()) return out;
  // One address (most SMTP messages, checked as each is accepted) is a plain index lookup; a list (a batch
  // send asks about hundreds of addresses at once) is one statement with the addresses as a JSON array.
  // An address on both lists is reported with the account's entry.
  const bool one = addresses.size() == 1;
  const std::string key = one ? ToLowerAscii(addresses.front()) : AddressesAsJson(addresses);
  std::lock_guard lock(reader_mu_);
  auto q = reader_->Cached(
      one ? "SELECT account, address, reason, detail, message_id, created_at FROM suppressions "
            "WHERE address = ?1 AND (account = ?2 OR account = '') ORDER BY account DESC"
          : "SELECT account, address, reason, detail, message_id, created_at FROM suppressions "
            "WHERE address IN (SELECT value FROM json_each(?1)) AND (account = ?2 OR account = '') "
            "ORDER BY address, account DESC");
  if (!q) return q.error();
  (*q)->Bind(1, key).Bind(2, account);
  Stmt* st = *q;
  while (st->Step())
    if (out.empty() || out.back().address != st->Text(1)) out.push_back(SuppressionRow(*st));
  const bool ok = st->ok();
  const std::string why = st->error();
  st->Reset();
  if (!ok) return Storage("cannot read suppressions", why);
  return out;
}

Result<Webhook> SqliteStore::CreateWebhook(const Webhook& in) {
  std::lock_guard lock(mu_);
  Webhook w = in;
  w.id = "wh_" + NewQueueId();
  w.created_at = NowMicros();
  auto sealed = SealSecrets(w);
  if (!sealed) return sealed.error();
  if (auto r = db_->Execute(
          "INSERT INTO webhooks(id, account, url, event_types, description, secret, previous_secret, previous_secret_expires, "
          "enabled, created_at) VALUES(?,?,?,?,?,?,?,?,?,?)",
          w.id, w.account, w.url, JoinEventTypes(w.event_types), w.description, sealed->first, sealed->second,
          w.previous_secret_expires, w.enabled, w.created_at);
      !r)
    return Storage("cannot create a webhook", r.error().message);
  return w;
}

Result<std::vector<Webhook>> SqliteStore::ListWebhooks(const std::string& account) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE account = ? ORDER BY id", account),
      [this](const Stmt& r) { return ReadWebhook(r); }, "cannot list webhooks");
}

Result<std::optional<Webhook>> SqliteStore::FindWebhook(const std::string& account, const std::string& id) {
  std::lock_guard lock(mu_);
  return First(db_->Query(std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE account = ? AND id = ?", account, id),
      [this](const Stmt& r) { return ReadWebhook(r); }, "cannot read webhooks");
}

Result<void> SqliteStore::UpdateWebhook(const Webhook& w) {
  std::lock_guard lock(mu_);
  // A webhook read with undecryptable secrets (secret_error) keeps what is stored until it is given a
  // new secret: an edit of its URL must not replace them with empty ones.
  const bool keep_secrets = !w.secret_error.empty() && w.secret.empty();
  std::pair<std::string, std::string> sealed;
  if (!keep_secrets) {
    auto s = SealSecrets(w);
    if (!s) return s.error();
    sealed = std::move(s.value());
  }
  auto n = db_->Execute(
      "UPDATE webhooks SET url = ?1, event_types = ?2, description = ?3, enabled = ?4, "
      "disabled_reason = CASE WHEN ?5 THEN '' ELSE disabled_reason END, secret = CASE WHEN ?11 THEN secret ELSE ?6 END, "
      "previous_secret = CASE WHEN ?11 THEN previous_secret ELSE ?7 END, "
      "previous_secret_expires = CASE WHEN ?11 THEN previous_secret_expires ELSE ?8 END WHERE account = ?9 AND id = ?10",
      w.url, JoinEventTypes(w.event_types), w.description, w.enabled, w.enabled, sealed.first, sealed.second,
      w.previous_secret_expires, w.account, w.id, keep_secrets);
  if (!n) return Storage("cannot update a webhook", n.error().message);
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "no webhook " + w.id);
  return {};
}

Result<void> SqliteStore::DeleteWebhook(const std::string& account, const std::string& id) {
  std::lock_guard lock(mu_);
  int changed = 0;
  for (const char* sql : {"DELETE FROM webhook_outbox WHERE webhook_id IN (SELECT id FROM webhooks WHERE account = ?1 AND id = ?2)",
                          "DELETE FROM webhooks WHERE account = ?1 AND id = ?2"}) {
    auto n = db_->Execute(sql, account, id);
    if (!n) return Storage("cannot delete a webhook", n.error().message);
    changed = *n;
  }
  if (changed == 0) return MakeError(ErrorCode::kNotFound, "no webhook " + id);
  return {};
}

Result<void> SqliteStore::DisableWebhook(const std::string& id, const std::string& reason) {
  std::lock_guard lock(mu_);
  if (auto r = db_->Execute("UPDATE webhooks SET enabled = 0, disabled_reason = ? WHERE id = ?", reason, id); !r)
    return Storage("cannot disable a webhook", r.error().message);
  // What was waiting for it is not sent: the endpoint said it is gone.
  auto o = db_->Execute("UPDATE webhook_outbox SET state = 'dropped', last_error = ? WHERE webhook_id = ? AND state = 'pending'",
                        "webhook disabled: " + reason, id);
  if (!o) return o.error();
  return {};
}

Result<std::vector<WebhookDelivery>> SqliteStore::DueWebhookDeliveries(int64_t now, std::size_t limit) {
  std::lock_guard lock(mu_);
  auto due = Rows(db_->Query(std::string("SELECT o.id, o.attempts, o.created_at, e.id, e.time, e.type, COALESCE(e.message_id, ''), "
                                    "e.account, e.data, ") +
                        "w.id, w.account, w.url, w.event_types, w.description, w.secret, w.previous_secret, "
                        "w.previous_secret_expires, w.enabled, w.disabled_reason, w.created_at "
                        "FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id JOIN events e ON e.id = o.event_id "
                        "WHERE o.state = 'pending' AND o.next_attempt <= ? AND w.enabled = 1 ORDER BY o.next_attempt, o.id LIMIT ?",
      now, limit),
      [this](const Stmt& r) {
        WebhookDelivery d;
        d.id = r.Int(0);
        d.attempts = static_cast<int>(r.Int(1));
        d.created_at = r.Int(2);
        d.event = Event{r.Int(3), r.Int(4), r.Text(5), r.Text(6), r.Text(7), r.Text(8)};
        d.webhook = ReadWebhook(r, 9);
        return d;
      },
      "cannot read the webhook outbox");
  if (!due) return due;
  // Claimed (store.hpp): one writer connection under mu_, so read and claim cannot interleave with another.
  for (const auto& d : due.value())
    if (auto r = db_->Execute("UPDATE webhook_outbox SET next_attempt = ? WHERE id = ?", now + kWebhookClaimMicros, d.id); !r)
      return Storage("cannot claim webhook deliveries", r.error().message);
  return due;
}

Result<int64_t> SqliteStore::NextWebhookDue() {
  std::lock_guard lock(mu_);
  auto q = db_->Query(
      "SELECT COALESCE(MIN(o.next_attempt), 0) FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
      "WHERE o.state = 'pending' AND w.enabled = 1");
  if (!q) return q.error();
  if (!q->Step()) return Storage("cannot read the webhook outbox", q->error());
  return q->Int(0);
}

Result<void> SqliteStore::FinishWebhookAttempt(int64_t id, const WebhookAttempt& a) {
  std::lock_guard lock(mu_);
  const char* state = a.delivered ? "delivered" : a.next_attempt ? "pending" : "failed";
  if (auto r = db_->Execute(
          "UPDATE webhook_outbox SET attempts = attempts + 1, state = ?, next_attempt = ?, last_status = ?, last_error = ? "
          "WHERE id = ?",
          state, a.next_attempt, a.status, a.error, id);
      !r)
    return Storage("cannot update the webhook outbox", r.error().message);
  return {};
}

Result<std::vector<Store::OutboxRow>> SqliteStore::ListWebhookDeliveries(const std::string& webhook_id, std::size_t limit) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(
      "SELECT o.id, o.event_id, COALESCE(e.type, ''), o.state, o.attempts, o.last_status, o.last_error, o.created_at, "
      "o.next_attempt FROM webhook_outbox o LEFT JOIN events e ON e.id = o.event_id WHERE o.webhook_id = ? "
      "ORDER BY o.id DESC LIMIT ?",
      webhook_id, limit),
      [](const Stmt& r) {
        return OutboxRow{r.Int(0), r.Int(1), r.Text(2), r.Text(3), static_cast<int>(r.Int(4)), static_cast<int>(r.Int(5)),
                         r.Text(6), r.Int(7), r.Int(8)};
      },
      "cannot list webhook deliveries");
}

Result<int64_t> SqliteStore::WebhookBacklog() {
  std::lock_guard lock(mu_);
  auto q = db_->Query("SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'");
  if (!q) return q.error();
  if (!q->Step()) return Storage("cannot read the webhook outbox", q->error());
  return q->Int(0);
}

}  // namespace kurier::store::sqlite
