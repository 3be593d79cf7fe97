// store.cpp - backend selection, and what every backend answers the same way over its interface.
#include "store/store.hpp"

#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace kurier::store {

Result<std::unique_ptr<Store>> OpenStore(const std::string& backend, const std::string& location,
                                         const StoreOptions& options) {
  if (backend == "sqlite") {
    auto s = sqlite::SqliteStore::Open(location, options);
    if (!s) return s.error();
    return std::unique_ptr<Store>(std::move(s.value()));
  }
  if (backend == "postgresql") {
    auto s = postgres::PgStore::Open(location, options);
    if (!s) return s.error();
    return std::unique_ptr<Store>(std::move(s.value()));
  }
  return MakeError(ErrorCode::kConfig, "store backend '" + backend + "' is not available; use \"sqlite\" or \"postgresql\"");
}

Result<std::optional<MessageContext>> Store::FindMessageContext(const std::string& id) {
  // A message's events start with its `accepted` one; its deliveries follow.
  EventFilter f;
  f.message_id = id;
  f.limit = 50;
  auto events = ListEvents(f);
  if (!events) return events.error();
  auto context = ContextFromEvents(events.value());
  if (!context && events->size() == f.limit) {  // more events than that: ask for the accepted one alone
    f.type = "accepted";
    f.limit = 1;
    events = ListEvents(f);
    if (!events) return events.error();
    context = ContextFromEvents(events.value());
  }
  return context;
}

}  // namespace kurier::store
