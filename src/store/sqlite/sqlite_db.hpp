// sqlite_db.hpp - a thin RAII layer over the SQLite C API, shared by the store and the spool:
// connections opened in WAL mode, prepared statements, transactions and numbered migrations.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace kurier::store::sqlite {

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v);  ///< as TEXT
  Stmt& BindBlob(int i, std::string_view v);
  Stmt& BindReal(int i, double v);
  Stmt& BindNull(int i);
  /// Binds `args` to parameters 1, 2, ... in order: integers and bools as INTEGER, strings as TEXT,
  /// an empty std::optional as NULL.
  template <typename... A>
  Stmt& BindAll(const A&... args) {
    int i = 0;
    (BindOne(++i, args), ...);
    return *this;
  }
  /// true: a row is available; false: done. Errors are reported through `ok()`/`error()`.
  bool Step();
  /// Steps to completion and resets the statement (its bindings stay), so it can run again at once.
  Result<void> Run();
  bool ok() const { return rc_ == 0; }
  std::string error() const { return err_; }
  int64_t Int(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;
  void Reset();

  /// Every row, each read by `row(const Stmt&)`; a failed step is a kStorage error "what: detail".
  template <typename F>
  auto Rows(F&& row, const std::string& what) -> Result<std::vector<std::invoke_result_t<F&, const Stmt&>>> {
    std::vector<std::invoke_result_t<F&, const Stmt&>> out;
    while (Step()) out.push_back(row(*this));
    if (!ok()) return MakeError(ErrorCode::kStorage, what + ": " + err_);
    return out;
  }
  /// The first row read by `row`, nullopt when there is none (same errors as Rows).
  template <typename F>
  auto First(F&& row, const std::string& what) -> Result<std::optional<std::invoke_result_t<F&, const Stmt&>>> {
    using T = std::invoke_result_t<F&, const Stmt&>;
    if (Step()) return std::optional<T>(row(*this));
    if (!ok()) return MakeError(ErrorCode::kStorage, what + ": " + err_);
    return std::optional<T>();
  }

 private:
  template <typename T>
  void BindOne(int i, const T& v) {
    if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T>) {
      Bind(i, static_cast<int64_t>(v));
    } else if constexpr (std::is_same_v<T, std::nullopt_t>) {
      BindNull(i);
    } else if constexpr (requires { v.has_value(); *v; }) {
      if (v) BindOne(i, *v); else BindNull(i);
    } else {
      Bind(i, std::string_view(v));
    }
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
  int rc_ = 0;
  std::string err_;
};

enum class Durability {
  kFull,    ///< fsync at every commit (synchronous=FULL): survives power loss
  kNormal,  ///< WAL with synchronous=NORMAL: survives a process crash, not power loss
  kOff,     ///< no fsync at all
};

class Db {
 public:
  static Result<std::unique_ptr<Db>> Open(const std::filesystem::path& path, Durability durability);
  ~Db();
  Result<void> Exec(const std::string& sql);
  Result<Stmt> Prepare(std::string_view sql);
  /// Prepared with `args` bound (Stmt::BindAll), ready to step.
  template <typename... A>
  Result<Stmt> Query(std::string_view sql, const A&... args) {
    auto q = Prepare(sql);
    if (q) q->BindAll(args...);
    return q;
  }
  /// Prepares, binds and runs a statement without results; returns how many rows it changed.
  template <typename... A>
  Result<int> Execute(std::string_view sql, const A&... args) {
    auto q = Query(sql, args...);
    if (!q) return q.error();
    if (auto r = q->Run(); !r) return r.error();
    return Changes();
  }
  /// A statement prepared once per connection and kept for reuse (for hot paths): the caller binds,
  /// steps, and leaves it reset (`Stmt::Reset`) so that it holds no read lock between uses.
  Result<Stmt*> Cached(const std::string& sql);
  /// Cached, reset, and ready to bind (for a statement that an earlier failure may have left mid-way).
  Result<Stmt*> Fresh(const std::string& sql);
  /// Runs one statement without results (BEGIN, COMMIT, a PRAGMA) through the cache: no parsing on
  /// hot paths, unlike Exec.
  Result<void> Run(const std::string& sql);
  /// Applies the migrations not applied yet; migration i (0-based) is schema version i+1.
  Result<void> Migrate(const std::vector<std::string>& migrations);
  int64_t LastInsertId() const;
  int Changes() const;
  std::string LastError() const;
  sqlite3* raw() { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  std::unordered_map<std::string, std::unique_ptr<Stmt>> cached_;  // finalised before the connection closes
  sqlite3* db_;
};

/// A write transaction (BEGIN IMMEDIATE) that rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) { ok_ = static_cast<bool>(db_.Exec("BEGIN IMMEDIATE")); }
  ~Transaction() {
    if (ok_ && !done_) (void)db_.Exec("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  bool started() const { return ok_; }
  Result<void> Commit() {
    done_ = true;
    auto r = db_.Exec("COMMIT");
    if (!r) (void)db_.Exec("ROLLBACK");
    return r;
  }

 private:
  Db& db_;
  bool ok_ = false, done_ = false;
};

/// Stmt::Rows and Stmt::First of a statement from Db::Query, or the error that prepared none:
/// `return Rows(db.Query(sql, args...), row, "cannot list ...");`
template <typename F>
auto Rows(Result<Stmt> q, F&& row, const std::string& what) -> decltype(q->Rows(row, what)) {
  if (!q) return q.error();
  return q->Rows(row, what);
}
template <typename F>
auto First(Result<Stmt> q, F&& row, const std::string& what) -> decltype(q->First(row, what)) {
  if (!q) return q.error();
  return q->First(row, what);
}

/// Moves WAL checkpoints off a connection's commits. SQLite's automatic checkpoint runs inside the
/// commit that crosses 1000 WAL frames, so every few hundred small commits one of them also copies the
/// WAL into the database and fsyncs both: a stall of milliseconds for everyone waiting on that commit.
/// Here the commit only signals a thread that checkpoints through its own connection (PASSIVE: it
/// never blocks the writer). Under a steady stream of commits that thread never quite catches up, and
/// SQLite reuses the WAL from its start only once everything in it is copied; so the commit that
/// crosses `backstop` frames finishes the copy itself (little is left by then), and the next
/// transaction starts the WAL over; past twice `backstop` (the thread starved of CPU or disk) the commit
/// waits for the thread's checkpoint to end and then copies the rest. The WAL stays near `backstop` frames.
class BackgroundCheckpointer {
 public:
  static Result<std::unique_ptr<BackgroundCheckpointer>> Start(Db& db, const std::filesystem::path& path,
                                                               Durability durability, int frames = 1000,
                                                               int backstop = 4000);
  ~BackgroundCheckpointer();
  BackgroundCheckpointer(const BackgroundCheckpointer&) = delete;
  BackgroundCheckpointer& operator=(const BackgroundCheckpointer&) = delete;
  int64_t checkpoints() const;  ///< completed by the thread so far

 private:
  struct State;
  explicit BackgroundCheckpointer(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace kurier::store::sqlite
