// pg_migrate_test.cpp - numbered migrations against a real PostgreSQL 15 server the test starts itself.
#include "store/postgres/pg_migrate.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/postgres/pg_test_server.hpp"

namespace kurier::store::pg {
namespace {

class PgMigrateTest : public testing::ServerTest {
 protected:
  // A fresh database per test.
  std::string FreshDatabase(const std::string& name) {
    Connection admin = Connection::Open(server_->Url());
    admin.Exec("DROP DATABASE IF EXISTS " + name);
    admin.Exec("CREATE DATABASE " + name);
    return server_->Url(name);
  }
};

const MigrationSet kTwo{"store", {"CREATE TABLE a (n int)", "ALTER TABLE a ADD COLUMN note text"}};

TEST_F(PgMigrateTest, AppliesWhatIsMissingOnceAndSaysWhatToRun) {
  Connection c = Connection::Open(FreshDatabase("m1"));
  EXPECT_EQ(SchemaVersion(c, "store"), 0);
  EXPECT_NE(CheckSchema(c, kTwo).find("run `kurier db migrate`"), std::string::npos) << CheckSchema(c, kTwo);
  EXPECT_EQ(Migrate(c, kTwo), 2);
  EXPECT_EQ(SchemaVersion(c, "store"), 2);
  EXPECT_EQ(CheckSchema(c, kTwo), "");
  EXPECT_EQ(Migrate(c, kTwo), 0);
  c.Exec("INSERT INTO a (n, note) VALUES (1, 'x')");  // both steps are there
  MigrationSet three = kTwo;
  three.steps.push_back("CREATE INDEX a_n ON a (n)");
  EXPECT_EQ(Migrate(c, three), 1);
  EXPECT_EQ(SchemaVersion(c, "store"), 3);
  EXPECT_EQ(SchemaVersion(c, "spool"), 0);  // components are counted apart
}

TEST_F(PgMigrateTest, ANewerSchemaIsRefusedWithWhatToDo) {
  Connection c = Connection::Open(FreshDatabase("m2"));
  Migrate(c, kTwo);
  const MigrationSet older{"store", {"CREATE TABLE a (n int)"}};
  EXPECT_NE(CheckSchema(c, older).find("upgrade this node's kurier"), std::string::npos);
  EXPECT_THROW(Migrate(c, older), PgError);
  EXPECT_EQ(SchemaVersion(c, "store"), 2);
}

TEST_F(PgMigrateTest, AFailingStepChangesNothing) {
  Connection c = Connection::Open(FreshDatabase("m3"));
  Migrate(c, kTwo);
  MigrationSet broken = kTwo;
  broken.steps.push_back("CREATE TABLE b (n int); SELEC 1");
  EXPECT_THROW(Migrate(c, broken), PgError);
  EXPECT_EQ(SchemaVersion(c, "store"), 2);
  EXPECT_EQ(c.Exec("SELECT to_regclass('b') IS NULL").Text(0, 0), "t");  // the step's DDL was rolled back
}

TEST_F(PgMigrateTest, NodesMigratingAtOnceApplyEachStepOnce) {
  const std::string url = FreshDatabase("m4");
  MigrationSet set{"store", {}};
  set.steps.push_back("CREATE TABLE applied (step int)");
  for (int i = 1; i <= 5; ++i) set.steps.push_back("INSERT INTO applied VALUES (" + std::to_string(i) + ")");
  std::atomic<int> total{0};
  std::vector<std::thread> nodes;
  for (int n = 0; n < 4; ++n)
    nodes.emplace_back([&] {
      Connection c = Connection::Open(url);
      total += Migrate(c, set);
    });
  for (auto& t : nodes) t.join();
  EXPECT_EQ(total.load(), set.Latest());
  Connection c = Connection::Open(url);
  EXPECT_EQ(c.Exec("SELECT count(*), count(DISTINCT step) FROM applied").Int(0, 0), 5);
  EXPECT_EQ(SchemaVersion(c, "store"), set.Latest());
}

}  // namespace
}  // namespace kurier::store::pg
