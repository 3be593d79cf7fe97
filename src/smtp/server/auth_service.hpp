// auth_service.hpp - SMTP AUTH credential checks: Argon2id verification off the I/O threads, a
// keyed-hash cache of recent successes, and throttling of failures that slows down and blocks the
// address that fails, never the user it names (issue 12, item 3).
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "smtp/proto/server_session.hpp"

namespace kurier::store {
class Store;
}

namespace kurier::smtp::server {

/// Failed logins within auth.failure_window, counted per client address, per (address, username) pair
/// and per username:
/// - a pair's first auth.free_failures failures cost nothing; after them every answer to that pair waits
///   1 s, 2 s, 4 s ... up to auth.max_delay; a success from the pair resets its count;
/// - an address with auth.max_failures failures (all usernames together) is blocked for auth.cooldown:
///   AUTH from it is answered 454 at once, even with the right password;
/// - a username failing auth.max_failures times from all addresses together only adds auth.user_delay
///   seconds to each of its answers: a correct password from an address with no failures of its own is
///   never refused.
/// Pure (the caller passes the time), so it is tested without waiting. Not thread-safe: AuthService locks.
class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AuthThrottle(AuthPolicy policy) : policy_(policy) {}

  struct Decision {
    std::optional<int> blocked_seconds;  ///< set: the address is blocked for this long
    std::chrono::milliseconds delay{0};  ///< wait this long before answering
  };
  Decision Check(const std::string& ip, const std::string& user, Clock::time_point now);
  void RecordFailure(const std::string& ip, const std::string& user, Clock::time_point now);
  void RecordSuccess(const std::string& ip, const std::string& user);

  /// One line of `kurier auth status`.
  struct Entry {
    std::string kind;  ///< "address", "pair" or "username"
    std::string ip, user;
    int failures = 0;                        ///< within the window
    std::optional<int> blocked_seconds;      ///< address blocked for this much longer
    std::chrono::milliseconds next_delay{0};  ///< what the next answer waits
    std::optional<int> recent_seconds;       ///< seconds until the oldest counted failure leaves the window
  };
  /// Addresses blocked or with failures, pairs with delays, usernames with a delay.
  std::vector<Entry> Status(Clock::time_point now);
  /// Forgets the failures and block of `ip` (and its pairs), of `user` (and its pairs), or with both of
  /// that pair and the address. Returns how many entries were removed.
  std::size_t Unblock(const std::optional<std::string>& ip, const std::optional<std::string>& user);

 private:
  struct Failures {
    std::vector<Clock::time_point> at;  ///< oldest first, bounded
    Clock::time_point blocked_until{};  ///< addresses only
  };
  int Count(Failures& f, Clock::time_point now) const;
  std::chrono::milliseconds PairDelay(int failures) const;
  void Prune(Clock::time_point now);

  AuthPolicy policy_;
  std::map<std::string, Failures> by_ip_, by_user_;
  std::map<std::pair<std::string, std::string>, Failures> by_pair_;
  Clock::time_point last_prune_{};
};

/// What one AUTH gets: the session's result, and how long to wait before it is answered (the wait is
/// the caller's, on a timer: a worker thread never sleeps).
struct AuthOutcome {
  proto::AuthResult result;
  std::chrono::milliseconds delay{0};
};

class AuthService {
 public:
  AuthService(store::Store& store, AuthPolicy policy);
  /// Blocking (Argon2id): call from a worker thread. `connection_failure` belongs to the connection: it
  /// remembers (as a keyed hash) the credentials of its last failure, so a client that tries the same
  /// wrong password with a second mechanism (swaks, smtplib: PLAIN then LOGIN) counts one failure.
  AuthOutcome Authenticate(const std::string& client_ip, const proto::AuthRequest& request,
                           std::string& connection_failure);

  /// JSON for `kurier auth status --json`: {"addresses": [...], "pairs": [...], "usernames": [...]}.
  std::string StatusJson();
  /// `kurier auth unblock`: see AuthThrottle::Unblock.
  std::size_t Unblock(const std::optional<std::string>& ip, const std::optional<std::string>& user);

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
