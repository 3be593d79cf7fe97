// The SQLite layer: background WAL checkpoints keep the WAL bounded and the data whole, while the
// writing connection's commits only signal them.
#include "store/sqlite/sqlite_db.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
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
    for (int i = 0; i < 100 && (*ck)->checkpoints() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
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

}  // namespace
}  // namespace kurier::store::sqlite
