// pg_spool_storage.cpp - the spool on PostgreSQL (pg_spool_storage.hpp), the twin of
// sqlite/sqlite_spool_storage.cpp: the same rows, the same states, the same results.
//
// STANDARDS: PostgreSQL 15 (bytea hex and escape formats, array literals, PL/pgSQL, SET LOCAL).
// SECURITY: stores what clients sent, unchanged apart from the headers kurier adds; every value travels as
// a statement parameter. What came off the wire unchecked (message bodies, HELO names, envelope addresses,
// remote replies) is stored as bytea, byte for byte: a text column would refuse a NUL or invalid UTF-8,
// and with it the whole batch of other clients' messages.
// Durability: see the header. A failed statement or COMMIT is reported, never thrown: the spool then
// rolls back and acknowledges none of the batch's messages.
#include "spool/postgres/pg_spool_storage.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#include "common/ids.hpp"
#include "spool/message_state.hpp"
#include "store/postgres/pg_db.hpp"
#include "store/postgres/pg_pool.hpp"

namespace kurier::spool {

namespace pg = store::pg;
using pg::Param;

namespace {

// Today's schema in one step (the SQLite backend's 7 migrations, consolidated). Times are microseconds
// since the epoch, as in SQLite. The tables share a database with the store's, hence the prefix. Ids and
// states sort as bytes (COLLATE "C"), as SQLite's TEXT does, whatever the database's locale.
constexpr const char* kSchema1 = R"(
CREATE TABLE spool_messages (
  id text COLLATE "C" PRIMARY KEY, received_at bigint NOT NULL, account text NOT NULL, credential text NOT NULL,
  client_ip text NOT NULL, helo bytea NOT NULL, tls_version text NOT NULL, tls_cipher text NOT NULL,
  mail_from bytea NOT NULL, body_type text NOT NULL, smtputf8 boolean NOT NULL, size bigint NOT NULL,
  data bytea NOT NULL, not_before bigint NOT NULL DEFAULT 0, tags text NOT NULL DEFAULT '[]',
  metadata text NOT NULL DEFAULT '{}', track_opens boolean, track_clicks boolean, list_unsubscribe boolean,
  option_fields_in_data boolean NOT NULL DEFAULT false, test_mode boolean NOT NULL DEFAULT false);
CREATE INDEX spool_messages_arrival ON spool_messages (received_at, id, not_before);
CREATE TABLE spool_recipients (
  message_id text COLLATE "C" NOT NULL, idx integer NOT NULL, address bytea NOT NULL,
  status text COLLATE "C" NOT NULL DEFAULT 'queued', domain bytea NOT NULL DEFAULT ''::bytea,
  attempts integer NOT NULL DEFAULT 0, next_attempt bigint NOT NULL DEFAULT 0,
  last_reply bytea NOT NULL DEFAULT ''::bytea, PRIMARY KEY (message_id, idx));
CREATE INDEX spool_recipients_pending ON spool_recipients (status, next_attempt);
CREATE TABLE spool_suspended_domains (domain bytea PRIMARY KEY, since bigint NOT NULL);
-- Delivery results in the order they were given, with SQLite's per-update steps (a message whose
-- recipients are all final leaves with the update that made them so), in one round trip.
CREATE FUNCTION spool_apply_updates(p_ids text[], p_idxs integer[], p_statuses text[], p_attempts integer[],
                                    p_next bigint[], p_replies bytea[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
    UPDATE spool_recipients SET status = p_statuses[i], attempts = p_attempts[i], next_attempt = p_next[i],
                                last_reply = p_replies[i]
      WHERE message_id = p_ids[i] AND idx = p_idxs[i];
    IF p_statuses[i] <> 'queued' AND NOT EXISTS
        (SELECT 1 FROM spool_recipients WHERE message_id = p_ids[i] AND status = 'queued') THEN
      DELETE FROM spool_messages WHERE id = p_ids[i];
      DELETE FROM spool_recipients WHERE message_id = p_ids[i];
    END IF;
  END LOOP;
END
$$;
)";

// A statement holds at most this many rows or about this many bytes of parameters (PostgreSQL allows
// 65535 parameters and 1 GB per message); a bigger batch takes several statements in its transaction.
constexpr std::size_t kRowsPerStatement = 1000;
constexpr std::size_t kBytesPerStatement = std::size_t{32} << 20;

constexpr const char* kDigits = "0123456789abcdef";

// bytea in the hex input format ("\x0a1b...").
std::string Bytea(std::string_view bytes) {
  std::string out;
  out.reserve(2 + bytes.size() * 2);
  out += "\\x";
  for (unsigned char ch : bytes) {
    out.push_back(kDigits[ch >> 4]);
    out.push_back(kDigits[ch & 15]);
  }
  return out;
}

int HexValue(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// A bytea value as the server sends it in text: the hex format ("\x..."), or the escape format
// ("\\" and "\ooo") when the server's bytea_output says so.
}  // namespace

std::string FromBytea(std::string_view text) {
  std::string out;
  if (text.size() >= 2 && text[0] == '\\' && text[1] == 'x') {
    out.reserve((text.size() - 2) / 2);
    for (std::size_t i = 2; i + 1 < text.size(); i += 2) {
      const int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
      if (hi < 0 || lo < 0) throw pg::PgError("the server sent a bytea value that is not hex: report this as a bug", "");
      out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
    } else if (i + 1 < text.size() && text[i + 1] == '\\') {
      out.push_back('\\'), ++i;
    } else if (i + 3 < text.size()) {
      out.push_back(static_cast<char>(((text[i + 1] - '0') << 6) | ((text[i + 2] - '0') << 3) | (text[i + 3] - '0')));
      i += 3;
    }
  }
  return out;
}

std::string ArrayOf(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1) out.push_back(',');
    out.push_back('"');
    for (char ch : item) {
      if (ch == '"' || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

namespace {

Param Int(int64_t v) { return std::to_string(v); }
Param Bool(bool v) { return std::string(v ? "t" : "f"); }
Param Flag(const std::optional<bool>& v) { return v ? Bool(*v) : std::nullopt; }
std::optional<bool> ReadFlag(const pg::Result& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  return r.Text(row, col) == "t";
}
std::string Str(const pg::Result& r, int row, int col) { return std::string(r.Text(row, col)); }
std::string Bytes(const pg::Result& r, int row, int col) { return FromBytea(r.Text(row, col)); }

// The rows of one multi-row INSERT: "($1::text,$2::bigint),($3::text,$4::bigint)" and their parameters.
class Rows {
 public:
  explicit Rows(std::vector<const char*> types) : types_(std::move(types)) {}
  void Add(std::vector<Param> row) {
    sql_ += rows_ ? ",(" : "(";
    for (std::size_t i = 0; i < row.size(); ++i) {
      bytes_ += row[i] ? row[i]->size() : 0;
      params_.push_back(std::move(row[i]));
      sql_ += (i ? ",$" : "$") + std::to_string(params_.size()) + "::" + types_[i];
    }
    sql_ += ')';
    ++rows_;
  }
  bool Full() const { return rows_ >= kRowsPerStatement || bytes_ >= kBytesPerStatement; }
  /// Runs `insert` + the rows, if there are any, and starts again empty.
  void Flush(pg::Connection& c, const std::string& insert, const std::string& suffix = "") {
    if (rows_ == 0) return;
    c.Exec(insert + sql_ + suffix, params_);
    sql_.clear(), params_.clear(), rows_ = 0, bytes_ = 0;
  }

 private:
  std::vector<const char*> types_;
  std::string sql_;
  std::vector<Param> params_;
  std::size_t rows_ = 0, bytes_ = 0;
};

void InsertMessages(pg::Connection& c, const std::vector<const SpoolMessage*>& messages, const std::string& owner) {
  const std::string insert =
      "INSERT INTO spool_messages (id, received_at, account, credential, client_ip, helo, tls_version, tls_cipher, "
      "mail_from, body_type, smtputf8, size, data, not_before, tags, metadata, track_opens, track_clicks, "
      "list_unsubscribe, test_mode, owner) VALUES ";
  Rows rows({"text", "bigint", "text", "text", "text", "bytea", "text", "text", "bytea", "text", "boolean", "bigint",
             "bytea", "bigint", "text", "text", "boolean", "boolean", "boolean", "boolean", "text"});
  for (const SpoolMessage* p : messages) {
    const SpoolMessage& s = *p;
    rows.Add({s.id, Int(s.received_at), s.account, s.credential, s.client_ip, Bytea(s.helo), s.tls_version,
              s.tls_cipher, Bytea(s.mail_from), s.body_type, Bool(s.smtputf8), Int(static_cast<int64_t>(s.data.size())),
              Bytea(s.data), Int(s.not_before), s.tags, s.metadata, Flag(s.options.track_opens),
              Flag(s.options.track_clicks), Flag(s.options.list_unsubscribe), Bool(s.options.test), owner});
    if (rows.Full()) rows.Flush(c, insert);
  }
  rows.Flush(c, insert);
}

// The campaign sends of the batch (SpoolMessage::campaign_id), in its transaction. The runner asks
// CampaignSent before it builds a message, so a row is never there already; DO NOTHING keeps a bug from
// failing the other messages of the batch.
void InsertCampaignSends(pg::Connection& c, const std::vector<const SpoolMessage*>& messages) {
  const std::string insert = "INSERT INTO spool_campaign_sends (campaign_id, contact_id, message_id, sent_at) VALUES ";
  Rows rows({"text", "bigint", "text", "bigint"});
  for (const SpoolMessage* p : messages) {
    if (p->campaign_id.empty()) continue;
    rows.Add({p->campaign_id, Int(p->contact_id), p->id, Int(p->received_at)});
    if (rows.Full()) rows.Flush(c, insert, " ON CONFLICT DO NOTHING");
  }
  rows.Flush(c, insert, " ON CONFLICT DO NOTHING");
}

void InsertRecipients(pg::Connection& c, const std::vector<const SpoolMessage*>& messages) {
  const std::string insert = "INSERT INTO spool_recipients (message_id, idx, address, domain, next_attempt) VALUES ";
  Rows rows({"text", "integer", "bytea", "bytea", "bigint"});
  for (const SpoolMessage* p : messages) {
    const SpoolMessage& s = *p;
    for (std::size_t i = 0; i < s.recipients.size(); ++i) {
      rows.Add({s.id, Int(static_cast<int64_t>(i)), Bytea(s.recipients[i]), Bytea(RecipientDomain(s.recipients[i])),
                Int(std::max(s.received_at, s.not_before))});
      if (rows.Full()) rows.Flush(c, insert);
    }
  }
  rows.Flush(c, insert);
}

// A message's state (spool/message_state.hpp) in SQL, over the spool_messages row `m` at `now` (a
// parameter): as SqliteSpoolStorage's MessageStateSql, from RecipientStatus and MessageStatus.
std::string MessageStateSql(const std::string& now) {
  const std::string recipient =
      "CASE WHEN r.status <> 'queued' THEN r.status WHEN r.attempts > 0 THEN 'deferred' "
      "WHEN m.not_before > " + now + " THEN 'scheduled' ELSE 'queued' END";
  return "(SELECT CASE WHEN COUNT(*) = 0 THEN 'queued' WHEN MIN(" + recipient + ") = MAX(" + recipient + ") THEN MIN(" +
         recipient + ") ELSE 'mixed' END FROM spool_recipients r WHERE r.message_id = m.id)";
}

constexpr const char* kColumns =
    "m.id, m.received_at, m.account, m.credential, m.client_ip, m.helo, m.tls_version, m.tls_cipher, m.mail_from, "
    "m.body_type, m.smtputf8, m.size, m.not_before, m.tags, m.metadata, m.track_opens, m.track_clicks, "
    "m.list_unsubscribe, m.option_fields_in_data, m.test_mode";

SpoolMessage RowToMessage(const pg::Result& r, int row, bool with_data) {
  SpoolMessage s;
  s.id = Str(r, row, 0);
  s.received_at = r.Int(row, 1);
  s.account = Str(r, row, 2);
  s.credential = Str(r, row, 3);
  s.client_ip = Str(r, row, 4);
  s.helo = Bytes(r, row, 5);
  s.tls_version = Str(r, row, 6);
  s.tls_cipher = Str(r, row, 7);
  s.mail_from = Bytes(r, row, 8);
  s.body_type = Str(r, row, 9);
  s.smtputf8 = r.Text(row, 10) == "t";
  s.size = static_cast<std::size_t>(r.Int(row, 11));
  s.not_before = r.Int(row, 12);
  s.tags = Str(r, row, 13);
  s.metadata = Str(r, row, 14);
  s.options.track_opens = ReadFlag(r, row, 15);
  s.options.track_clicks = ReadFlag(r, row, 16);
  s.options.list_unsubscribe = ReadFlag(r, row, 17);
  s.option_fields_in_data = r.Text(row, 18) == "t";
  s.options.test = r.Text(row, 19) == "t";
  if (with_data) s.data = Bytes(r, row, 20);
  return s;
}

std::vector<SpoolMessage> Messages(const pg::Result& r, bool with_data) {
  std::vector<SpoolMessage> out;
  out.reserve(static_cast<std::size_t>(r.Rows()));
  for (int i = 0; i < r.Rows(); ++i) out.push_back(RowToMessage(r, i, with_data));
  return out;
}

// The recipients of `messages` (with their states), in one query.
void ReadRecipients(pg::Connection& c, std::vector<SpoolMessage>& messages) {
  if (messages.empty()) return;
  std::map<std::string, SpoolMessage*, std::less<>> by_id;
  std::vector<std::string> ids;
  for (auto& m : messages) by_id.emplace(m.id, &m), ids.push_back(m.id);
  pg::Result r = c.Exec(
      "SELECT message_id, idx, address, domain, status, attempts, next_attempt, last_reply FROM spool_recipients "
      "WHERE message_id = ANY($1::text[]) ORDER BY message_id, idx",
      {ArrayOf(ids)});
  for (int i = 0; i < r.Rows(); ++i) {
    auto it = by_id.find(r.Text(i, 0));
    if (it == by_id.end()) continue;
    SpoolMessage& m = *it->second;
    m.recipients.push_back(Bytes(r, i, 2));
    m.states.push_back(RecipientState{m.id, static_cast<int>(r.Int(i, 1)), m.recipients.back(), Bytes(r, i, 3),
                                      Str(r, i, 4), static_cast<int>(r.Int(i, 5)), r.Int(i, 6), Bytes(r, i, 7),
                                      m.received_at});
  }
}

// Reads of more than one statement see one snapshot, as a commit in between would otherwise show.
constexpr const char* kReadSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

Error StorageError(const std::string& what, const std::exception& e, const char* todo) {
  std::string why = e.what();  // libpq's messages span lines ("server closed the connection\n\tThis ...")
  for (char& ch : why)
    if (ch == '\n' || ch == '\t') ch = ' ';
  while (why.find("  ") != std::string::npos) why.replace(why.find("  "), 2, " ");
  if (!why.empty() && why.back() == '.') why.pop_back();
  return MakeError(ErrorCode::kStorage, "the PostgreSQL spool could not " + what + ": " + why + "; " + todo);
}

constexpr const char* kReadTodo = "check that the PostgreSQL server in store.url runs and accepts this node, then retry";
constexpr const char* kCommitTodo =
    "the server may or may not have committed it, but none of its messages were acknowledged (their senders retry, "
    "so one may be spooled twice); check that the PostgreSQL server in store.url runs and accepts this node (its "
    "log says more)";
constexpr const char* kWriteTodo =
    "the batch was rolled back and none of its messages acknowledged (their senders retry); check that the "
    "PostgreSQL server in store.url runs and accepts this node (its log says more)";

// Runs `f` on a pooled connection; nothing it throws leaves (it becomes the error). A read on a
// connection the server dropped since its last use (restart, fail-over, terminated backend) is run again
// on another: the pool drops the lost one, and after a restart every idle one may be lost.
template <typename T, typename F>
Result<T> Read(pg::Pool& pool, std::size_t pool_size, const std::string& what, F&& f) {
  for (std::size_t attempt = 0;; ++attempt) {
    try {
      auto lease = pool.Acquire();
      try {
        return f(*lease);
      } catch (const pg::PgError&) {
        if (attempt >= pool_size || lease->Healthy()) throw;
      }
    } catch (const std::exception& e) {
      return StorageError(what, e, kReadTodo);
    }
  }
}

}  // namespace

// 2: several nodes: each message belongs to one node (the one that accepted it, or took it over), and the
// nodes heartbeat (pg_cluster.cpp)
constexpr const char* kSchema2 = R"(
ALTER TABLE spool_messages ADD COLUMN owner text COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX spool_messages_owner ON spool_messages (owner);
CREATE TABLE spool_nodes (
  name text COLLATE "C" PRIMARY KEY, instance text NOT NULL, hostname text NOT NULL, started_at bigint NOT NULL,
  heartbeat_at bigint NOT NULL, draining boolean NOT NULL DEFAULT false, leader boolean NOT NULL DEFAULT false);
)";

// 3: `queue retry` through a node that does not own the message, for its owner to take (pg_cluster.cpp)
constexpr const char* kSchema3 = R"(
CREATE TABLE spool_retry_requests (
  message_id text COLLATE "C" PRIMARY KEY REFERENCES spool_messages (id) ON DELETE CASCADE,
  requested_at bigint NOT NULL);
)";

// 4: the contacts each campaign has sent to, written with the message (exactly once across crashes)
constexpr const char* kSchema4 = R"(
CREATE TABLE spool_campaign_sends (
  campaign_id text COLLATE "C" NOT NULL, contact_id bigint NOT NULL, message_id text NOT NULL, sent_at bigint NOT NULL,
  PRIMARY KEY (campaign_id, contact_id));
)";

pg::MigrationSet PgSpoolStorage::Migrations() { return pg::MigrationSet{"spool", {kSchema1, kSchema2, kSchema3, kSchema4}}; }

Result<std::vector<int64_t>> PgSpoolStorage::CampaignSent(const std::string& campaign_id,
                                                          const std::vector<int64_t>& contact_ids) {
  std::string ids = "{";
  for (int64_t id : contact_ids) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
  ids += "}";
  return Read<std::vector<int64_t>>(*pool_, pool_size_, "read the campaign's sends", [&](pg::Connection& c) {
    auto r = c.Exec("SELECT contact_id FROM spool_campaign_sends WHERE campaign_id = $1 AND contact_id = ANY($2::bigint[])",
                    {campaign_id, ids});
    std::vector<int64_t> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(r.Int(i, 0));
    return out;
  });
}

Result<int64_t> PgSpoolStorage::CampaignSentCount(const std::string& campaign_id) {
  return Read<int64_t>(*pool_, pool_size_, "count the campaign's sends", [&](pg::Connection& c) {
    return static_cast<int64_t>(c.Exec("SELECT count(*) FROM spool_campaign_sends WHERE campaign_id = $1", {campaign_id}).Int(0, 0));
  });
}

Result<std::unique_ptr<PgSpoolStorage>> PgSpoolStorage::Open(const std::string& url, std::size_t pool_size,
                                                            bool migrate, const std::string& node) {
  try {
    auto writer = std::make_unique<pg::Connection>(pg::Connection::Open(url));
    if (migrate) {
      pg::Migrate(*writer, Migrations());
    } else if (std::string problem = pg::CheckSchema(*writer, Migrations()); !problem.empty()) {
      return MakeError(ErrorCode::kConfig, problem);
    }
    std::unique_ptr<PgSpoolStorage> out(new PgSpoolStorage(url, std::move(writer), pool_size));
    out->node_ = node;
    out->instance_ = RandomToken(9);
    return out;
  } catch (const pg::PgError& e) {
    // Without a SQLSTATE the message already says what to do (unreachable server, newer schema).
    return MakeError(ErrorCode::kStorage,
                     std::string("cannot open the spool in PostgreSQL: ") + e.what() +
                         (e.sqlstate().empty() ? ""
                                               : "; check that store.url's user may create tables in its database, "
                                                 "or run `kurier db migrate` as the database's owner"));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kStorage, std::string("cannot open the spool in PostgreSQL: ") + e.what() +
                                              "; check store.url and the server's log");
  }
}

PgSpoolStorage::PgSpoolStorage(std::string url, std::unique_ptr<pg::Connection> writer, std::size_t pool_size)
    : url_(std::move(url)),
      writer_(std::move(writer)),
      pool_size_(std::max<std::size_t>(pool_size, 1)),
      pool_(std::make_unique<pg::Pool>(url_, pool_size_)) {}

PgSpoolStorage::~PgSpoolStorage() = default;

pg::Connection& PgSpoolStorage::Writer() {
  if (!in_tx_ || !writer_) throw pg::PgError("no spool transaction is open (Begin failed or was not called)", "");
  if (tx_failed_) throw pg::PgError("an earlier statement of this transaction failed; it can only be rolled back", "");
  return *writer_;
}

Result<void> PgSpoolStorage::Begin(bool durable) {
  in_tx_ = tx_failed_ = false;
  webhooks_in_tx_ = 0;
  const char* begin = durable ? "BEGIN; SET LOCAL synchronous_commit = on" : "BEGIN; SET LOCAL synchronous_commit = off";
  try {
    for (int attempt = 0;; ++attempt) {
      try {
        if (!writer_ || !writer_->Healthy()) writer_ = std::make_unique<pg::Connection>(pg::Connection::Open(url_));
        if (writer_->InTransaction()) writer_->Exec("ROLLBACK");
        writer_->Script(begin);
        in_tx_ = true;
        return {};
      } catch (const pg::PgError&) {
        // A connection the server dropped since the last batch (restart, fail-over, terminated backend)
        // shows it on its first statement; nothing of the batch was sent yet, so a new one may take over.
        if (attempt > 0 || !writer_ || writer_->Healthy()) throw;
        writer_.reset();
      }
    }
  } catch (const std::exception& e) {
    return StorageError("begin a transaction", e, kWriteTodo);
  }
}

Result<void> PgSpoolStorage::Insert(const std::vector<const SpoolMessage*>& messages) {
  if (messages.empty()) return {};
  try {
    pg::Connection& c = Writer();
    InsertMessages(c, messages, node_);
    InsertRecipients(c, messages);
    InsertCampaignSends(c, messages);
    return {};
  } catch (const std::exception& e) {
    tx_failed_ = true;
    return StorageError("store " + std::to_string(messages.size()) + " messages", e, kWriteTodo);
  }
}

Result<std::optional<store::MessageContext>> PgSpoolStorage::Context(const std::string& message_id) {
  try {
    pg::Result r = Writer().Exec("SELECT account, mail_from, tags, metadata FROM spool_messages WHERE id = $1", {message_id});
    if (r.Rows() == 0) return std::optional<store::MessageContext>();
    store::MessageContext c;
    c.account = Str(r, 0, 0);
    c.mail_from = Bytes(r, 0, 1);
    c.tags = Str(r, 0, 2);
    c.metadata = Str(r, 0, 3);
    return std::optional<store::MessageContext>(std::move(c));
  } catch (const std::exception& e) {
    tx_failed_ = true;
    return StorageError("read the context of message " + message_id, e, kWriteTodo);
  }
}

Result<void> PgSpoolStorage::Apply(const SpoolChanges& changes) {
  try {
    pg::Connection& c = Writer();
    if (!changes.updates.empty()) {
      std::vector<std::string> ids, idxs, statuses, attempts, next, replies;
      for (const auto& u : changes.updates) {
        ids.push_back(u.message_id), idxs.push_back(std::to_string(u.idx)), statuses.push_back(u.status);
        attempts.push_back(std::to_string(u.attempts)), next.push_back(std::to_string(u.next_attempt));
        replies.push_back(Bytea(u.last_reply));
      }
      c.Exec("SELECT spool_apply_updates($1::text[], $2::integer[], $3::text[], $4::integer[], $5::bigint[], $6::bytea[])",
             {ArrayOf(ids), ArrayOf(idxs), ArrayOf(statuses), ArrayOf(attempts), ArrayOf(next), ArrayOf(replies)});
    }
    if (!changes.deletes.empty())
      c.Exec("WITH r AS (DELETE FROM spool_recipients WHERE message_id = ANY($1::text[])) "
             "DELETE FROM spool_messages WHERE id = ANY($1::text[])",
             {ArrayOf(changes.deletes)});
    for (const auto& [domain, on] : changes.suspensions) {
      if (on)
        c.Exec("INSERT INTO spool_suspended_domains (domain, since) VALUES ($1::bytea, $2::bigint) "
               "ON CONFLICT (domain) DO NOTHING",
               {Bytea(domain), Int(NowMicros())});
      else
        c.Exec("DELETE FROM spool_suspended_domains WHERE domain = $1::bytea", {Bytea(domain)});
    }
    return {};
  } catch (const std::exception& e) {
    tx_failed_ = true;
    return StorageError("apply " + std::to_string(changes.updates.size()) + " delivery results and " +
                            std::to_string(changes.deletes.size() + changes.suspensions.size()) + " operator changes",
                        e, kWriteTodo);
  }
}

void PgSpoolStorage::SetEventWriter(EventWriter write, std::function<void(int)> committed) {
  event_writer_ = std::move(write);
  events_committed_ = std::move(committed);
}

Result<bool> PgSpoolStorage::Events(const std::vector<store::Event>& events) {
  if (!event_writer_) return false;
  try {
    auto queued = event_writer_(Writer(), events);
    if (!queued) {
      tx_failed_ = true;
      return queued.error();
    }
    webhooks_in_tx_ += queued.value();
    return true;
  } catch (const std::exception& e) {
    tx_failed_ = true;
    return StorageError("record " + std::to_string(events.size()) + " events", e, kWriteTodo);
  }
}

Result<void> PgSpoolStorage::Commit() {
  try {
    Writer().Exec("COMMIT");
    in_tx_ = false;
    if (webhooks_in_tx_ > 0 && events_committed_) events_committed_(webhooks_in_tx_);
    webhooks_in_tx_ = 0;
    return {};
  } catch (const std::exception& e) {
    tx_failed_ = true;
    return StorageError("commit a batch", e, kCommitTodo);
  }
}

void PgSpoolStorage::Rollback() {
  in_tx_ = tx_failed_ = false;
  if (!writer_) return;
  try {
    if (writer_->Healthy() && writer_->InTransaction()) writer_->Exec("ROLLBACK");
  } catch (const std::exception&) {
  }
  // A connection that is lost or still inside a transaction is replaced at the next Begin.
  if (!writer_->Healthy() || writer_->InTransaction()) writer_.reset();
}

Result<std::vector<RecipientState>> PgSpoolStorage::PendingRecipients() {
  return Read<std::vector<RecipientState>>(*pool_, pool_size_, "read the queue", [this](pg::Connection& c) {
    // This node's messages only: the others' are delivered by their nodes (TakeOver when one stops).
    pg::Result r = c.Exec(
        "SELECT r.message_id, r.idx, r.address, r.domain, r.status, r.attempts, r.next_attempt, r.last_reply, "
        "m.received_at FROM spool_recipients r JOIN spool_messages m ON m.id = r.message_id "
        "WHERE r.status = 'queued' AND m.owner = $1 ORDER BY r.message_id, r.idx",
        {node_});
    std::vector<RecipientState> out;
    out.reserve(static_cast<std::size_t>(r.Rows()));
    for (int i = 0; i < r.Rows(); ++i)
      out.push_back(RecipientState{Str(r, i, 0), static_cast<int>(r.Int(i, 1)), Bytes(r, i, 2), Bytes(r, i, 3),
                                   Str(r, i, 4), static_cast<int>(r.Int(i, 5)), r.Int(i, 6), Bytes(r, i, 7),
                                   r.Int(i, 8)});
    return out;
  });
}

Result<std::vector<SpoolMessage>> PgSpoolStorage::List(std::size_t limit) {
  return Read<std::vector<SpoolMessage>>(*pool_, pool_size_, "list the spool", [limit](pg::Connection& c) {
    pg::Transaction tx(c, kReadSnapshot);
    auto out = Messages(c.Exec(std::string("SELECT ") + kColumns + " FROM spool_messages m ORDER BY m.received_at, m.id "
                                   "LIMIT $1::bigint",
                               {Int(static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)))}),
                        false);
    ReadRecipients(c, out);
    tx.Commit();
    return out;
  });
}

Result<std::optional<SpoolMessage>> PgSpoolStorage::Get(const std::string& id) {
  return Read<std::optional<SpoolMessage>>(*pool_, pool_size_, "read message " + id, [&id](pg::Connection& c) {
    pg::Transaction tx(c, kReadSnapshot);
    auto found =
        Messages(c.Exec(std::string("SELECT ") + kColumns + ", m.data FROM spool_messages m WHERE m.id = $1", {id}), true);
    ReadRecipients(c, found);
    tx.Commit();
    return found.empty() ? std::optional<SpoolMessage>() : std::optional<SpoolMessage>(std::move(found.front()));
  });
}

Result<int64_t> PgSpoolStorage::Count() {
  return Read<int64_t>(*pool_, pool_size_, "count the spool's messages", [](pg::Connection& c) -> int64_t {
    return c.Exec("SELECT COUNT(*) FROM spool_messages").Int(0, 0);
  });
}

Result<QueueCounts> PgSpoolStorage::CountByState(int64_t now) {
  return Read<QueueCounts>(*pool_, pool_size_, "count the spool by state", [now](pg::Connection& c) {
    QueueCounts counts;
    for (const auto& state : MessageStates()) counts.by_state[state] = 0;
    pg::Result r = c.Exec("SELECT state, COUNT(*), MIN(received_at) FROM (SELECT " + MessageStateSql("$1::bigint") +
                              " AS state, m.received_at FROM spool_messages m) s GROUP BY state",
                          {Int(now)});
    for (int i = 0; i < r.Rows(); ++i) {
      const int64_t n = r.Int(i, 1), oldest = r.Int(i, 2);
      counts.by_state[Str(r, i, 0)] += n;
      counts.total += n;
      counts.oldest = counts.oldest == 0 ? oldest : std::min(counts.oldest, oldest);
    }
    return counts;
  });
}

Result<std::vector<SpoolMessage>> PgSpoolStorage::ListPage(const QueuePage& page) {
  return Read<std::vector<SpoolMessage>>(*pool_, pool_size_, "list a page of the spool", [&page](pg::Connection& c) {
    pg::Transaction tx(c, kReadSnapshot);
    auto out = Messages(
        c.Exec(std::string("SELECT ") + kColumns + " FROM spool_messages m WHERE $2::text = '' OR " +
                   MessageStateSql("$1::bigint") + " = $2::text ORDER BY m.received_at, m.id LIMIT $3::bigint",
               {Int(page.now), page.state,
                page.limit == 0 ? Param() : Int(static_cast<int64_t>(std::min<std::size_t>(page.limit, INT64_MAX)))}),
        false);
    if (page.recipients) ReadRecipients(c, out);
    tx.Commit();
    return out;
  });
}

Result<std::vector<std::string>> PgSpoolStorage::SuspendedDomains() {
  return Read<std::vector<std::string>>(*pool_, pool_size_, "read the suspended domains", [](pg::Connection& c) {
    pg::Result r = c.Exec("SELECT domain FROM spool_suspended_domains ORDER BY domain");
    std::vector<std::string> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(Bytes(r, i, 0));
    return out;
  });
}

}  // namespace kurier::spool
