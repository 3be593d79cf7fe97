// store_test_backends.hpp - for tests only: the store backends that the backend-independent store tests
// (store_test.cpp, template_store_test.cpp, credentials_test.cpp) run against. A new backend adds its
// factory here, and every test body runs on it unchanged.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "store/postgres/pg_test_server.hpp"
#include "store/store.hpp"

namespace kurier::store::testing {

struct StoreBackend {
  std::string name;
  /// Opens a new, empty store whose files (if any) go under the test's scratch directory `dir`.
  std::function<Result<std::unique_ptr<Store>>(const std::filesystem::path& dir, const StoreOptions& options)> open;
};

inline std::vector<StoreBackend> StoreBackends() {
  return {
      {"sqlite", [](const std::filesystem::path& dir, const StoreOptions& options) {
         return OpenStore("sqlite", (dir / "kurier.db").string(), options);
       }},
      // A real PostgreSQL 15 server of the test process, a new database per test (pg_test_server.hpp).
      {"postgresql", [](const std::filesystem::path& dir, const StoreOptions& options) {
         return OpenStore("postgresql", store::pg::testing::DatabaseFor(dir), options);
       }},
  };
}

/// Names instantiated tests after their backend (Backends/StoreTest.Name/sqlite).
inline std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; }

}  // namespace kurier::store::testing
