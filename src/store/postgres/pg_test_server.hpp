// pg_test_server.hpp - for tests only: a real PostgreSQL server of its own, started in a temporary
// directory on a free loopback port (initdb + pg_ctl, Debian's postgresql-15), stopped and removed at the
// end. Run as root (as the tests are in CI), the server runs as the `postgres` user, since initdb refuses
// root. KURIER_PG_BIN names another directory of PostgreSQL programs.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <string>

#include "store/postgres/pg_db.hpp"

namespace kurier::store::pg::testing {

class TestServer {
 public:
  TestServer() {
    bin_ = FindBin();
    char tmpl[] = "/tmp/kurier-pg-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("cannot make a temporary directory for PostgreSQL");
    dir_ = tmpl;
    port_ = FreePort();
    const bool root = geteuid() == 0;
    if (root) Run("chown postgres:postgres " + dir_, false);
    Run(Quote(bin_ + "/initdb") + " -D " + dir_ + "/data -U kurier --auth=trust -E UTF8 --no-sync >" + dir_ +
            "/initdb.log 2>&1",
        root);
    Run(Quote(bin_ + "/pg_ctl") + " -D " + dir_ + "/data -l " + dir_ + "/server.log -w -t 60 -o \"-p " +
            std::to_string(port_) + " -c listen_addresses=127.0.0.1 -k " + dir_ +
            " -c fsync=off -c synchronous_commit=on\" start >" + dir_ + "/pg_ctl.log 2>&1",
        root);
    started_ = true;
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  ~TestServer() {
    if (started_)
      (void)std::system((Prefix(geteuid() == 0) + Quote(bin_ + "/pg_ctl") + " -D " + dir_ + "/data -m immediate -w stop >/dev/null 2>&1").c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// A URL for database `db` (created on first use by the caller: CREATE DATABASE), user kurier.
  std::string Url(const std::string& db = "postgres") const {
    return "postgresql://kurier@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }
  int Port() const { return port_; }

 private:
  static std::string Quote(const std::string& s) { return "'" + s + "'"; }
  static std::string Prefix(bool root) { return root ? "setpriv --reuid=postgres --regid=postgres --init-groups " : ""; }

  void Run(const std::string& cmd, bool as_postgres) const {
    const std::string full = Prefix(as_postgres) + cmd;
    if (std::system(full.c_str()) != 0)
      throw std::runtime_error("test PostgreSQL server: `" + cmd + "` failed; see the logs in " + dir_ +
                               " (is postgresql-15 installed? scripts/install-deps.sh installs it)");
  }

  static std::string FindBin() {
    if (const char* env = std::getenv("KURIER_PG_BIN")) return env;
    for (const char* v : {"17", "16", "15"}) {
      std::string d = std::string("/usr/lib/postgresql/") + v + "/bin";
      if (std::filesystem::exists(d + "/initdb")) return d;
    }
    throw std::runtime_error("no PostgreSQL server programs (initdb, pg_ctl) under /usr/lib/postgresql/*/bin: "
                             "install postgresql-15 (scripts/install-deps.sh does) or set KURIER_PG_BIN");
  }

  static int FreePort() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("no free loopback port for the test PostgreSQL server");
    close(s);
    return ntohs(a.sin_port);
  }

  std::string bin_, dir_;
  int port_ = 0;
  bool started_ = false;
};

/// A test suite whose tests share one server (each ctest process starts its own for its suite).
class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new TestServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static inline TestServer* server_ = nullptr;
};

/// One server for the whole test process, started on first use (the backend factories of the test bodies
/// that run on every backend use it) and stopped when the process exits.
inline TestServer& SharedServer() {
  static TestServer server;
  return server;
}

/// The URL of a database of SharedServer() named after `dir` (a test's scratch directory) and the running
/// test, created when it does not exist yet: within one test the same `dir` opens the same database again
/// (a test that reopens its storage); another test or another `dir` gets a new, empty one.
inline std::string DatabaseFor(const std::filesystem::path& dir) {
  std::string key = dir.lexically_normal().string();
  if (const auto* test = ::testing::UnitTest::GetInstance()->current_test_info())
    key += std::string("\n") + test->test_suite_name() + "." + test->name();
  std::ostringstream name;
  name << "kt_" << std::hex << std::setw(16) << std::setfill('0') << std::hash<std::string>{}(key);
  auto admin = Connection::Open(SharedServer().Url());
  if (admin.Exec("SELECT 1 FROM pg_database WHERE datname = $1", {name.str()}).Rows() == 0)
    admin.Exec("CREATE DATABASE " + name.str());  // a name of hex digits: nothing to quote
  return SharedServer().Url(name.str());
}

}  // namespace kurier::store::pg::testing
