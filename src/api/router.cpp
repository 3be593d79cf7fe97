// router.cpp - routes, bearer-key authentication (RFC 6750 2.1), scopes, token-bucket rate limits.
// SECURITY: keys are compared by their BLAKE2b-256 hash only; a key's secret never reaches a log.
#include "api/router.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <memory>
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

Result<std::optional<Principal>> Router::Authenticate(const std::string& bearer) {
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
  if (!who) return who;  // not known now (the store is unreachable): asked again next time
  std::lock_guard lock(mu_);
  if (generation != generation_) return who;  // a key was revoked meanwhile: this answer may be stale
  if (keys_.size() > 100000) keys_.clear();  // bounded: wrong keys cannot grow it without limit
  keys_[hash] = CachedKey{who.value(), now + options_.key_cache_ttl};
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

bool HasBody(const HttpRequest& request) {
  if (!request.body.empty()) return true;
  if (!request.Header("transfer-encoding").empty()) return true;
  const std::string& length = request.Header("content-length");
  return !length.empty() && length.find_first_not_of("0") != std::string::npos;
}

bool MediaTypeAccepted(const std::string& content_type, const std::vector<std::string>& accepted) {
  // RFC 9110 8.3.1: type "/" subtype *( OWS ";" OWS parameter ); type and subtype are case-insensitive.
  std::string type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.erase(0, 1);
  type = ToLowerAscii(type);
  if (type.empty()) return false;
  for (const auto& a : accepted) {
    if (type == a) return true;
    // application/*+json (RFC 6839 3.1): problem+json, merge-patch+json, ...
    if (a == "application/json" && type.size() > 17 && type.rfind("application/", 0) == 0 &&
        type.compare(type.size() - 5, 5, "+json") == 0 && type.find('/', 12) == std::string::npos)
      return true;
  }
  return false;
}

namespace {

// "?a=1&b=x%20y" for decoded query parameters (RFC 3986 2.3: unreserved characters stay, the rest is
// percent-encoded); "" when there are none.
std::string QueryString(const std::map<std::string, std::string>& query) {
  static const char kHex[] = "0123456789ABCDEF";
  auto encode = [](std::string& out, const std::string& s) {
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  };
  std::string out;
  for (const auto& [k, v] : query) {
    out += out.empty() ? '?' : '&';
    encode(out, k);
    out += '=';
    encode(out, v);
  }
  return out;
}

bool Serves(RouteSet set, const Route& r) {
  switch (set) {
    case RouteSet::kAll: return true;
    case RouteSet::kApplications: return r.audience == Audience::kApplications;
    case RouteSet::kRecipients: return r.audience == Audience::kRecipients;
  }
  return false;
}

// The Reply a handler gets: passes the first call on and ignores the rest, and answers 500 when every
// copy of it is gone without a call (a handler that lost its reply would leave the client waiting).
class ReplyOnce {
 public:
  ReplyOnce(Reply reply, std::string what) : reply_(std::move(reply)), what_(std::move(what)) {}
  ReplyOnce(const ReplyOnce&) = delete;
  ReplyOnce& operator=(const ReplyOnce&) = delete;
  ~ReplyOnce() {
    if (sent_.load()) return;
    try {
      spdlog::error("api: {} ended without an answer (a handler dropped its reply); answering 500", what_);
      reply_(InternalError());
    } catch (...) {
    }
  }
  void Send(HttpResponse r) {
    if (sent_.exchange(true)) return;
    reply_(std::move(r));
  }

 private:
  Reply reply_;
  std::string what_;
  std::atomic<bool> sent_{false};
};

}  // namespace

Admission Router::Admit(const HttpRequest& request, RouteSet set) {
  Admission a;
  std::map<std::string, std::string> params;
  std::string allow;
  const Route* route = nullptr;
  for (const auto& r : routes_) {
    if (!Serves(set, r) || !MatchPattern(r.pattern, request.path, params)) continue;
    if (r.method == request.method) {
      route = &r;
      break;
    }
    allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (!route) {
    if (allow.empty() && (request.method == "GET" || request.method == "HEAD")) {
      // "/docs/" for "/docs": a literal GET route asked for with a trailing slash is redirected to
      // (a path with parameters is not, so the Location is always one of the server's own literals).
      for (const auto& r : routes_)
        if (Serves(set, r) && r.method == "GET" && request.path.size() > 1 && request.path.back() == '/' &&
            r.pattern == request.path.substr(0, request.path.size() - 1)) {
          const std::string location = r.pattern + QueryString(request.query);  // filters survive the redirect
          a.refusal = HttpResponse{308, "text/plain; charset=utf-8", {{"Location", location}}, "see " + location + "\n"};
          return a;
        }
    }
    if (allow.empty()) {
      a.refusal = Problem(404, "Not Found",
                          "no endpoint " + request.path +
                              (set == RouteSet::kRecipients ? " on this listener (it serves the public tracking and "
                                                              "unsubscribe links only)"
                                                            : "; the routes are listed in /v1/openapi.json"));
      return a;
    }
    a.refusal = Problem(405, "Method Not Allowed", request.method + " is not allowed on " + request.path + "; use " + allow);
    a.refusal->headers.emplace_back("Allow", allow);
    return a;
  }
  MatchPattern(route->pattern, request.path, params);
  a.ctx.params = std::move(params);
  if (route->scope != Scope::kPublic) {
    const std::string& auth = request.Header("authorization");
    auto unauthorized = [&](const std::string& detail) {
      a.refusal = Problem(401, "Unauthorized", detail);
      a.refusal->headers.emplace_back("WWW-Authenticate", "Bearer realm=\"kurier\"");
      return a;
    };
    if (auth.empty())
      return unauthorized("this endpoint needs an API key: send 'Authorization: Bearer KEY' (create one with "
                          "'kurier api-key create ACCOUNT' or POST /v1/api-keys)");
    if (!IStartsWith(auth, "Bearer ") || auth.size() <= 7)
      return unauthorized("the Authorization header must be 'Bearer KEY'");
    std::string key = auth.substr(7);
    while (!key.empty() && key.front() == ' ') key.erase(0, 1);
    auto checked = Authenticate(key);
    if (!checked) {
      a.refusal = Problem(503, "Unavailable", "the API key cannot be checked now (" + checked.error().message +
                                                  "); nothing was done, retry in a few seconds");
      return a;
    }
    const std::optional<Principal>& who = checked.value();
    if (!who) return unauthorized("the API key is not valid (unknown or revoked); check it or create a new one");
    if (!who->Has(route->scope)) {
      a.refusal = Problem(403, "Forbidden",
                          std::string("this API key lacks the '") + ScopeName(route->scope) + "' scope needed for " +
                              request.method + " " + route->pattern + " (it has: " + who->scopes + ")");
      return a;
    }
    if (int wait = TakeToken(who->key_id); wait > 0) {
      a.refusal = Problem(429, "Too Many Requests",
                          "this API key is over its rate limit (api.rate_per_second); retry after " + std::to_string(wait) + " s");
      a.refusal->headers.emplace_back("Retry-After", std::to_string(wait));
      return a;
    }
    a.ctx.who = *who;
  }
  if (HasBody(request)) {
    static const std::vector<std::string> kJson = {"application/json"};
    const std::vector<std::string>* accepted = route->accepts ? &*route->accepts : nullptr;
    if (!accepted && (route->method == "POST" || route->method == "PUT" || route->method == "PATCH")) accepted = &kJson;
    const std::string& ctype = request.Header("content-type");
    if (accepted && !accepted->empty() && !MediaTypeAccepted(ctype, *accepted)) {
      std::string list;
      for (const auto& t : *accepted) list += (list.empty() ? "" : " or ") + t;
      a.refusal = Problem(415, "Unsupported Media Type",
                          (ctype.empty() ? std::string("the body has no Content-Type")
                                         : "the body's Content-Type is " + ctype) +
                              "; " + request.method + " " + route->pattern + " takes Content-Type: " + list);
      std::string accept;
      for (const auto& t : *accepted) accept += (accept.empty() ? "" : ", ") + t;
      a.refusal->headers.emplace_back(request.method == "PATCH" ? "Accept-Patch" : "Accept-Post", accept);
      return a;
    }
  }
  a.route = route;
  return a;
}

void Router::Handle(const Admission& admitted, const HttpRequest& request, Reply reply) {
  const std::string what = request.method + " " + request.path;
  auto once = std::make_shared<ReplyOnce>(std::move(reply), what);
  Reply guarded = [once](HttpResponse r) { once->Send(std::move(r)); };
  AnswerOnThrow(guarded, what, [&] { admitted.route->handler(request, admitted.ctx, guarded); });
}

void Router::Dispatch(const HttpRequest& request, Reply reply, RouteSet set) {
  auto admitted = Admit(request, set);
  if (admitted.refusal) return reply(std::move(*admitted.refusal));
  Handle(admitted, request, std::move(reply));
}

}  // namespace kurier::api
