// router.cpp - routes, bearer-key authentication (RFC 6750 2.1), scopes, token-bucket rate limits.
// SECURITY: keys are compared by their BLAKE2b-256 hash only; a key's secret never reaches a log.
#include "api/router.hpp"

#include <cmath>
#include <sstream>

#include "common/encoding.hpp"

namespace kurier::api {

const char* ScopeName(Scope s) {
  switch (s) {
    case Scope::kPublic: return "public";
    case Scope::kSend: return "send";
    case Scope::kRead: return "read";
    case Scope::kAdmin: return "admin";
  }
  return "?";
}

bool Principal::Has(Scope s) const {
  if (s == Scope::kPublic) return true;
  std::istringstream in(scopes);
  for (std::string w; in >> w;)
    if (w == "admin" || w == ScopeName(s)) return true;  // admin may do everything
  return false;
}

bool MatchPattern(const std::string& pattern, const std::string& path, std::map<std::string, std::string>& params) {
  size_t pi = 0, si = 0;
  params.clear();
  while (pi < pattern.size() && si <= path.size()) {
    if (pattern[pi] == '{') {
      size_t close = pattern.find('}', pi);
      std::string name = pattern.substr(pi + 1, close - pi - 1);
      size_t end = path.find('/', si);
      if (end == std::string::npos) end = path.size();
      if (end == si) return false;  // empty segment
      params[name] = path.substr(si, end - si);
      pi = close + 1;
      si = end;
    } else {
      if (si >= path.size() || pattern[pi] != path[si]) return false;
      ++pi, ++si;
    }
  }
  return pi == pattern.size() && si == path.size();
}

Router::Router(KeyLookup lookup, RouterOptions options) : lookup_(std::move(lookup)), options_(options) {}

void Router::Add(Route route) { routes_.push_back(std::move(route)); }

std::optional<Principal> Router::Authenticate(const std::string& bearer) {
  const std::string hash = HashHex(bearer);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = keys_.find(hash);
    if (it != keys_.end() && it->second.until > now) return it->second.who;
  }
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    generation = generation_;
  }
  auto who = lookup_(hash);
  std::lock_guard lock(mu_);
  if (generation != generation_) return who;  // a key was revoked meanwhile: this answer may be stale
  if (keys_.size() > 100000) keys_.clear();  // bounded: wrong keys cannot grow it without limit
  keys_[hash] = CachedKey{who, now + options_.key_cache_ttl};
  return who;
}

void Router::Forget(const std::function<bool(const Principal&)>& match) {
  std::lock_guard lock(mu_);
  ++generation_;
  std::erase_if(keys_, [&](const auto& kv) { return kv.second.who && match(*kv.second.who); });
}

void Router::ForgetKey(int64_t key_id) {
  Forget([key_id](const Principal& p) { return p.key_id == key_id; });
}

void Router::ForgetAccount(const std::string& account) {
  Forget([&account](const Principal& p) { return p.account == account; });
}

int Router::TakeToken(int64_t key_id) {
  if (options_.rate_per_second <= 0) return 0;
  const double burst = options_.burst > 0 ? options_.burst : std::max(1.0, options_.rate_per_second);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto [it, fresh] = buckets_.try_emplace(key_id, Bucket{burst, now});
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(burst, b.tokens + elapsed * options_.rate_per_second);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / options_.rate_per_second)));
}

void Router::Dispatch(const HttpRequest& request, Reply reply) {
  std::map<std::string, std::string> params;
  std::string allow;
  const Route* route = nullptr;
  for (const auto& r : routes_) {
    if (!MatchPattern(r.pattern, request.path, params)) continue;
    if (r.method == request.method) {
      route = &r;
      break;
    }
    allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (!route) {
    if (allow.empty())
      return reply(Problem(404, "Not Found", "no endpoint " + request.path + "; the routes are listed in /v1/openapi.json"));
    auto res = Problem(405, "Method Not Allowed", request.method + " is not allowed on " + request.path + "; use " + allow);
    res.headers.emplace_back("Allow", allow);
    return reply(std::move(res));
  }
  MatchPattern(route->pattern, request.path, params);
  RouteContext ctx{params, {}};
  if (route->scope != Scope::kPublic) {
    const std::string& auth = request.Header("authorization");
    auto unauthorized = [&](const std::string& detail) {
      auto res = Problem(401, "Unauthorized", detail);
      res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"kurier\"");
      reply(std::move(res));
    };
    if (auth.empty())
      return unauthorized("this endpoint needs an API key: send 'Authorization: Bearer KEY' (create one with "
                          "'kurier api-key create ACCOUNT' or POST /v1/api-keys)");
    if (!IStartsWith(auth, "Bearer ") || auth.size() <= 7)
      return unauthorized("the Authorization header must be 'Bearer KEY'");
    std::string key = auth.substr(7);
    while (!key.empty() && key.front() == ' ') key.erase(0, 1);
    auto who = Authenticate(key);
    if (!who) return unauthorized("the API key is not valid (unknown or revoked); check it or create a new one");
    if (!who->Has(route->scope))
      return reply(Problem(403, "Forbidden",
                           std::string("this API key lacks the '") + ScopeName(route->scope) + "' scope needed for " +
                               request.method + " " + route->pattern + " (it has: " + who->scopes + ")"));
    if (int wait = TakeToken(who->key_id); wait > 0) {
      auto res = Problem(429, "Too Many Requests",
                         "this API key is over its rate limit (api.rate_per_second); retry after " + std::to_string(wait) + " s");
      res.headers.emplace_back("Retry-After", std::to_string(wait));
      return reply(std::move(res));
    }
    ctx.who = *who;
  }
  route->handler(request, ctx, std::move(reply));
}

}  // namespace kurier::api
