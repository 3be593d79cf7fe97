// spool_test_backends.hpp - for tests only: the spool storage backends that spool_test.cpp's test bodies
// run against (with the store backends' first one for events). A new backend adds its factory here.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "spool/sqlite/sqlite_spool_storage.hpp"
#include "spool/spool_storage.hpp"

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
  };
}

inline std::string BackendName(const ::testing::TestParamInfo<SpoolBackend>& info) { return info.param.name; }

}  // namespace kurier::spool::testing
