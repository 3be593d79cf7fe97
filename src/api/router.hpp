// router.hpp - the HTTP API's route table, authentication (Authorization: Bearer KEY, RFC 6750),
// scopes (401 without a valid key, 403 with one lacking the scope), per-key rate limits (429 with
// Retry-After, RFC 6585 4) and the media types a route's body may have (415, RFC 9110 15.5.16).
// No I/O: the server hands it requests, tests call Dispatch directly.
// Two steps, so that nothing is read from a client before it is known to be allowed: Admit looks at the
// request line and headers only (the server calls it before it reads the body, and answers a refusal
// without reading the body), Handle runs the route's handler once the body is there. A handler never
// leaves a request unanswered: an exception it throws, or a reply it drops, becomes a logged 500.
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

#include "common/result.hpp"

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

/// Which listener serves a route when the public endpoints have a listener of their own (public.listen).
enum class Audience {
  kApplications,  ///< the API for applications (api.listen)
  kRecipients,    ///< what recipients' mail clients and browsers reach: tracking, unsubscribe (public.listen)
};

struct Route {
  std::string method;   ///< GET, POST, PUT, PATCH, DELETE
  std::string pattern;  ///< "/v1/messages/{id}"
  Scope scope;
  Handler handler;
  /// The media types a body of this request may have ("application/json" also admits the
  /// application/*+json types); a request with a body of another type is refused with 415 before the
  /// body is read. Unset: application/json for POST, PUT and PATCH; any (the body is not read) otherwise.
  std::optional<std::vector<std::string>> accepts = std::nullopt;
  Audience audience = Audience::kApplications;
};

/// Which routes a listener serves.
enum class RouteSet {
  kAll,           ///< one listener serves everything (public.listen = "")
  kApplications,  ///< only Audience::kApplications (the API listener when public.listen is set)
  kRecipients,    ///< only Audience::kRecipients (the public listener)
};

/// The outcome of Router::Admit: either the route and who calls it, or the refusal to answer.
struct Admission {
  const Route* route = nullptr;
  RouteContext ctx;
  std::optional<HttpResponse> refusal;  ///< 404, 405, 401, 403, 429 or 415; set when the request is refused
};

/// True when `request` carries a body, by its headers (a Content-Length other than 0, or a
/// Transfer-Encoding) or by the body itself.
bool HasBody(const HttpRequest& request);
/// True when Content-Type value `content_type` is one of `accepted` (parameters such as charset are
/// ignored; "application/json" in `accepted` also admits application/*+json).
bool MediaTypeAccepted(const std::string& content_type, const std::vector<std::string>& accepted);

struct RouterOptions {
  double rate_per_second = 0;  ///< per API key; 0: unlimited
  double burst = 0;            ///< bucket size; 0: one second's worth
  std::chrono::seconds key_cache_ttl{30};  ///< how long a looked-up key is trusted (revocation delay)
};

class Router {
 public:
  /// Finds the live key whose BLAKE2b-256 hex is the argument; nullopt when there is none.
  /// The key with this hash (nullopt: no such live key), or an error when it cannot be checked now (the
  /// store is unreachable): the request is then answered 503, and nothing is cached.
  using KeyLookup = std::function<Result<std::optional<Principal>>(const std::string& key_hash)>;

  Router(KeyLookup lookup, RouterOptions options);
  void Add(Route route);
  const std::vector<Route>& routes() const { return routes_; }

  /// Admits a request by its method, path and headers (the body need not have arrived): 404 for an
  /// unknown path (or one `set` does not serve), 405 (with Allow) for a wrong method, then 401/403/429,
  /// then 415 for a body of a media type the route does not take. A request that is admitted has taken
  /// its rate-limit token.
  Admission Admit(const HttpRequest& head, RouteSet set = RouteSet::kAll);
  /// Runs the handler of an admitted request (with its body). `reply` is called exactly once, possibly
  /// from another thread: an exception the handler throws is logged and answered 500, and so is a
  /// handler that drops its reply without calling it.
  void Handle(const Admission& admitted, const HttpRequest& request, Reply reply);
  /// Admit, then Handle when admitted (the refusal is the reply otherwise).
  void Dispatch(const HttpRequest& request, Reply reply, RouteSet set = RouteSet::kAll);

  /// Forgets what the key cache holds for key `key_id`: call it right after revoking the key, so that
  /// its next request is looked up again (and refused) instead of trusted for key_cache_ttl.
  void ForgetKey(int64_t key_id);
  /// The same for every key of `account` (after removing the account).
  void ForgetAccount(const std::string& account);

 private:
  Result<std::optional<Principal>> Authenticate(const std::string& bearer);
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
