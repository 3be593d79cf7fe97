// db_copy.cpp - `kurier db copy --from kurier.toml --to postgresql://...`: moves an SQLite installation
// into a PostgreSQL database (issue 16, "moving up"): every table of the store (accounts, credentials,
// keys, domains, templates, events, suppressions, webhooks and their outbox, ...) row by row with its
// ids, then every message still in the spool with its recipients' states, then the counts of both sides
// compared. The source must not be serving (nothing may arrive or leave during the copy).
//
// Resumable: each batch of rows commits together with how far its table got (table kurier_copy_progress
// in the target), so a copy that was stopped (Ctrl-C, a lost connection) goes on from its last batch
// when run again; spooled messages already in the target are skipped. The progress table is dropped once
// the counts agree. A database that already holds accounts and no copy in progress is refused: the copy
// fills a new database, it never merges two installations.
//
// Values travel as text parameters (PostgreSQL's input functions parse them: SQLite's 0/1 into BOOLEAN,
// integers into BIGINT); the identity sequences are moved past the copied ids at the end.
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "app/admin_commands.hpp"
#include "app/app.hpp"
#include "app/control.hpp"
#include "app/progress.hpp"
#include "common/config.hpp"
#include "spool/postgres/pg_spool_storage.hpp"
#include "spool/sqlite/sqlite_spool_storage.hpp"
#include "store/postgres/pg_db.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace kurier::app {

namespace {

namespace pg = store::pg;
using store::sqlite::Db;

/// The store's tables, parents before the tables whose foreign keys name them. A table on either side
/// that is not here stops the copy (so a table added later cannot be left behind silently).
const std::vector<std::string> kTables = {
    "accounts", "sender_domains", "smtp_credentials", "api_keys", "domains", "dkim_keys", "idempotency", "templates",
    "template_versions", "suppressions", "webhooks", "events", "webhook_outbox", "journal_positions", "contacts", "lists",
    "list_members", "campaigns"};
/// Tables that are not the store's data: SQLite's migration record, PostgreSQL's schema versions, the
/// spool (copied through its storage interface) and this copy's own progress.
bool NotStoreData(const std::string& t) {
  return t == "schema_migrations" || t == "kurier_schema" || t == "kurier_copy_progress" || t.rfind("spool_", 0) == 0 ||
         t.rfind("sqlite_", 0) == 0;
}

constexpr std::size_t kMaxParams = 30000;  // per INSERT (the protocol allows 65535)
constexpr std::size_t kSpoolBatch = 100;   // messages per transaction

std::string Quoted(const std::string& identifier) { return "\"" + identifier + "\""; }

template <typename T>
T OrFailWith(Result<T> r, const std::string& what) {
  if (!r) Fail(what + ": " + r.error().message);
  return std::move(r.value());
}

std::unique_ptr<Db> OpenSqlite(const std::filesystem::path& path) {
  auto db = Db::Open(path, store::sqlite::Durability::kNormal);
  if (!db) Fail("cannot open " + path.string() + ": " + db.error().message);
  return std::move(db.value());
}

/// One query's single integer (a count) from SQLite.
int64_t SqliteInt(Db& db, const std::string& sql) {
  auto q = OrFailWith(db.Prepare(sql), "cannot read the SQLite store");
  if (!q.Step()) Fail("cannot read the SQLite store: " + (q.ok() ? std::string("no row for ") + sql : q.error()));
  return q.Int(0);
}

std::vector<std::string> SqliteTables(Db& db) {
  auto q = OrFailWith(db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
                      "cannot list the SQLite store's tables");
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  return out;
}

std::vector<std::string> SqliteColumns(Db& db, const std::string& table) {
  auto q = OrFailWith(db.Prepare("PRAGMA table_info(" + Quoted(table) + ")"), "cannot read the columns of " + table);
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(1));
  return out;
}

/// Column name -> PostgreSQL data type ("bigint", "text", "boolean", "bytea") of `table` in the target.
std::map<std::string, std::string> PgColumns(pg::Connection& c, const std::string& table) {
  auto r = c.Exec("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
                  "AND table_name = $1",
                  {table});
  std::map<std::string, std::string> out;
  for (int i = 0; i < r.Rows(); ++i) out.emplace(r.Text(i, 0), r.Text(i, 1));
  return out;
}

/// Refuses a copy between schemas whose tables differ from kTables: the copy would lose what it does not know.
void CheckTables(Db& source, pg::Connection& target) {
  const std::set<std::string> known(kTables.begin(), kTables.end());
  for (const auto& t : SqliteTables(source))
    if (!NotStoreData(t) && !known.count(t))
      Fail("the SQLite store has a table '" + t + "' this kurier's db copy does not know; it would be lost. "
           "Copy with the kurier version that made the store");
  auto r = target.Exec("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()");
  std::set<std::string> in_target;
  for (int i = 0; i < r.Rows(); ++i) in_target.emplace(r.Text(i, 0));
  for (const auto& t : in_target)
    if (!NotStoreData(t) && !known.count(t))
      Fail("the PostgreSQL database has a table '" + t + "' this kurier's db copy does not know; copy with the kurier "
           "version of its schema");
  for (const auto& t : kTables)
    if (!in_target.count(t)) Fail("the PostgreSQL database has no table '" + t + "': run 'kurier db migrate' with its URL");
}

std::string HexBytea(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out = "\\x";
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

/// Copies the rows of `table` after the progress recorded for it, in batches that each commit with the
/// new progress.
void CopyTable(Db& source, pg::Connection& target, const std::string& table) {
  const auto columns = SqliteColumns(source, table);
  const auto pg_columns = PgColumns(target, table);
  std::string names;
  for (const auto& col : columns) {
    if (!pg_columns.count(col))
      Fail("column '" + col + "' of table '" + table + "' has no place in the PostgreSQL schema: run 'kurier db migrate' "
           "with this kurier's version, then db copy again");
    names += (names.empty() ? "" : ", ") + Quoted(col);
  }
  auto progress = target.Exec("SELECT last_rowid, copied FROM kurier_copy_progress WHERE name = $1", {table});
  int64_t last = progress.Rows() ? progress.Int(0, 0) : 0;
  int64_t copied = progress.Rows() ? progress.Int(0, 1) : 0;
  const int64_t total = SqliteInt(source, "SELECT count(*) FROM " + Quoted(table));
  Progress bar("copying " + table, static_cast<std::size_t>(total));
  const std::size_t batch = std::max<std::size_t>(1, std::min<std::size_t>(1000, kMaxParams / columns.size()));
  auto read = OrFailWith(source.Prepare("SELECT rowid, " + names + " FROM " + Quoted(table) +
                                        " WHERE rowid > ? ORDER BY rowid LIMIT " + std::to_string(batch)),
                         "cannot read table " + table);
  for (;;) {
    read.Reset();
    read.Bind(1, last);
    std::vector<pg::Param> params;
    std::string values;
    std::size_t rows = 0;
    while (read.Step()) {
      last = read.Int(0);
      values += rows++ ? ", (" : "(";
      for (std::size_t i = 0; i < columns.size(); ++i) {
        const int col = static_cast<int>(i) + 1;
        if (read.IsNull(col)) {
          params.emplace_back(std::nullopt);
        } else {
          auto text = read.Text(col);
          params.emplace_back(pg_columns.at(columns[i]) == "bytea" ? HexBytea(text) : std::move(text));
        }
        values += (i ? ", $" : "$") + std::to_string(params.size());
      }
      values += ")";
    }
    if (!read.ok()) Fail("cannot read table " + table + ": " + read.error());
    if (rows == 0) break;
    pg::Transaction tx(target);
    target.Exec("INSERT INTO " + Quoted(table) + "(" + names + ") VALUES " + values, params);
    copied += static_cast<int64_t>(rows);
    target.Exec("INSERT INTO kurier_copy_progress(name, last_rowid, copied) VALUES($1, $2, $3) ON CONFLICT (name) "
                "DO UPDATE SET last_rowid = EXCLUDED.last_rowid, copied = EXCLUDED.copied",
                {table, std::to_string(last), std::to_string(copied)});
    tx.Commit();
    bar.Update(static_cast<std::size_t>(copied));
  }
}

/// Moves every identity sequence past the largest copied id, so the target's next row gets a new one.
void AdvanceSequences(pg::Connection& target) {
  auto r = target.Exec("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
                       "current_schema() AND is_identity = 'YES'");
  for (int i = 0; i < r.Rows(); ++i) {
    const std::string table(r.Text(i, 0)), column(r.Text(i, 1));
    target.Exec("SELECT setval(pg_get_serial_sequence($1, $2), (SELECT COALESCE(max(" + Quoted(column) + "), 0) + 1 FROM " +
                    Quoted(table) + "), false)",
                {Quoted(table), column});
  }
}

/// One transaction of the target spool: `messages` in, then `changes`; exits saying `what` failed otherwise.
void CommitSpool(spool::SpoolStorage& target, const std::vector<const spool::SpoolMessage*>& messages,
                 const spool::SpoolChanges& changes, const std::string& what) {
  Result<void> done = target.Begin(true);
  if (done) done = target.Insert(messages);
  if (done) done = target.Apply(changes);
  if (done) done = target.Commit();
  if (done) return;
  target.Rollback();
  Fail(what + ": " + done.error().message + " (run db copy again to go on)");
}

/// Every message of the SQLite spool not yet in the target, with its recipients' states, and the
/// suspended destinations. Returns the number of messages copied now.
int64_t CopySpool(const Config& from, const std::string& url, const std::string& node) {
  auto source = OrFailWith(spool::SqliteSpoolStorage::Open(from.spool_path, true), "cannot open the SQLite spool");
  auto target = OrFailWith(spool::PgSpoolStorage::Open(url, 2, /*migrate=*/true, node), "cannot open the PostgreSQL spool");
  auto ids_db = OpenSqlite(from.spool_path);
  std::vector<std::string> ids;
  {
    auto q = OrFailWith(ids_db->Prepare("SELECT id FROM messages ORDER BY rowid"), "cannot list the spool");
    while (q.Step()) ids.push_back(q.Text(0));
    if (!q.ok()) Fail("cannot list the spool: " + q.error());
  }
  Progress bar("copying the queue", ids.size());
  int64_t copied = 0;
  for (std::size_t start = 0; start < ids.size(); start += kSpoolBatch) {
    std::vector<spool::SpoolMessage> messages;
    spool::SpoolChanges states;
    for (std::size_t i = start; i < std::min(ids.size(), start + kSpoolBatch); ++i) {
      if (OrFailWith(target->Get(ids[i]), "cannot read the PostgreSQL spool")) continue;  // copied by an earlier run
      auto m = OrFailWith(source->Get(ids[i]), "cannot read message " + ids[i] + " of the SQLite spool");
      if (!m) continue;  // delivered meanwhile (the source is not serving, so this does not happen)
      for (const auto& s : m->states)
        states.updates.push_back({s.message_id, s.idx, s.status, s.attempts, s.next_attempt, s.last_reply});
      messages.push_back(std::move(*m));
    }
    if (!messages.empty()) {
      std::vector<const spool::SpoolMessage*> pointers;
      for (const auto& m : messages) pointers.push_back(&m);
      CommitSpool(*target, pointers, states, "cannot write the queue into PostgreSQL");
      copied += static_cast<int64_t>(messages.size());
    }
    bar.Update(std::min(ids.size(), start + kSpoolBatch));
  }
  spool::SpoolChanges suspensions;
  for (auto& d : OrFailWith(source->SuspendedDomains(), "cannot read the suspended destinations"))
    suspensions.suspensions.emplace_back(std::move(d), true);
  if (!suspensions.suspensions.empty()) CommitSpool(*target, {}, suspensions, "cannot copy the suspended destinations");
  return copied;
}

/// Both sides' counts, table by table and for the queue; false when any differs.
bool Verify(Db& source, pg::Connection& target, const Config& from, const std::string& url) {
  std::cout << "table                    sqlite  postgresql\n";
  bool same = true;
  auto line = [&](const std::string& what, int64_t a, int64_t b) {
    char row[160];
    std::snprintf(row, sizeof row, "%-20s %10lld  %10lld  %s\n", what.c_str(), static_cast<long long>(a),
                  static_cast<long long>(b), a == b ? "ok" : "DIFFERENT");
    std::cout << row;
    same = same && a == b;
  };
  for (const auto& t : kTables)
    line(t, SqliteInt(source, "SELECT count(*) FROM " + Quoted(t)),
         target.Exec("SELECT count(*) FROM " + Quoted(t)).Int(0, 0));
  auto src = OrFailWith(spool::SqliteSpoolStorage::Open(from.spool_path, true), "cannot open the SQLite spool");
  auto dst = OrFailWith(spool::PgSpoolStorage::Open(url, 1, false), "cannot open the PostgreSQL spool");
  line("queued messages", OrFailWith(src->Count(), "cannot count the SQLite spool"),
       OrFailWith(dst->Count(), "cannot count the PostgreSQL spool"));
  return same;
}

struct CopyOptions {
  std::string from, to, to_password_file;
};

/// The target as a configuration: the source's with the store moved to `to` (a URL, or the store.url of
/// the configuration file `to`).
Config TargetConfig(const Config& from, const CopyOptions& o) {
  const bool url = o.to.rfind("postgresql://", 0) == 0 || o.to.rfind("postgres://", 0) == 0;
  if (!url) {
    Config to = LoadConfigOrExit(o.to);
    if (to.store_backend != "postgresql")
      Fail(o.to + " has no store.url: give --to postgresql://USER@HOST/DB, or a configuration whose store.url is set");
    return to;
  }
  Config to = from;
  to.store_backend = "postgresql";
  to.store_url = o.to;
  to.store_password_file = o.to_password_file;
  return to;
}

void Copy(const CopyOptions& o) {
  const Config from = LoadConfigOrExit(o.from);
  if (from.store_backend != "sqlite")
    Fail(o.from + " already keeps its store in PostgreSQL (store.url): --from takes an SQLite installation's configuration");
  if (SendControl(from.control_socket, "status", ""))
    Fail("kurier serve is running on " + from.data_dir.string() + " (its control socket answers): stop it first, so "
         "that no message arrives or leaves while the copy runs");
  OpenStoreOrExit(from, false, true).reset();  // brings the SQLite store's schema up to date
  const Config to = TargetConfig(from, o);
  const std::string url = OrFailWith(StoreLocation(to), "store.url");
  OrFailWith(OpenConfiguredStore(to, false, /*migrate=*/true), "cannot prepare the PostgreSQL database").reset();

  OrFailWith(spool::PgSpoolStorage::Open(url, 1, /*migrate=*/true, to.node_name), "cannot prepare the PostgreSQL spool").reset();
  auto opened = OpenSqlite(from.sqlite_path);
  Db& source = *opened;
  pg::Connection target = [&] {
    try {
      return pg::Connection::Open(url);
    } catch (const pg::PgError& e) {
      Fail(e.what());
    }
  }();
  try {
    CheckTables(source, target);
    const bool resuming = target.Exec("SELECT to_regclass('kurier_copy_progress') IS NOT NULL").Text(0, 0) == "t";
    if (!resuming && (target.Exec("SELECT EXISTS(SELECT 1 FROM accounts)").Text(0, 0) == "t" ||
                      target.Exec("SELECT EXISTS(SELECT 1 FROM spool_messages)").Text(0, 0) == "t"))
      Fail(target.Describe() + " already holds accounts or queued mail, and no copy into it is in progress: db copy fills a "
           "new database (createdb NAME, then --to postgresql://USER@HOST/NAME); it does not merge installations");
    target.Script("CREATE TABLE IF NOT EXISTS kurier_copy_progress(name TEXT PRIMARY KEY, last_rowid BIGINT NOT NULL, "
                  "copied BIGINT NOT NULL)");
    std::cerr << (resuming ? "resuming the copy of " : "copying ") << from.data_dir.string() << " into "
              << target.Describe() << "\n";
    for (const auto& t : kTables) CopyTable(source, target, t);
    AdvanceSequences(target);
    const int64_t messages = CopySpool(from, url, to.node_name);
    std::cerr << "queue: " << messages << " message(s) copied now\n";
    if (!Verify(source, target, from, url))
      Fail("the counts differ (above): the copy is incomplete; run db copy again to go on from where it stopped");
    target.Script("DROP TABLE kurier_copy_progress");
  } catch (const pg::PgError& e) {
    Fail(std::string("the copy stopped: ") + e.what() + " (what was committed stays; run db copy again to go on)");
  }
  std::cout << "copied " << from.data_dir.string() << " into " << target.Describe() << ".\nNext: set store.url (and "
            << "store.password_file) in " << from.file.string() << " and start kurier serve; secret.key and the DKIM "
            << "keys stay files in " << from.data_dir.string() << ": every other node needs a copy of them (docs/cluster.md)\n";
}

}  // namespace

void AddDbCopyCommand(CLI::App* db, std::string& config_path) {
  static CopyOptions options;
  auto* copy = db->add_subcommand("copy", "Copy an SQLite installation (store and queued mail) into a new PostgreSQL database");
  copy->add_option("--from", options.from, "The SQLite installation's configuration file (default: --config's)");
  copy->add_option("--to", options.to, "postgresql://USER@HOST[:PORT]/DB, or a configuration file whose store.url is set")
      ->required();
  copy->add_option("--to-password-file", options.to_password_file,
                   "A file holding the PostgreSQL password (else the URL's, PGPASSWORD or ~/.pgpass)");
  AddConfigOption(copy, config_path);
  copy->callback([&] {
    if (options.from.empty()) options.from = config_path;
    Copy(options);
  });
}

}  // namespace kurier::app
