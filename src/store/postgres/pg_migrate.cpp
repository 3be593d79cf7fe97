// pg_migrate.cpp - numbered schema migrations (pg_migrate.hpp).
// STANDARDS: PostgreSQL 15 (pg_advisory_xact_lock, CREATE TABLE IF NOT EXISTS, transactional DDL).
#include "store/postgres/pg_migrate.hpp"

namespace kurier::store::pg {

namespace {

// One advisory lock key for all of kurier's schema changes ("kurier" in ASCII, as a bigint).
constexpr const char* kLock = "SELECT pg_advisory_xact_lock(107117114105101114)";

void EnsureTable(Connection& c) {
  c.Script("CREATE TABLE IF NOT EXISTS kurier_schema (component text PRIMARY KEY, version integer NOT NULL, "
           "updated_at timestamptz NOT NULL DEFAULT now())");
}

int VersionIn(Connection& c, std::string_view component) {
  Result r = c.Exec("SELECT version FROM kurier_schema WHERE component = $1", {std::string(component)});
  return r.Rows() == 0 ? 0 : static_cast<int>(r.Int(0, 0));
}

std::string TooNew(const MigrationSet& set, int version) {
  return "the database's " + set.component + " schema is version " + std::to_string(version) +
         ", newer than this kurier knows (" + std::to_string(set.Latest()) +
         "): another node runs a newer kurier; upgrade this node's kurier before starting it";
}

}  // namespace

int SchemaVersion(Connection& c, std::string_view component) {
  Result exists = c.Exec("SELECT to_regclass('kurier_schema') IS NOT NULL");
  if (exists.Text(0, 0) != "t") return 0;
  return VersionIn(c, component);
}

int Migrate(Connection& c, const MigrationSet& set) {
  // The table itself, once, under the lock (two nodes creating it at once would race on the catalog).
  {
    Transaction tx(c);
    c.Exec(kLock);
    EnsureTable(c);
    tx.Commit();
  }
  int applied = 0;
  while (true) {
    Transaction tx(c);
    c.Exec(kLock);  // held to the end of this transaction: one node applies a step, the others wait
    const int version = VersionIn(c, set.component);
    if (version > set.Latest()) throw PgError(TooNew(set, version), "");
    if (version == set.Latest()) break;  // rolled back: nothing was changed
    c.Script(set.steps[static_cast<std::size_t>(version)]);
    c.Exec("INSERT INTO kurier_schema (component, version) VALUES ($1, $2) "
           "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, updated_at = now()",
           {set.component, std::to_string(version + 1)});
    tx.Commit();
    ++applied;
  }
  return applied;
}

std::string CheckSchema(Connection& c, const MigrationSet& set) {
  const int version = SchemaVersion(c, set.component);
  if (version > set.Latest()) return TooNew(set, version);
  if (version < set.Latest())
    return "the database's " + set.component + " schema is version " + std::to_string(version) + ", this kurier needs " +
           std::to_string(set.Latest()) + ": run `kurier db migrate` (once, from any node) and start again";
  return "";
}

}  // namespace kurier::store::pg
