// auth_service.hpp - SMTP AUTH credential checks: Argon2id verification off the I/O threads, a
// keyed-hash cache of recent successes, and throttling of failures per client address and username.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/config.hpp"
#include "smtp/proto/server_session.hpp"

namespace kurier::store {
class Store;
}

namespace kurier::smtp::server {

/// Counts failures per key in a sliding window; after `max_failures` the key is cooled down.
/// Pure (the caller passes the time), so it is tested without waiting.
class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AuthThrottle(AuthPolicy policy) : policy_(policy) {}
  /// Seconds left in the key's cool-down, or nullopt when it may try.
  std::optional<int> Blocked(const std::string& key, Clock::time_point now);
  void RecordFailure(const std::string& key, Clock::time_point now);
  void RecordSuccess(const std::string& key);

 private:
  struct Entry {
    std::vector<Clock::time_point> failures;
    Clock::time_point blocked_until{};
  };
  void Prune(Clock::time_point now);
  AuthPolicy policy_;
  std::map<std::string, Entry> entries_;
  Clock::time_point last_prune_{};
};

class AuthService {
 public:
  AuthService(store::Store& store, AuthPolicy policy);
  /// Blocking (Argon2id): call from a worker thread. `mechanism` is recorded in failure events.
  proto::AuthResult Authenticate(const std::string& client_ip, const proto::AuthRequest& request);

 private:
  bool CachedOk(const std::string& username, const std::string& hash, const std::string& password);
  void Remember(const std::string& username, const std::string& hash, const std::string& password);
  std::string Mac(const std::string& password) const;

  store::Store& store_;
  AuthPolicy policy_;
  std::mutex mu_;
  AuthThrottle throttle_;
  struct CacheEntry {
    std::string stored_hash, mac;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, CacheEntry> cache_;
  std::string cache_key_;
  std::string dummy_hash_;  ///< verified against for unknown users, so both cases take as long
};

}  // namespace kurier::smtp::server
