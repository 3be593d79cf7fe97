// store.cpp - backend selection.
#include "store/store.hpp"

#include "store/sqlite/sqlite_store.hpp"

namespace kurier::store {

Result<std::unique_ptr<Store>> OpenStore(const std::string& backend, const std::filesystem::path& path,
                                         const StoreOptions& options) {
  if (backend == "sqlite") {
    auto s = sqlite::SqliteStore::Open(path, options);
    if (!s) return s.error();
    return std::unique_ptr<Store>(std::move(s.value()));
  }
  return MakeError(ErrorCode::kConfig, "store backend '" + backend + "' is not available; set store.backend = \"sqlite\"");
}

}  // namespace kurier::store
