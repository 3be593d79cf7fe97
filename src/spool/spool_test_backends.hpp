// spool_test_backends.hpp - for tests only: the spool storage backends that spool_test.cpp's test bodies
// run against (with the store backends' first one for events). A new backend adds its factory here.
// PostgreSQL runs on the test process's shared server (store/postgres/pg_test_server.hpp), a database per
// test and scratch directory; the `fsync` flag is SQLite's (the test server itself runs with fsync off).
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "spool/postgres/pg_spool_storage.hpp"
#include "spool/sqlite/sqlite_spool_storage.hpp"
#include "spool/spool_storage.hpp"
#include "store/postgres/pg_test_server.hpp"

namespace kurier::spool::testing {

struct SpoolBackend {
  std::string name;
  /// Opens the spool storage kept under the test's scratch directory `dir` (the same one again after a
  /// reopen: a test of durability opens it twice).
  std::function<Result<std::unique_ptr<SpoolStorage>>(const std::filesystem::path& dir, bool fsync)> open;
};

inline std::vector<SpoolBackend> SpoolBackends() {
  return {
      {"sqlite", [](const std::filesystem::path& dir, bool fsync) -> Result<std::unique_ptr<SpoolStorage>> {
         auto s = SqliteSpoolStorage::Open(dir / "spool.db", fsync);
         if (!s) return s.error();
         return std::unique_ptr<SpoolStorage>(std::move(s.value()));
       }},
      {"postgresql", [](const std::filesystem::path& dir, bool) -> Result<std::unique_ptr<SpoolStorage>> {
         std::string url;
         try {
           url = store::pg::testing::DatabaseFor(dir);
         } catch (const std::exception& e) {  // no test server: the test fails saying why
           return MakeError(ErrorCode::kStorage, e.what());
         }
         auto s = PgSpoolStorage::Open(url);
         if (!s) return s.error();
         return std::unique_ptr<SpoolStorage>(std::move(s.value()));
       }},
  };
}

inline std::string BackendName(const ::testing::TestParamInfo<SpoolBackend>& info) { return info.param.name; }

}  // namespace kurier::spool::testing
