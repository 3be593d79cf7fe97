// pg_pool.cpp - the bounded connection pool (pg_pool.hpp).
#include "store/postgres/pg_pool.hpp"

namespace kurier::store::pg {

Pool::Pool(std::string url, std::size_t size, std::chrono::milliseconds acquire_timeout)
    : url_(std::move(url)), size_(size == 0 ? 1 : size), timeout_(acquire_timeout) {}

Pool::Lease::~Lease() {
  if (pool_ && c_) pool_->Return(std::move(c_));
}

Pool::Lease Pool::Acquire() {
  std::unique_lock lock(mu_);
  bool counted = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (idle_.empty() && open_ >= size_) {
    if (!counted) ++waited_, counted = true;
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= size_)
      throw PgError("all " + std::to_string(size_) + " PostgreSQL connections of this node stayed busy for " +
                        std::to_string(timeout_.count()) + " ms: raise store.pool_size, or look for slow statements "
                        "(pg_stat_activity)",
                    "");
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c));
  }
  ++open_;  // reserved: connect outside the lock
  lock.unlock();
  try {
    return Lease(this, std::make_unique<Connection>(Connection::Open(url_)));
  } catch (...) {
    lock.lock();
    --open_;
    freed_.notify_one();
    throw;
  }
}

void Pool::Return(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  // A connection the server dropped, or one left inside a transaction, is not lent again.
  if (c->Healthy() && !c->InTransaction())
    idle_.push_back(std::move(c));
  else
    --open_;  // dropped: the next caller opens a new one
  freed_.notify_one();
}

Pool::Use Pool::Usage() const {
  std::lock_guard lock(mu_);
  return Use{open_, open_ - idle_.size(), size_, waited_};
}

}  // namespace kurier::store::pg
