// pg_db.cpp - the libpq layer (pg_db.hpp).
// STANDARDS: PostgreSQL 15 libpq (PQconnectdbParams with expand_dbname, PQexecParams, PQresultErrorField).
#include "store/postgres/pg_db.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>

namespace kurier::store::pg {

namespace {

std::string Trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

void Result::Free::operator()(pg_result* r) const { PQclear(r); }

Result::Result(pg_result* r) : r_(r) {}

int Result::Rows() const { return r_ ? PQntuples(r_.get()) : 0; }
int Result::Columns() const { return r_ ? PQnfields(r_.get()) : 0; }
bool Result::IsNull(int row, int column) const { return !r_ || PQgetisnull(r_.get(), row, column) != 0; }

std::string_view Result::Text(int row, int column) const {
  if (IsNull(row, column)) return {};
  return {PQgetvalue(r_.get(), row, column), static_cast<std::size_t>(PQgetlength(r_.get(), row, column))};
}

long long Result::Int(int row, int column) const {
  std::string_view t = Text(row, column);
  long long v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (IsNull(row, column) || ec != std::errc() || end != t.data() + t.size())
    throw PgError("column " + std::to_string(column) + " of row " + std::to_string(row) +
                      " is not an integer: the schema and the query disagree (run `kurier db migrate`)",
                  "");
  return v;
}

long long Result::Affected() const {
  if (!r_) return 0;
  const char* n = PQcmdTuples(r_.get());
  return (n && *n) ? std::stoll(n) : 0;
}

void Connection::Close::operator()(pg_conn* c) const { PQfinish(c); }

Connection::~Connection() = default;

Connection Connection::Open(const std::string& url, std::chrono::seconds connect_timeout) {
  const std::string timeout = std::to_string(std::max<long long>(1, connect_timeout.count()));
  const char* keys[] = {"dbname", "connect_timeout", "application_name", "client_encoding", nullptr};
  const char* values[] = {url.c_str(), timeout.c_str(), "kurier", "UTF8", nullptr};
  Connection c;
  c.c_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!c.c_) throw PgError("cannot connect to PostgreSQL: out of memory", "");
  const char* user = PQuser(c.c_.get());
  const char* host = PQhost(c.c_.get());
  const char* port = PQport(c.c_.get());
  const char* db = PQdb(c.c_.get());
  c.describe_ = std::string(user ? user : "") + "@" + (host ? host : "") + ":" + (port ? port : "") + "/" + (db ? db : "");
  // The server's notices ("relation already exists, skipping") go to the debug log, not to stderr.
  PQsetNoticeProcessor(
      c.c_.get(), [](void*, const char* message) { spdlog::debug("postgresql: {}", Trimmed(message)); }, nullptr);
  if (PQstatus(c.c_.get()) != CONNECTION_OK)
    throw PgError("cannot connect to PostgreSQL at " + c.describe_ + ": " + Trimmed(PQerrorMessage(c.c_.get())) +
                      " (check store.url, that the server runs and accepts this user from this host, and the "
                      "password in store.url, PGPASSWORD or PGPASSFILE)",
                  "");
  return c;
}

namespace {

// Takes ownership of `r`; throws PgError with the server's message and SQLSTATE unless it succeeded.
Result Checked(pg_conn* c, pg_result* r, std::string_view what) {
  Result owned(r);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return owned;
  std::string sqlstate = r ? Trimmed(PQresultErrorField(r, PG_DIAG_SQLSTATE)) : "";
  std::string message = r ? Trimmed(PQresultErrorMessage(r)) : Trimmed(PQerrorMessage(c));
  if (message.empty()) message = Trimmed(PQerrorMessage(c));
  std::string head(what.substr(0, 60));
  for (char& ch : head)
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  if (what.size() > 60) head += "...";
  throw PgError("PostgreSQL refused \"" + head + "\": " + message + (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")"),
                sqlstate);
}

}  // namespace

namespace {

constexpr std::size_t kMaxPrepared = 256;

// Statements worth preparing: the planned ones (not BEGIN, COMMIT, SET, DDL).
bool Preparable(std::string_view sql) {
  std::size_t i = 0;
  while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\n' || sql[i] == '(')) ++i;
  std::string head;
  for (; i < sql.size() && head.size() < 6 && std::isalpha(static_cast<unsigned char>(sql[i])); ++i)
    head += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i])));
  return head == "SELECT" || head == "INSERT" || head == "UPDATE" || head == "DELETE" || head == "WITH";
}

}  // namespace

Result Connection::Exec(std::string_view sql, const std::vector<Param>& params) {
  const std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  const int n = static_cast<int>(values.size());
  auto found = prepared_.find(text);
  if (found == prepared_.end() && prepared_.size() < kMaxPrepared && Preparable(sql)) {
    const std::string name = "k" + std::to_string(prepared_.size() + 1);
    Checked(c_.get(), PQprepare(c_.get(), name.c_str(), text.c_str(), n, nullptr), sql);
    found = prepared_.emplace(text, name).first;
  }
  if (found != prepared_.end())
    return Checked(c_.get(),
                   PQexecPrepared(c_.get(), found->second.c_str(), n, values.data(), nullptr, nullptr, /*resultFormat=*/0),
                   sql);
  return Checked(c_.get(),
                 PQexecParams(c_.get(), text.c_str(), n, nullptr, values.data(), nullptr, nullptr, /*resultFormat=*/0),
                 sql);
}

void Connection::Script(std::string_view sql) {
  const std::string text(sql);
  Checked(c_.get(), PQexec(c_.get(), text.c_str()), sql);
}

bool Connection::Healthy() const { return c_ && PQstatus(c_.get()) == CONNECTION_OK; }

bool Connection::InTransaction() const { return c_ && PQtransactionStatus(c_.get()) != PQTRANS_IDLE; }

int Connection::ServerVersion() const { return PQserverVersion(c_.get()); }

Transaction::Transaction(Connection& c, std::string_view begin) : c_(c) { c_.Exec(begin); }

Transaction::~Transaction() {
  if (!open_) return;
  try {
    c_.Exec("ROLLBACK");
  } catch (...) {
  }
}

void Transaction::Commit() {
  c_.Exec("COMMIT");
  open_ = false;
}

}  // namespace kurier::store::pg
