// sqlite_db.hpp - a thin RAII layer over the SQLite C API, shared by the store and the spool:
// connections opened in WAL mode, prepared statements, transactions and numbered migrations.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
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
  Stmt& BindNull(int i);
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

 private:
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

/// Moves WAL checkpoints off a connection's commits. SQLite's automatic checkpoint runs inside the
/// commit that crosses 1000 WAL frames, so every few hundred small commits one of them also copies the
/// WAL into the database and fsyncs both: a stall of milliseconds for everyone waiting on that commit.
/// Here the commit only signals a thread that checkpoints through its own connection (PASSIVE: it
/// never blocks the writer). Under a steady stream of commits that thread never quite catches up, and
/// SQLite reuses the WAL from its start only once everything in it is copied; so the commit that
/// crosses `backstop` frames finishes the copy itself (little is left by then), and the next
/// transaction starts the WAL over. The WAL stays near `backstop` frames.
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
