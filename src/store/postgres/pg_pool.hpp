// pg_pool.hpp - a bounded pool of PostgreSQL connections shared by a node's threads (issue 16): at most
// `size` connections, opened when first needed; a caller waits up to `acquire_timeout` for one and is then
// told that every connection is busy; a connection the server dropped (restart, failover, terminated
// backend) is closed when it comes back and a new one is opened for the next caller.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/postgres/pg_db.hpp"

namespace kurier::store::pg {

class Pool {
 public:
  Pool(std::string url, std::size_t size, std::chrono::milliseconds acquire_timeout = std::chrono::seconds(10));
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// A connection lent to one caller; it goes back to the pool when the lease ends.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), c_(std::move(other.c_)) { other.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *c_; }
    Connection* operator->() const { return c_.get(); }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    Pool* pool_;
    std::unique_ptr<Connection> c_;
  };

  /// A connection, opening one when none is idle and fewer than `size` exist; waits otherwise. PgError
  /// when none comes free in time (it says so and what to change) or the server cannot be reached.
  Lease Acquire();

  struct Use {
    std::size_t open = 0, in_use = 0, size = 0;
    unsigned long long waited = 0;  ///< acquisitions that had to wait
  };
  Use Usage() const;

 private:
  void Return(std::unique_ptr<Connection> c);

  const std::string url_;
  const std::size_t size_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
  unsigned long long waited_ = 0;
};

}  // namespace kurier::store::pg
