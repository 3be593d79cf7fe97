// pg_migrate.hpp - numbered schema migrations for the PostgreSQL backend (issue 16): `kurier db migrate`
// applies them, and a node checks at start that the database's schema is one it knows, refusing a newer
// one (another node was upgraded first) and an older one (`kurier db migrate` not run yet) with what to do.
// Several nodes may run migrate at once: a transaction-scoped advisory lock lets one apply each step.
// STANDARDS: PostgreSQL 15 (pg_advisory_xact_lock, transactional DDL).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "store/postgres/pg_db.hpp"

namespace kurier::store::pg {

/// A component's schema history: `steps[i]` takes the schema from version i to i + 1.
struct MigrationSet {
  std::string component;           ///< "store", "spool": a row of kurier_schema each
  std::vector<std::string> steps;  ///< SQL scripts, applied in order, each in its own transaction
  int Latest() const { return static_cast<int>(steps.size()); }
};

/// The version recorded for `component` (0 when it has none yet).
int SchemaVersion(Connection& c, std::string_view component);

/// Applies the steps after the recorded version, each in a transaction with the version row; returns how
/// many it applied. PgError when the database is newer than `set` knows (upgrade kurier first).
int Migrate(Connection& c, const MigrationSet& set);

/// "" when the database's schema is exactly `set`'s latest; otherwise what is wrong and what to run.
std::string CheckSchema(Connection& c, const MigrationSet& set);

}  // namespace kurier::store::pg
