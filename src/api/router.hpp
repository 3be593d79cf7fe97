// router.hpp - the HTTP API's route table, authentication (Authorization: Bearer KEY, RFC 6750),
// scopes (401 without a valid key, 403 with one lacking the scope) and per-key rate limits (429 with
// Retry-After, RFC 6585 4). No I/O: the server hands it requests, tests call Dispatch directly.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/http.hpp"

namespace kurier::api {

enum class Scope { kPublic, kSend, kRead, kAdmin };
const char* ScopeName(Scope s);

/// Who is calling: the account and scopes of the API key used.
struct Principal {
  int64_t key_id = 0;
  std::string account;
  std::string scopes;  ///< space-separated: send read admin
  bool Has(Scope s) const;
};

struct RouteContext {
  std::map<std::string, std::string> params;  ///< {name} segments of the pattern
  Principal who;
};

using Handler = std::function<void(const HttpRequest&, const RouteContext&, Reply)>;

struct Route {
  std::string method;   ///< GET, POST, PUT, PATCH, DELETE
  std::string pattern;  ///< "/v1/messages/{id}"
  Scope scope;
  Handler handler;
};

struct RouterOptions {
  double rate_per_second = 0;  ///< per API key; 0: unlimited
  double burst = 0;            ///< bucket size; 0: one second's worth
  std::chrono::seconds key_cache_ttl{30};  ///< how long a looked-up key is trusted (revocation delay)
};

class Router {
 public:
  /// Finds the live key whose BLAKE2b-256 hex is the argument; nullopt when there is none.
  using KeyLookup = std::function<std::optional<Principal>(const std::string& key_hash)>;

  Router(KeyLookup lookup, RouterOptions options);
  void Add(Route route);
  const std::vector<Route>& routes() const { return routes_; }

  /// Routes `request`: 404 for an unknown path, 405 (with Allow) for a wrong method, then 401/403/429,
  /// then the handler. `reply` is called exactly once, possibly from another thread.
  void Dispatch(const HttpRequest& request, Reply reply);

  /// Forgets what the key cache holds for key `key_id`: call it right after revoking the key, so that
  /// its next request is looked up again (and refused) instead of trusted for key_cache_ttl.
  void ForgetKey(int64_t key_id);
  /// The same for every key of `account` (after removing the account).
  void ForgetAccount(const std::string& account);

 private:
  std::optional<Principal> Authenticate(const std::string& bearer);
  /// Seconds to wait before the key may call again; 0 when the call is allowed now.
  int TakeToken(int64_t key_id);
  void Forget(const std::function<bool(const Principal&)>& match);

  KeyLookup lookup_;
  RouterOptions options_;
  std::vector<Route> routes_;
  std::mutex mu_;
  struct CachedKey {
    std::optional<Principal> who;
    std::chrono::steady_clock::time_point until;
  };
  std::unordered_map<std::string, CachedKey> keys_;  // by key hash
  // Bumped by every Forget: a look-up that started before a revocation must not cache its answer after it.
  uint64_t generation_ = 0;
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::unordered_map<int64_t, Bucket> buckets_;
};

/// Matches "/v1/messages/{id}" against a path; fills `params`.
bool MatchPattern(const std::string& pattern, const std::string& path, std::map<std::string, std::string>& params);

}  // namespace kurier::api
