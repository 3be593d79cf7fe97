// pg_db_test.cpp - the libpq layer against a real PostgreSQL 15 server the test starts itself.
#include "store/postgres/pg_db.hpp"

#include <gtest/gtest.h>

#include "store/postgres/pg_test_server.hpp"

namespace kurier::store::pg {
namespace {

class PgDbTest : public testing::ServerTest {};

TEST_F(PgDbTest, ParametersTravelApartFromTheSql) {
  Connection c = Connection::Open(server_->Url());
  EXPECT_GE(c.ServerVersion(), 150000);
  c.Script("CREATE TABLE t (id bigserial PRIMARY KEY, name text, note text); CREATE INDEX t_name ON t (name)");
  // A value that would break SQL text if it were interpolated, UTF-8, and NULL.
  const std::string tricky = "o'hara\"; DROP TABLE t; -- żółć";
  Result ins = c.Exec("INSERT INTO t (name, note) VALUES ($1, $2), ($3, $4)", {tricky, std::nullopt, "b", "x"});
  EXPECT_EQ(ins.Affected(), 2);
  Result r = c.Exec("SELECT id, name, note FROM t ORDER BY id");
  ASSERT_EQ(r.Rows(), 2);
  ASSERT_EQ(r.Columns(), 3);
  EXPECT_EQ(r.Int(0, 0), 1);
  EXPECT_EQ(r.Text(0, 1), tricky);
  EXPECT_TRUE(r.IsNull(0, 2));
  EXPECT_FALSE(r.IsNull(1, 2));
  EXPECT_EQ(r.Text(1, 2), "x");
  EXPECT_THROW(r.Int(0, 1), PgError);  // not a number
  c.Script("DROP TABLE t");
}

TEST_F(PgDbTest, ErrorsCarryTheServersMessageAndSqlstate) {
  Connection c = Connection::Open(server_->Url());
  c.Script("CREATE TABLE u (k text PRIMARY KEY)");
  c.Exec("INSERT INTO u VALUES ($1)", {"a"});
  try {
    c.Exec("INSERT INTO u VALUES ($1)", {"a"});
    FAIL() << "a duplicate key was accepted";
  } catch (const PgError& e) {
    EXPECT_EQ(e.sqlstate(), "23505");  // unique_violation
    EXPECT_NE(std::string(e.what()).find("duplicate key"), std::string::npos) << e.what();
  }
  try {
    c.Exec("SELEC 1");
    FAIL() << "bad SQL was accepted";
  } catch (const PgError& e) {
    EXPECT_EQ(e.sqlstate(), "42601");  // syntax_error
  }
  c.Script("DROP TABLE u");
}

TEST_F(PgDbTest, TransactionsRollBackUnlessCommitted) {
  Connection c = Connection::Open(server_->Url());
  c.Script("CREATE TABLE v (n int)");
  {
    Transaction tx(c);
    c.Exec("INSERT INTO v VALUES (1)");
  }  // no Commit: rolled back
  {
    Transaction tx(c);
    c.Exec("INSERT INTO v VALUES (2)");
    tx.Commit();
  }
  Result r = c.Exec("SELECT n FROM v");
  ASSERT_EQ(r.Rows(), 1);
  EXPECT_EQ(r.Int(0, 0), 2);
  c.Script("DROP TABLE v");
}

TEST_F(PgDbTest, AServerThatIsNotThereIsNamedWithWhatToCheck) {
  const std::string url = "postgresql://kurier@127.0.0.1:" + std::to_string(server_->Port() == 1 ? 2 : 1) + "/kurier";
  try {
    Connection::Open(url, std::chrono::seconds(2));
    FAIL() << "connected to nothing";
  } catch (const PgError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("kurier@127.0.0.1:"), std::string::npos) << what;
    EXPECT_NE(what.find("check store.url"), std::string::npos) << what;
    EXPECT_EQ(what.find("password="), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace kurier::store::pg
