// pg_pool_test.cpp - the connection pool against a real PostgreSQL 15 server the test starts itself.
#include "store/postgres/pg_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/postgres/pg_test_server.hpp"

namespace kurier::store::pg {
namespace {

class PgPoolTest : public testing::ServerTest {};

TEST_F(PgPoolTest, LendsAtMostItsSizeAndSaysWhenAllAreBusy) {
  Pool pool(server_->Url(), 2, std::chrono::milliseconds(200));
  {
    Pool::Lease a = pool.Acquire();
    Pool::Lease b = pool.Acquire();
    EXPECT_EQ(pool.Usage().in_use, 2u);
    try {
      Pool::Lease c = pool.Acquire();
      FAIL() << "a third connection was lent";
    } catch (const PgError& e) {
      EXPECT_NE(std::string(e.what()).find("raise store.pool_size"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(pool.Usage().in_use, 0u);
  EXPECT_EQ(pool.Usage().open, 2u);  // kept for the next callers
  Pool::Lease again = pool.Acquire();
  EXPECT_EQ(again->Exec("SELECT 1").Int(0, 0), 1);
}

TEST_F(PgPoolTest, ManyThreadsShareFewConnections) {
  Pool pool(server_->Url(), 3, std::chrono::seconds(20));
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        Pool::Lease c = pool.Acquire();
        c->Exec("SELECT pg_sleep(0.001)");
        ++done;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 160);
  EXPECT_LE(pool.Usage().open, 3u);
  EXPECT_GT(pool.Usage().waited, 0u);
}

TEST_F(PgPoolTest, AConnectionTheServerDroppedIsReplaced) {
  Pool pool(server_->Url(), 1, std::chrono::seconds(5));
  std::string pid;
  {
    Pool::Lease c = pool.Acquire();
    pid = std::string(c->Exec("SELECT pg_backend_pid()").Text(0, 0));
  }
  {
    Connection killer = Connection::Open(server_->Url());
    killer.Exec("SELECT pg_terminate_backend($1::int)", {pid});
  }
  {
    Pool::Lease c = pool.Acquire();
    EXPECT_THROW(c->Exec("SELECT 1"), PgError);  // the lent connection was the dropped one
  }
  Pool::Lease fresh = pool.Acquire();  // a new connection
  EXPECT_EQ(fresh->Exec("SELECT 1").Int(0, 0), 1);
  EXPECT_NE(std::string(fresh->Exec("SELECT pg_backend_pid()").Text(0, 0)), pid);
}

TEST_F(PgPoolTest, AConnectionLeftInATransactionIsNotLentAgain) {
  Pool pool(server_->Url(), 1, std::chrono::seconds(5));
  {
    Pool::Lease c = pool.Acquire();
    c->Exec("BEGIN");
    c->Exec("CREATE TEMP TABLE scratch (n int)");
  }  // returned mid-transaction
  Pool::Lease c = pool.Acquire();
  EXPECT_FALSE(c->InTransaction());
  EXPECT_EQ(c->Exec("SELECT to_regclass('pg_temp.scratch') IS NULL").Text(0, 0), "t");
}

}  // namespace
}  // namespace kurier::store::pg
