// sqlite_db.cpp - SQLite connection, statements and migrations.
#include "store/sqlite/sqlite_db.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <sqlite3.h>

namespace kurier::store::sqlite {

Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}
Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindBlob(int i, std::string_view v) {
  sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_STATIC);
  return *this;
}
Stmt& Stmt::BindReal(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}
bool Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    rc_ = rc;
    err_ = sqlite3_errmsg(db_);
  }
  return false;
}
Result<void> Stmt::Run() {
  while (Step()) {
  }
  Result<void> r = ok() ? Result<void>() : Result<void>(MakeError(ErrorCode::kStorage, err_));
  sqlite3_reset(s_);
  rc_ = 0;
  err_.clear();
  return r;
}
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(s_, col); }
std::string Stmt::Text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s_, col));
  int n = sqlite3_column_bytes(s_, col);
  return p ? std::string(p, static_cast<size_t>(n)) : std::string();
}
bool Stmt::IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
void Stmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  rc_ = 0;
  err_.clear();
}

Result<std::unique_ptr<Db>> Db::Open(const std::filesystem::path& path, Durability durability) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close(raw);
    return MakeError(ErrorCode::kStorage, "cannot open database " + path.string() + ": " + msg +
                                              "; check that the directory exists and is writable");
  }
  std::unique_ptr<Db> db(new Db(raw));
  sqlite3_busy_timeout(raw, 10000);
  const char* sync = durability == Durability::kFull ? "FULL" : durability == Durability::kNormal ? "NORMAL" : "OFF";
  if (auto r = db->Exec(std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") + sync +
                        "; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;");
      !r)
    return MakeError(ErrorCode::kStorage, "cannot set up database " + path.string() + ": " + r.error().message);
  return db;
}

Db::~Db() {
  cached_.clear();
  sqlite3_close_v2(db_);
}

Result<void> Db::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return MakeError(ErrorCode::kStorage, msg);
  }
  return {};
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK)
    return MakeError(ErrorCode::kStorage, std::string("cannot prepare statement: ") + sqlite3_errmsg(db_));
  return Stmt(db_, s);
}

Result<Stmt*> Db::Cached(const std::string& sql) {
  if (auto it = cached_.find(sql); it != cached_.end()) return it->second.get();
  auto s = Prepare(sql);
  if (!s) return s.error();
  auto& slot = cached_[sql];
  slot = std::make_unique<Stmt>(std::move(*s));
  return slot.get();
}

Result<Stmt*> Db::Fresh(const std::string& sql) {
  auto s = Cached(sql);
  if (s) (*s)->Reset();
  return s;
}

Result<void> Db::Run(const std::string& sql) {
  auto s = Fresh(sql);
  if (!s) return s.error();
  return (*s)->Run();
}

Result<void> Db::Migrate(const std::vector<std::string>& migrations) {
  if (auto r = Exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"); !r)
    return r;
  int64_t current = 0;
  {  // finalised before migrating: an open statement would lock the tables a migration drops
    auto q = Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!q) return q.error();
    current = q->Step() ? q->Int(0) : 0;
  }
  if (current > static_cast<int64_t>(migrations.size()))
    return MakeError(ErrorCode::kStorage, "database schema version " + std::to_string(current) +
                                              " is newer than this kurier knows (" + std::to_string(migrations.size()) +
                                              "); upgrade kurier");
  for (size_t v = static_cast<size_t>(current); v < migrations.size(); ++v) {
    std::string sql = "BEGIN IMMEDIATE;" + migrations[v] + ";INSERT INTO schema_migrations VALUES(" +
                      std::to_string(v + 1) + ", strftime('%s','now'));COMMIT;";
    if (auto r = Exec(sql); !r) {
      (void)Exec("ROLLBACK");
      return MakeError(ErrorCode::kStorage, "schema migration " + std::to_string(v + 1) + " failed: " + r.error().message);
    }
  }
  return {};
}

int64_t Db::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
int Db::Changes() const { return sqlite3_changes(db_); }
std::string Db::LastError() const { return sqlite3_errmsg(db_); }

struct BackgroundCheckpointer::State {
  Db* db = nullptr;                 // the writing connection (its WAL hook points here)
  std::unique_ptr<Db> checkpointer;  // the thread's own connection
  int frames = 1000, backstop = 4000;
  std::mutex mu;
  std::mutex checkpointing;  // held by whoever of the thread and the writer's backstop is copying
  std::condition_variable cv;
  bool due = false, stop = false;
  std::atomic<int64_t> done{0};
  std::thread thread;

  static int Hook(void* arg, sqlite3* db, const char* name, int frames_in_wal) {
    auto* st = static_cast<State*>(arg);
    if (frames_in_wal >= 2 * st->backstop) {
      // The thread has been starved of CPU (or of the disk) for that long: wait for its checkpoint to end
      // and copy the rest here. SQLite never waits for another checkpointer (SQLITE_BUSY at once, busy
      // handler or not), so the wait is ours.
      std::lock_guard copying(st->checkpointing);
      sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (frames_in_wal >= st->backstop) {
      if (st->checkpointing.try_lock()) {  // else the thread is copying; the next commit tries again
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        st->checkpointing.unlock();
      }
    } else if (frames_in_wal >= st->frames) {
      std::lock_guard lock(st->mu);
      if (!st->due) {
        st->due = true;
        st->cv.notify_one();
      }
    }
    return SQLITE_OK;
  }

  void Run() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return due || stop; });
      if (stop) return;
      due = false;
      lock.unlock();
      int rc;
      {
        std::lock_guard copying(checkpointing);
        rc = sqlite3_wal_checkpoint_v2(checkpointer->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      }
      if (rc == SQLITE_OK) ++done;
      // SQLITE_BUSY: another checkpoint (a CLI process) is running; the next signal retries.
      lock.lock();
    }
  }
};

BackgroundCheckpointer::BackgroundCheckpointer(std::unique_ptr<State> s) : s_(std::move(s)) {}

Result<std::unique_ptr<BackgroundCheckpointer>> BackgroundCheckpointer::Start(Db& db, const std::filesystem::path& path,
                                                                             Durability durability, int frames,
                                                                             int backstop) {
  auto conn = Db::Open(path, durability);
  if (!conn) return conn.error();
  auto st = std::make_unique<State>();
  st->db = &db;
  st->checkpointer = std::move(conn.value());
  st->frames = frames;
  st->backstop = backstop;
  State* raw = st.get();
  st->thread = std::thread([raw] { raw->Run(); });
  sqlite3_wal_hook(db.raw(), &State::Hook, raw);  // replaces the automatic checkpoint
  return std::unique_ptr<BackgroundCheckpointer>(new BackgroundCheckpointer(std::move(st)));
}

BackgroundCheckpointer::~BackgroundCheckpointer() {
  sqlite3_wal_hook(s_->db->raw(), nullptr, nullptr);
  sqlite3_wal_autocheckpoint(s_->db->raw(), 1000);  // back to SQLite's own behaviour
  {
    std::lock_guard lock(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_one();
  s_->thread.join();
}

int64_t BackgroundCheckpointer::checkpoints() const { return s_->done.load(); }

}  // namespace kurier::store::sqlite
