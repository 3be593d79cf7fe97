// Tests of compiled segments (audience/segment.hpp) run for real: one table of queries and the contacts
// each must select, over the same rows in an in-memory SQLite database (the sqlite3 C API, parameters bound
// by kind, $n read as ?n as the store does) and in PostgreSQL 15 (libpq, parameters as text; the test
// server of store/postgres/pg_test_server.hpp). The tables have the columns the store's have.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "audience/segment.hpp"
#include "store/postgres/pg_db.hpp"
#include "store/postgres/pg_test_server.hpp"
#include "store/store_shared.hpp"

namespace kurier::audience {
namespace {

using std::chrono::sys_days;
constexpr int64_t kHour = 3600LL * 1000000, kDay = 24 * kHour;
const int64_t kNow = sys_days(std::chrono::year(2026) / 3 / 1).time_since_epoch().count() * kDay;  // 2026-03-01

// The rows, in SQL both databases read: contacts of account acme (and one of another account), their
// events, lists and memberships, and a suppression (bob unsubscribed).
std::vector<std::string> Rows() {
  auto t = [](int64_t micros) { return std::to_string(micros); };
  const int64_t ewa_created = sys_days(std::chrono::year(2026) / 1 / 31).time_since_epoch().count() * kDay + 10 * kHour;
  auto event = [&](int id, int64_t time, const std::string& type, const std::string& msg, const std::string& account,
                   const std::string& rcpt, const std::string& metadata) {
    return "INSERT INTO events VALUES (" + std::to_string(id) + ", " + t(time) + ", '" + type + "', '" + msg + "', '" +
           account + "', '{\"recipient\": \"" + rcpt + "\", \"metadata\": " + metadata + "}', '" + rcpt + "')";
  };
  const std::string spring = R"({"campaign": "c1", "campaign_name": "Spring"})";
  const std::string summer = R"({"campaign": "c2", "campaign_name": "Summer"})";
  return {
      "INSERT INTO contacts VALUES (1, 'acme', 'jan@example.pl', 'Jan Kowalski', "
      "'{\"country\": \"PL\", \"Miasto\": \"Kraków\", \"age\": 34, \"vip\": true, \"discount\": \"50%\"}', " +
          t(kNow - 10 * kDay) + ")",
      "INSERT INTO contacts VALUES (2, 'acme', 'ola@example.com', 'Ola Nowak', "
      "'{\"country\": \"DE\", \"age\": \"34\", \"score\": 4.5, \"vip\": false, \"discount\": \"50 percent\"}', " +
          t(kNow - 40 * kDay) + ")",
      "INSERT INTO contacts VALUES (3, 'acme', 'ewa@sklep.pl', 'Ewa', "
      "'{\"country\": \"PL\", \"age\": 19, \"x'') OR 1=1 --\": \"y\", \"note\": \"\", \"tag\": null}', " + t(ewa_created) + ")",
      "INSERT INTO contacts VALUES (4, 'acme', 'bob@example.pl', '', '{}', " + t(kNow - kHour) + ")",
      "INSERT INTO contacts VALUES (5, 'other', 'jan@example.pl', 'Jan', '{\"country\": \"PL\"}', " + t(kNow) + ")",
      event(1, kNow - 5 * kDay, "opened", "m1", "acme", "jan@example.pl", spring),
      event(2, kNow - 4 * kDay, "opened", "m1", "acme", "jan@example.pl", spring),
      event(3, kNow - 60 * kDay, "opened", "m0", "acme", "ola@example.com", "{}"),
      event(4, kNow - 2 * kDay, "clicked", "m1", "acme", "ola@example.com", spring),
      event(5, kNow - 1 * kDay, "clicked", "m2", "acme", "jan@example.pl", summer),
      event(6, kNow - 6 * kDay, "delivered", "m1", "acme", "jan@example.pl", spring),
      event(7, kNow - 7 * kDay, "deferred", "m3", "acme", "ewa@sklep.pl", "{}"),
      event(8, kNow - 6 * kDay, "delivered", "m3", "acme", "ewa@sklep.pl", "{}"),
      event(9, kNow - 1 * kDay, "opened", "m9", "other", "ewa@sklep.pl", "{}"),
      "INSERT INTO lists VALUES ('L1', 'acme', 'Newsletter')",
      "INSERT INTO lists VALUES ('L2', 'acme', 'VIP')",
      "INSERT INTO lists VALUES ('L3', 'other', 'Bob''s list')",
      "INSERT INTO list_members VALUES ('L1', 1, 'subscribed')",
      "INSERT INTO list_members VALUES ('L1', 2, 'unsubscribed')",
      "INSERT INTO list_members VALUES ('L2', 3, 'subscribed')",
      "INSERT INTO list_members VALUES ('L3', 4, 'subscribed')",
      "INSERT INTO suppressions VALUES ('acme', 'bob@example.pl', 'unsubscribe')",
  };
}

struct Case {
  std::string query;
  std::vector<std::string> want;  // local parts of the acme contacts selected, in id order
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {R"(attributes.country = "PL")", {"jan", "ewa"}},
      {R"(attributes.age = 34)", {"jan"}},  // ola's "34" is a string
      {R"(attributes.age = "34")", {"ola"}},
      {R"(attributes.age >= 20)", {"jan"}},
      {R"(attributes.score > 4.25 and attributes.score <= 4.5)", {"ola"}},
      {R"(attributes.vip = true)", {"jan"}},
      {R"(attributes.vip = false)", {"ola"}},
      {R"(attributes.discount contains "0%")", {"jan"}},  // a literal %: "50 percent" does not match
      {R"(attributes.discount starts with "50_")", {}},
      {R"(attributes."Miasto" = "Kraków")", {"jan"}},
      {R"(attributes.country != "PL")", {"ola", "bob"}},
      {R"(attributes.country in ("DE", "FR") or attributes.age in (19, 20))", {"ola", "ewa"}},
      {R"(attributes.country exists)", {"jan", "ola", "ewa"}},
      {R"(attributes.tag exists)", {}},  // JSON null
      {R"(attributes.note is empty and attributes.country exists)", {"ola", "jan", "ewa"}},
      {R"(attributes.country is empty)", {"bob"}},
      {R"(attributes."x') OR 1=1 --" = "y")", {"ewa"}},
      {R"(domain = "example.pl")", {"jan", "bob"}},
      {R"(domain ends with ".pl" and not domain = "sklep.pl")", {"jan", "bob"}},
      {R"(address = "JAN@example.pl")", {"jan"}},
      {R"(name starts with "jan")", {"jan"}},
      {R"(name is empty)", {"bob"}},
      {R"(name < "F")", {"ewa", "bob"}},  // bob's "" sorts first
      {R"(created_at > 30d)", {"jan", "ewa", "bob"}},
      {R"(created_at < 30d)", {"ola"}},
      {R"(created_at = "2026-01-31")", {"ewa"}},
      {R"(created_at > "2026-01-31" and created_at >= "2026-02-01T00:00:00+01:00")", {"jan", "bob"}},
      {R"(opened(within: 30d))", {"jan"}},
      {R"(opened())", {"jan", "ola"}},
      {R"(not opened())", {"ewa", "bob"}},
      {R"(opened(at_least: 2))", {"jan"}},
      {R"(opened(at_least: 3))", {}},
      {R"(clicked(campaign: "spring"))", {"ola"}},
      {R"(clicked(campaign: "c2") or opened(campaign: "SPRING", within: 1w))", {"jan"}},
      {R"(sent())", {"jan", "ewa"}},
      {R"(sent(at_least: 2))", {}},  // ewa's deferral and delivery are one message
      {R"(delivered(within: 12h) or bounced())", {}},
      {R"(in_list("newsletter"))", {"jan"}},  // ola unsubscribed
      {R"(in_list("L2") or in_list("Bob's list"))", {"ewa"}},
      {R"((in_list("Newsletter") or in_list("VIP")) and not in_segment("germans"))", {"jan", "ewa"}},
      {R"(status = "unsubscribed")", {"bob"}},
      {R"(status in ("active", "bounced") and not status = "bounced")", {"jan", "ola", "ewa"}},
      {R"(name = "'; DROP TABLE contacts; --" or attributes."a\"b" = "c\\d' OR '1'='1")", {}},
  };
  return cases;
}

CompileOptions Options(Dialect d, int first_param) {
  CompileOptions o;
  o.dialect = d;
  o.first_param = first_param;
  o.now = kNow;
  o.status_sql = store::ContactStatusSql();
  o.resolve_segment = [](const std::string& name) -> Result<std::string> {
    if (name == "germans") return std::string(R"(attributes.country = "DE")");
    return MakeError(ErrorCode::kNotFound, "no segment " + name);
  };
  return o;
}

std::string LocalPart(std::string address) { return address.substr(0, address.find('@')); }

// ---- SQLite

class SegmentSqlite : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    Exec("CREATE TABLE contacts(id INTEGER PRIMARY KEY, account TEXT NOT NULL, address TEXT NOT NULL, "
         "name TEXT NOT NULL, attributes TEXT NOT NULL, created_at INTEGER NOT NULL)");
    Exec("CREATE TABLE events(id INTEGER PRIMARY KEY, time INTEGER, type TEXT, message_id TEXT, account TEXT, "
         "data TEXT, recipient TEXT)");
    Exec("CREATE TABLE lists(id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE)");
    Exec("CREATE TABLE list_members(list_id TEXT, contact_id INTEGER, status TEXT)");
    Exec("CREATE TABLE suppressions(account TEXT, address TEXT, reason TEXT)");
    for (const auto& row : Rows()) Exec(row);
  }
  void TearDown() override { sqlite3_close(db_); }

  void Exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << (err ? err : "");
  }

  std::vector<std::string> Match(const std::string& query) {
    auto s = ParseSegment(query);
    EXPECT_TRUE(s.ok()) << query << ": " << s.error().message;
    if (!s.ok()) return {"(parse error)"};
    auto c = CompileSegment(*s, Options(Dialect::kSqlite, 2));  // $1 is the account
    EXPECT_TRUE(c.ok()) << query << ": " << c.error().message;
    if (!c.ok()) return {"(compile error)"};
    const std::string sql = store::ToSqlitePlaceholders("SELECT c.address FROM contacts c WHERE c.account = $1 AND " +
                                                        c->sql + " ORDER BY c.id");
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << query << ": " << sqlite3_errmsg(db_) << "\n" << sql;
      return {"(SQL error)"};
    }
    sqlite3_bind_text(st, 1, "acme", -1, SQLITE_STATIC);
    for (std::size_t k = 0; k < c->params.size(); ++k) {
      const auto& p = c->params[k];
      const int at = static_cast<int>(k) + 2;
      if (p.kind == SqlParam::kInt) sqlite3_bind_int64(st, at, p.i);
      else if (p.kind == SqlParam::kReal) sqlite3_bind_double(st, at, p.d);
      else sqlite3_bind_text(st, at, p.text.data(), static_cast<int>(p.text.size()), SQLITE_TRANSIENT);
    }
    EXPECT_EQ(sqlite3_bind_parameter_count(st), static_cast<int>(c->params.size()) + 1) << sql;
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.push_back(LocalPart(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))));
    EXPECT_EQ(rc, SQLITE_DONE) << query << ": " << sqlite3_errmsg(db_) << "\n" << sql;
    sqlite3_finalize(st);
    return out;
  }

  sqlite3* db_ = nullptr;
};

std::vector<std::string> Sorted(std::vector<std::string> v, const std::vector<std::string>& order) {
  std::vector<std::string> out;
  for (const auto& o : order)
    for (const auto& x : v)
      if (x == o) out.push_back(x);
  return out;
}

const std::vector<std::string> kIdOrder = {"jan", "ola", "ewa", "bob"};

TEST_F(SegmentSqlite, QueriesSelectTheirContacts) {
  for (const auto& c : Cases()) EXPECT_EQ(Match(c.query), Sorted(c.want, kIdOrder)) << c.query;
  // nothing the attempts held ran
  EXPECT_EQ(Match("name is empty or not name is empty").size(), 4u);
}

// ---- PostgreSQL

TEST(SegmentPostgres, QueriesSelectTheirContacts) {
  const auto dir = std::filesystem::temp_directory_path() / "kurier-segment-test";
  auto db = store::pg::Connection::Open(store::pg::testing::DatabaseFor(dir));
  db.Script(R"(DROP TABLE IF EXISTS contacts, events, lists, list_members, suppressions;
      CREATE TABLE contacts(id BIGINT PRIMARY KEY, account TEXT COLLATE "C" NOT NULL, address TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL, attributes JSONB NOT NULL, created_at BIGINT NOT NULL);
      CREATE TABLE events(id BIGINT PRIMARY KEY, time BIGINT NOT NULL, type TEXT NOT NULL, message_id TEXT,
        account TEXT, data JSON NOT NULL, recipient TEXT);
      CREATE TABLE lists(id TEXT COLLATE "C" PRIMARY KEY, account TEXT COLLATE "C" NOT NULL, name TEXT NOT NULL);
      CREATE TABLE list_members(list_id TEXT COLLATE "C", contact_id BIGINT, status TEXT);
      CREATE TABLE suppressions(account TEXT COLLATE "C", address TEXT COLLATE "C", reason TEXT))");
  for (const auto& row : Rows()) db.Exec(row);
  for (const auto& c : Cases()) {
    auto s = ParseSegment(c.query);
    ASSERT_TRUE(s.ok()) << c.query;
    auto compiled = CompileSegment(*s, Options(Dialect::kPostgres, 2));
    ASSERT_TRUE(compiled.ok()) << c.query << ": " << compiled.error().message;
    std::vector<store::pg::Param> params = {std::string("acme")};
    for (const auto& p : compiled->params) params.emplace_back(p.text);
    const std::string sql = "SELECT c.address FROM contacts c WHERE c.account = $1 AND " + compiled->sql + " ORDER BY c.id";
    std::vector<std::string> got;
    try {
      auto r = db.Exec(sql, params);
      for (int i = 0; i < r.Rows(); ++i) got.push_back(LocalPart(std::string(r.Text(i, 0))));
    } catch (const store::pg::PgError& e) {
      ADD_FAILURE() << c.query << ": " << e.what() << "\n" << sql;
      continue;
    }
    EXPECT_EQ(got, Sorted(c.want, kIdOrder)) << c.query << "\n" << sql;
  }
  EXPECT_EQ(db.Exec("SELECT count(*) FROM contacts").Int(0, 0), 5);
}

}  // namespace
}  // namespace kurier::audience
