// db_command.cpp - `kurier db migrate` and `kurier db status`: the database's schema (`db copy`: db_copy.cpp). The embedded SQLite
// store migrates itself whenever it opens; a PostgreSQL database is shared by several nodes, so its
// numbered migrations run only when an operator says so (once before the first `kurier serve`, and after
// each upgrade), and a node refuses a schema it does not know (pg_migrate.hpp).
#include <boost/json.hpp>
#include <iostream>

#include "app/admin_commands.hpp"
#include "app/app.hpp"
#include "spool/postgres/pg_spool_storage.hpp"
#include "store/postgres/pg_store.hpp"

namespace kurier::app {

namespace {

// Every component kept in PostgreSQL, in the order `db migrate` brings them up to date.
std::vector<store::pg::MigrationSet> PostgresSchema() {
  return {store::postgres::PgStore::Migrations(), spool::PgSpoolStorage::Migrations()};
}

store::pg::Connection ConnectOrExit(const Config& c) {
  auto location = StoreLocation(c);
  if (!location) Fail(location.error().message);
  try {
    return store::pg::Connection::Open(location.value());
  } catch (const store::pg::PgError& e) {
    Fail(e.what());
  }
}

void Migrate(const Config& c) {
  if (c.store_backend != "postgresql") {
    // The SQLite files migrate as they open: opening them is the migration.
    OpenStoreOrExit(c, /*create_secret=*/false, /*migrate=*/true);
    std::cout << "SQLite store " << c.sqlite_path.string() << ": up to date (SQLite files migrate whenever kurier opens them)\n";
    return;
  }
  auto conn = ConnectOrExit(c);
  try {
    for (const auto& set : PostgresSchema()) {
      const int before = store::pg::SchemaVersion(conn, set.component);
      const int applied = store::pg::Migrate(conn, set);
      std::cout << set.component << ": schema " << before << " -> " << set.Latest() << " ("
                << (applied ? std::to_string(applied) + " migration(s) applied" : "already up to date") << ")\n";
    }
  } catch (const store::pg::PgError& e) {
    Fail(std::string("migration failed, nothing of the failing step was applied: ") + e.what());
  }
  std::cout << "PostgreSQL " << conn.Describe() << " is ready for 'kurier serve'\n";
}

void Status(const Config& c, bool json) {
  boost::json::object out{{"backend", c.store_backend}};
  if (c.store_backend != "postgresql") {
    out["location"] = c.sqlite_path.string();
    if (json) {
      std::cout << boost::json::serialize(out) << "\n";
    } else {
      std::cout << "backend   sqlite\nlocation  " << c.sqlite_path.string()
                << "\nschema    migrated whenever kurier opens it\n";
    }
    return;
  }
  auto conn = ConnectOrExit(c);
  out["location"] = conn.Describe();
  out["server_version"] = conn.ServerVersion();
  boost::json::array components;
  bool current = true;
  try {
    for (const auto& set : PostgresSchema()) {
      const int have = store::pg::SchemaVersion(conn, set.component);
      const std::string problem = store::pg::CheckSchema(conn, set);
      current = current && problem.empty();
      components.push_back(boost::json::object{{"component", set.component}, {"version", have}, {"known", set.Latest()},
                                               {"state", problem.empty() ? "current" : problem}});
    }
  } catch (const store::pg::PgError& e) {
    Fail(e.what());
  }
  out["components"] = components;
  if (json) {
    std::cout << boost::json::serialize(out) << "\n";
  } else {
    std::cout << "backend   postgresql\nlocation  " << conn.Describe() << " (server " << conn.ServerVersion() / 10000 << "."
              << conn.ServerVersion() % 10000 << ")\n";
    for (const auto& v : components) {
      const auto& o = v.as_object();
      std::cout << "schema    " << o.at("component").as_string().c_str() << " " << o.at("version").as_int64() << " of "
                << o.at("known").as_int64() << ": " << o.at("state").as_string().c_str() << "\n";
    }
  }
  if (!current) std::exit(1);
}

}  // namespace

void AddDbCommand(CLI::App& app, std::string& config_path) {
  auto* db = app.add_subcommand("db", "The database's schema (PostgreSQL: run 'db migrate' before the first serve and after upgrades)");
  db->require_subcommand(1);
  auto* migrate = db->add_subcommand("migrate", "Apply the schema migrations this kurier knows (safe to run on several nodes at once)");
  AddConfigOption(migrate, config_path);
  migrate->callback([&] { Migrate(LoadConfigOrExit(config_path)); });
  auto* status = db->add_subcommand("status", "Show the backend, where it is and its schema version; exit 1 unless current");
  static bool json = false;
  status->add_flag("--json", json, "JSON output");
  AddConfigOption(status, config_path);
  status->callback([&] { Status(LoadConfigOrExit(config_path), json); });
  AddDbCopyCommand(db, config_path);
}

}  // namespace kurier::app
