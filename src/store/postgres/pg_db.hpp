// pg_db.hpp - a thin libpq layer for the PostgreSQL store (issue 16): one connection, statements with
// parameters sent apart from the SQL text (never interpolated), results read as text, transactions that
// roll back unless committed. No ORM; the store's SQL stays visible where it is used.
// STANDARDS: PostgreSQL 15 frontend/backend protocol through libpq (connection URIs, PQexecParams).
// SECURITY: every value travels as a parameter ($1, $2, ...); error texts name the server's message and
// SQLSTATE but never a parameter's value (passwords, message bodies).
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct pg_conn;
struct pg_result;

namespace kurier::store::pg {

/// A failure reported by libpq or the server. `sqlstate` is the five-character SQLSTATE when the server
/// sent one ("23505" unique violation, "40001" serialization failure, ...), "" for connection failures.
class PgError : public std::runtime_error {
 public:
  /// The message is kept on one line (libpq's span several: "server closed the connection\n\tThis ...").
  PgError(std::string message, std::string sqlstate)
      : std::runtime_error(OneLine(std::move(message))), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  static std::string OneLine(std::string s) {
    std::string out;
    for (char ch : s) {
      const bool control = ch == '\n' || ch == '\r' || ch == '\t';
      if (control && (out.empty() || out.back() == ' ')) continue;
      out += control ? ' ' : ch;
    }
    return out;
  }

 private:
  std::string sqlstate_;
};

/// A statement parameter: text, or SQL NULL when empty.
using Param = std::optional<std::string>;

/// The rows a statement returned, read as text.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* r);
  Result(Result&&) noexcept = default;
  Result& operator=(Result&&) noexcept = default;

  int Rows() const;
  int Columns() const;
  bool IsNull(int row, int column) const;
  /// The value as text ("" for NULL; use IsNull to tell them apart).
  std::string_view Text(int row, int column) const;
  /// The value as a 64-bit integer; PgError when it is NULL or not a number.
  long long Int(int row, int column) const;
  /// Rows changed by INSERT/UPDATE/DELETE (PQcmdTuples), 0 for other statements.
  long long Affected() const;

 private:
  struct Free {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Free> r_;
};

/// One connection to a PostgreSQL server. Not thread-safe: one user at a time (a pool hands them out).
class Connection {
 public:
  /// Connects to `url` ("postgresql://user@host:port/db?sslmode=require", or key=value conninfo). The
  /// password comes from the URL, the PGPASSWORD environment variable or a PGPASSFILE/~/.pgpass file, as
  /// libpq reads them. PgError says which server could not be reached and what to check.
  static Connection Open(const std::string& url, std::chrono::seconds connect_timeout = std::chrono::seconds(10));

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection();

  /// Runs one statement with its parameters ($1, $2, ...); PgError on failure. SELECT, INSERT, UPDATE,
  /// DELETE and WITH statements are prepared on the connection at their first run (up to kMaxPrepared
  /// texts per connection; beyond, they run unprepared).
  Result Exec(std::string_view sql, const std::vector<Param>& params = {});
  /// Runs several statements separated by ';' with no parameters (schema scripts); PgError on failure.
  void Script(std::string_view sql);

  /// False once the connection to the server is lost (the server restarted, the backend was ended).
  bool Healthy() const;
  /// True inside a transaction block (BEGIN without COMMIT or ROLLBACK yet, or a failed one).
  bool InTransaction() const;
  /// The server's version as a number (150018 for 15.18).
  int ServerVersion() const;
  /// Where this connection goes, without its password ("kurier@127.0.0.1:5432/kurier"), for messages.
  const std::string& Describe() const { return describe_; }

 private:
  Connection() = default;
  struct Close {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, Close> c_;
  std::string describe_;
  /// Statements prepared on this connection by Exec: SQL text -> statement name. The server parses and
  /// plans a statement once per connection instead of at every call (a message takes a dozen statements).
  std::unordered_map<std::string, std::string> prepared_;
};

/// BEGIN on construction, ROLLBACK on destruction unless Commit() was called.
class Transaction {
 public:
  explicit Transaction(Connection& c, std::string_view begin = "BEGIN");
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void Commit();

 private:
  Connection& c_;
  bool open_ = true;
};

}  // namespace kurier::store::pg
