// auth_service.cpp - credential verification and failed-login throttling for SMTP AUTH: per address
// and per (address, username), growing delays and a per-address block, never a lock-out of a user by
// others (see AuthThrottle in auth_service.hpp).
// SECURITY: receives passwords from the network (already decoded by the session). Passwords are only
// compared through Argon2id or a keyed BLAKE2b MAC held in memory; unknown usernames cost as much as
// known ones; every failure is logged as a security event and recorded as an `auth_failed` event.
// STANDARDS: RFC 4954 (AUTH), RFC 4616 (PLAIN).
#include "smtp/server/auth_service.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/ids.hpp"
#include "smtp/proto/replies.hpp"
#include "store/password.hpp"
#include "store/store.hpp"

namespace kurier::smtp::server {

using proto::AuthRequest;
using proto::AuthResult;

namespace {
constexpr std::size_t kMaxEntries = 100000;  // per map: bounded memory under a spray of addresses
int Ceil(std::chrono::steady_clock::duration d) {
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(d).count());
}
}  // namespace

int AuthThrottle::Count(Failures& f, Clock::time_point now) const {
  const auto window = std::chrono::seconds(policy_.failure_window);
  std::erase_if(f.at, [&](Clock::time_point t) { return now - t >= window; });
  return static_cast<int>(f.at.size());
}

std::chrono::milliseconds AuthThrottle::PairDelay(int failures) const {
  // `failures` happened before this attempt: with 2 free, the 3rd attempt waits 1 s, the 4th 2 s ...
  int over = failures - policy_.free_failures + 1;
  if (over <= 0 || policy_.max_delay <= 0) return std::chrono::milliseconds(0);
  int64_t seconds = over >= 31 ? policy_.max_delay : std::min<int64_t>(int64_t{1} << (over - 1), policy_.max_delay);
  return std::chrono::seconds(seconds);
}

AuthThrottle::Decision AuthThrottle::Check(const std::string& ip, const std::string& user, Clock::time_point now) {
  Decision d;
  if (auto it = by_ip_.find(ip); it != by_ip_.end() && it->second.blocked_until > now) {
    d.blocked_seconds = Ceil(it->second.blocked_until - now);
    return d;
  }
  if (auto it = by_pair_.find({ip, user}); it != by_pair_.end()) d.delay = PairDelay(Count(it->second, now));
  if (auto it = by_user_.find(user); it != by_user_.end() && Count(it->second, now) >= policy_.max_failures)
    d.delay += std::chrono::seconds(policy_.user_delay);
  return d;
}

void AuthThrottle::RecordFailure(const std::string& ip, const std::string& user, Clock::time_point now) {
  Prune(now);
  const std::size_t keep = static_cast<std::size_t>(policy_.max_failures) + 1;
  auto add = [&](Failures& f) {
    Count(f, now);
    f.at.push_back(now);
    if (f.at.size() > keep) f.at.erase(f.at.begin(), f.at.end() - static_cast<std::ptrdiff_t>(keep));
  };
  Failures& a = by_ip_[ip];
  add(a);
  add(by_pair_[{ip, user}]);
  add(by_user_[user]);
  if (static_cast<int>(a.at.size()) >= policy_.max_failures && policy_.cooldown > 0) {
    a.blocked_until = now + std::chrono::seconds(policy_.cooldown);
    a.at.clear();
  }
}

void AuthThrottle::RecordSuccess(const std::string& ip, const std::string& user) { by_pair_.erase({ip, user}); }

void AuthThrottle::Prune(Clock::time_point now) {
  // Forget idle entries once a minute, or at once when a map grows past its bound.
  bool full = by_ip_.size() > kMaxEntries || by_pair_.size() > kMaxEntries || by_user_.size() > kMaxEntries;
  if (!full && now - last_prune_ < std::chrono::seconds(60)) return;
  last_prune_ = now;
  const auto window = std::chrono::seconds(policy_.failure_window);
  auto idle = [&](const auto& kv) {
    const Failures& f = kv.second;
    return (f.at.empty() || now - f.at.back() >= window) && f.blocked_until <= now;
  };
  std::erase_if(by_ip_, idle);
  std::erase_if(by_pair_, idle);
  std::erase_if(by_user_, idle);
  // Still too many (a spray of fresh addresses): keep the blocks, drop what only slows down.
  if (by_pair_.size() > kMaxEntries) by_pair_.clear();
  if (by_user_.size() > kMaxEntries) by_user_.clear();
  if (by_ip_.size() > kMaxEntries) std::erase_if(by_ip_, [&](auto& kv) { return kv.second.blocked_until <= now; });
}

std::vector<AuthThrottle::Entry> AuthThrottle::Status(Clock::time_point now) {
  std::vector<Entry> out;
  const auto window = std::chrono::seconds(policy_.failure_window);
  auto recent = [&](const Failures& f) -> std::optional<int> {
    if (f.at.empty()) return std::nullopt;
    return Ceil(f.at.front() + window - now);
  };
  for (auto& [ip, f] : by_ip_) {
    int n = Count(f, now);
    if (n == 0 && f.blocked_until <= now) continue;
    Entry e{"address", ip, "", n, std::nullopt, {}, recent(f)};
    if (f.blocked_until > now) e.blocked_seconds = Ceil(f.blocked_until - now);
    out.push_back(std::move(e));
  }
  for (auto& [key, f] : by_pair_) {
    int n = Count(f, now);
    if (n == 0) continue;
    out.push_back(Entry{"pair", key.first, key.second, n, std::nullopt, PairDelay(n), recent(f)});
  }
  for (auto& [user, f] : by_user_) {
    int n = Count(f, now);
    if (n < policy_.max_failures) continue;
    out.push_back(Entry{"username", "", user, n, std::nullopt, std::chrono::seconds(policy_.user_delay), recent(f)});
  }
  return out;
}

std::size_t AuthThrottle::Unblock(const std::optional<std::string>& ip, const std::optional<std::string>& user) {
  std::size_t n = 0;
  if (ip) n += by_ip_.erase(*ip);
  if (user && !ip) n += by_user_.erase(*user);
  n += std::erase_if(by_pair_, [&](const auto& kv) {
    return (!ip || kv.first.first == *ip) && (!user || kv.first.second == *user);
  });
  return n;
}

AuthService::AuthService(store::Store& store, AuthPolicy policy)
    : store_(store), policy_(policy), throttle_(policy) {
  cache_key_ = RandomToken(32);
  auto h = store::HashPassword(RandomToken(16));
  if (h) dummy_hash_ = h.value();
}

std::string AuthService::Mac(const std::string& password) const {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                     reinterpret_cast<const unsigned char*>(cache_key_.data()), cache_key_.size());
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

bool AuthService::CachedOk(const std::string& username, const std::string& hash, const std::string& password) {
  if (policy_.cache_ttl <= 0) return false;
  std::lock_guard lock(mu_);
  auto it = cache_.find(username);
  if (it == cache_.end()) return false;
  if (it->second.expires < std::chrono::steady_clock::now() || it->second.stored_hash != hash) {
    cache_.erase(it);
    return false;
  }
  std::string mac = Mac(password);
  return sodium_memcmp(mac.data(), it->second.mac.data(), mac.size()) == 0;
}

void AuthService::Remember(const std::string& username, const std::string& hash, const std::string& password) {
  if (policy_.cache_ttl <= 0) return;
  std::lock_guard lock(mu_);
  if (cache_.size() > 100000) cache_.clear();
  cache_[username] = CacheEntry{hash, Mac(password), std::chrono::steady_clock::now() + std::chrono::seconds(policy_.cache_ttl)};
}

AuthOutcome AuthService::Authenticate(const std::string& client_ip, const AuthRequest& req,
                                      std::string& connection_failure) {
  const auto now = std::chrono::steady_clock::now();
  AuthThrottle::Decision decision;
  {
    std::lock_guard lock(mu_);
    decision = throttle_.Check(client_ip, req.username, now);
  }
  if (decision.blocked_seconds) {
    int wait = *decision.blocked_seconds;
    spdlog::warn("security: AUTH refused, address blocked: client={} username={:?} wait={}s", client_ip,
                 req.username, wait);
    AuthResult r;
    r.status = AuthResult::Status::kThrottled;
    r.reply = proto::FormatReply(
        454, "4.7.0",
        "Too many failed logins from your address " + client_ip + "; try again in " + std::to_string(wait) +
            " seconds (auth.cooldown), or have the administrator run 'kurier auth unblock --ip " + client_ip + "'");
    return AuthOutcome{std::move(r), std::chrono::milliseconds(0)};
  }
  auto cred = store_.FindSmtpCredential(req.username);
  if (!cred) {
    spdlog::error("auth: cannot read credentials: {}", cred.error().message);
    return AuthOutcome{AuthResult{AuthResult::Status::kTempFail, "", "", {}}, decision.delay};
  }
  bool ok = false;
  if (*cred) {
    const std::string& hash = (*cred)->password_hash;
    ok = CachedOk(req.username, hash, req.password) || store::VerifyPassword(hash, req.password);
    if (ok) Remember(req.username, hash, req.password);
  } else if (!dummy_hash_.empty()) {
    (void)store::VerifyPassword(dummy_hash_, req.password);
  }
  if (ok) {
    auto account = store_.FindAccount((*cred)->account);
    if (!account || !*account) return AuthOutcome{AuthResult{AuthResult::Status::kTempFail, "", "", {}}, decision.delay};
    {
      std::lock_guard lock(mu_);
      throttle_.RecordSuccess(client_ip, req.username);
    }
    connection_failure.clear();
    AuthResult r;
    r.status = AuthResult::Status::kOk;
    r.account = (*account)->name;
    r.sender_domains = (*account)->sender_domains;
    r.sandbox = (*account)->sandbox;
    r.verified_domains = (*account)->verified_domains;
    r.test_mode = (*account)->test_mode.value_or(false);
    r.refuse_suppressed = (*account)->refuse_suppressed.value_or(false);
    return AuthOutcome{std::move(r), decision.delay};
  }
  // The same wrong credentials again on this connection (a client trying its next mechanism) are one
  // failed attempt, not two.
  std::string digest = Mac(req.username + std::string(1, '\0') + req.password);
  const bool repeated = connection_failure.size() == digest.size() &&
                        sodium_memcmp(connection_failure.data(), digest.data(), digest.size()) == 0;
  connection_failure = std::move(digest);
  const char* reason = *cred ? "wrong password" : "unknown username";
  spdlog::warn("security: AUTH {} failed: client={} username={:?} reason={}{}", req.mechanism, client_ip, req.username,
               reason, repeated ? " (same credentials again on this connection: not counted)" : "");
  if (!repeated) {
    {
      std::lock_guard lock(mu_);
      throttle_.RecordFailure(client_ip, req.username, now);
    }
    boost::json::object data{{"client_ip", client_ip}, {"username", req.username}, {"mechanism", req.mechanism},
                             {"reason", reason}};
    (void)store_.AppendEvents({store::Event{0, NowMicros(), "auth_failed", "", *cred ? (*cred)->account : "",
                                            boost::json::serialize(data)}});
  }
  return AuthOutcome{AuthResult{AuthResult::Status::kInvalid, "", "", {}}, decision.delay};
}

std::string AuthService::StatusJson() {
  std::vector<AuthThrottle::Entry> entries;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    entries = throttle_.Status(now);
  }
  const int64_t wall = NowMicros();
  auto at = [&](int seconds) { return boost::json::value(FormatTimeUtc(wall + int64_t{seconds} * 1000000)); };
  boost::json::array addresses, pairs, usernames;
  std::size_t listed = 0;
  for (const auto& e : entries) {
    if (++listed > 10000) break;  // the answer stays small under a spray of addresses
    boost::json::object o;
    if (!e.ip.empty()) o["ip"] = e.ip;
    if (!e.user.empty()) o["username"] = e.user;
    o["failures"] = e.failures;
    o["failures_counted_until"] = e.recent_seconds ? at(*e.recent_seconds) : boost::json::value(nullptr);
    if (e.kind == "address") {
      o["blocked"] = e.blocked_seconds.has_value();
      o["blocked_until"] = e.blocked_seconds ? at(*e.blocked_seconds) : boost::json::value(nullptr);
      addresses.push_back(std::move(o));
    } else {
      o["delay_seconds"] = static_cast<double>(e.next_delay.count()) / 1000.0;
      (e.kind == "pair" ? pairs : usernames).push_back(std::move(o));
    }
  }
  return boost::json::serialize(boost::json::object{{"addresses", std::move(addresses)},
                                                    {"pairs", std::move(pairs)},
                                                    {"usernames", std::move(usernames)}});
}

std::size_t AuthService::Unblock(const std::optional<std::string>& ip, const std::optional<std::string>& user) {
  std::lock_guard lock(mu_);
  return throttle_.Unblock(ip, user);
}

}  // namespace kurier::smtp::server
