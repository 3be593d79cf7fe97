// The SQLite layer: background WAL checkpoints keep the WAL bounded and the data whole, while the
// writing connection's commits only signal them; the statement helpers bind, run and read rows.
#include "store/sqlite/sqlite_db.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

namespace kurier::store::sqlite {
namespace {

TEST(BackgroundCheckpointer, CheckpointsBesideCommitsAndKeepsEveryRow) {
  const auto dir = std::filesystem::temp_directory_path() / ("kurier-ckpt-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = dir / "t.db";
  {
    auto db = Db::Open(path, Durability::kNormal);
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
    auto ck = BackgroundCheckpointer::Start(**db, path, Durability::kNormal, /*frames=*/20, /*backstop=*/200);
    ASSERT_TRUE(ck) << ck.error().message;
    const std::string v(3000, 'x');  // about a page per row
    for (int i = 0; i < 6000; ++i) {
      auto q = (*db)->Prepare("INSERT INTO t(v) VALUES(?)");
      ASSERT_TRUE(q);
      q->Bind(1, v);
      ASSERT_TRUE(q->Run());
    }
    for (int i = 0; i < 500 && (*ck)->checkpoints() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE((*ck)->checkpoints(), 5) << "6000 commits of a page each cross 20 frames many times";
    // The WAL starts over once all of it is copied (the backstop sees to that under steady commits),
    // so it stays within some times 200 frames (~0.8 MB), far below the ~75 MB of frames written.
    EXPECT_LT(std::filesystem::file_size(dir / "t.db-wal"), 16u << 20);
    auto n = (*db)->Prepare("SELECT COUNT(*) FROM t");
    ASSERT_TRUE(n && n->Step());
    EXPECT_EQ(n->Int(0), 6000);
  }
  // After both connections closed, another sees every row.
  auto again = Db::Open(path, Durability::kNormal);
  ASSERT_TRUE(again);
  auto n = (*again)->Prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(n && n->Step());
  EXPECT_EQ(n->Int(0), 6000);
  again->reset();
  std::filesystem::remove_all(dir);
}

// BindAll binds by position (integers, bools, text, NULL for an empty optional); Execute counts the rows
// it changed; Rows and First read through a function and turn a failed step into a storage error.
TEST(StatementHelpers, BindRunAndReadRows) {
  const auto dir = std::filesystem::temp_directory_path() / ("kurier-stmt-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto db = Db::Open(dir / "t.db", Durability::kOff);
  ASSERT_TRUE(db) << db.error().message;
  Db& d = **db;
  ASSERT_TRUE(d.Exec("CREATE TABLE t(i INTEGER, s TEXT, b INTEGER, n INTEGER)"));
  struct Row {
    int64_t i;
    std::string s;
    bool b;
    std::optional<bool> n;
  };
  const std::vector<Row> rows = {{1, "one", true, std::nullopt}, {2, "two", false, false}, {3, "th\"ree", true, true}};
  for (const auto& r : rows) {
    auto n = d.Execute("INSERT INTO t(i, s, b, n) VALUES(?, ?, ?, ?)", r.i, r.s, r.b, r.n);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(*n, 1);
  }
  auto changed = d.Execute("UPDATE t SET s = upper(s) WHERE i >= ?", size_t{2});
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, 2);

  auto q = d.Query("SELECT i, s, b, n FROM t WHERE i > ?1 OR s = ?2 ORDER BY i", 1, "one");
  ASSERT_TRUE(q);
  auto got = q->Rows(
      [](const Stmt& r) {
        return std::to_string(r.Int(0)) + r.Text(1) + (r.Int(2) ? "+" : "-") + (r.IsNull(3) ? "null" : std::to_string(r.Int(3)));
      },
      "cannot read t");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, (std::vector<std::string>{"1one+null", "2TWO-0", "3TH\"REE+1"}));

  auto one = d.Query("SELECT s FROM t WHERE i = ?", 2);
  ASSERT_TRUE(one);
  auto first = one->First([](const Stmt& r) { return r.Text(0); }, "cannot read t");
  ASSERT_TRUE(first && *first);
  EXPECT_EQ(**first, "TWO");
  auto none = d.Query("SELECT s FROM t WHERE i = ?", 9);
  ASSERT_TRUE(none);
  auto missing = none->First([](const Stmt& r) { return r.Text(0); }, "cannot read t");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);

  // A step that fails (here: a function error) is reported with the caller's words.
  auto bad = d.Query("SELECT abs(-9223372036854775807 - 1) FROM t");
  ASSERT_TRUE(bad);
  auto failed = bad->Rows([](const Stmt& r) { return r.Int(0); }, "cannot read t");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kStorage);
  EXPECT_EQ(failed.error().message.rfind("cannot read t: ", 0), 0u) << failed.error().message;
  auto bad_sql = d.Execute("INSERT INTO nowhere VALUES(?)", 1);
  EXPECT_FALSE(bad_sql);
  db->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kurier::store::sqlite
