// auth_service.cpp - credential verification and failed-login throttling for SMTP AUTH.
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

using proto::AuthResult;

std::optional<int> AuthThrottle::Blocked(const std::string& key, Clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.blocked_until <= now) return std::nullopt;
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(it->second.blocked_until - now).count());
}

void AuthThrottle::RecordFailure(const std::string& key, Clock::time_point now) {
  Prune(now);
  Entry& e = entries_[key];
  const auto window = std::chrono::seconds(policy_.failure_window);
  std::erase_if(e.failures, [&](Clock::time_point t) { return now - t >= window; });
  e.failures.push_back(now);
  if (e.failures.size() >= static_cast<size_t>(policy_.max_failures)) {
    e.blocked_until = now + std::chrono::seconds(policy_.cooldown);
    e.failures.clear();
  }
}

void AuthThrottle::RecordSuccess(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.blocked_until == Clock::time_point{}) entries_.erase(it);
}

void AuthThrottle::Prune(Clock::time_point now) {
  // Bounded memory under a spray of addresses: forget idle entries once a minute.
  if (now - last_prune_ < std::chrono::seconds(60)) return;
  last_prune_ = now;
  const auto window = std::chrono::seconds(policy_.failure_window);
  std::erase_if(entries_, [&](const auto& kv) {
    const Entry& e = kv.second;
    bool recent = !e.failures.empty() && now - e.failures.back() < window;
    return !recent && e.blocked_until <= now;
  });
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

AuthResult AuthService::Authenticate(const std::string& client_ip, const proto::AuthRequest& req) {
  const auto now = std::chrono::steady_clock::now();
  const std::string ip_key = "ip:" + client_ip, user_key = "user:" + req.username;
  {
    std::lock_guard lock(mu_);
    auto by_ip = throttle_.Blocked(ip_key, now);
    auto by_user = throttle_.Blocked(user_key, now);
    if (by_ip || by_user) {
      int wait = std::max(by_ip.value_or(0), by_user.value_or(0));
      spdlog::warn("security: AUTH refused during cool-down: client={} username={:?} wait={}s", client_ip,
                   req.username, wait);
      AuthResult r;
      r.status = AuthResult::Status::kThrottled;
      r.reply = proto::FormatReply(454, "4.7.0",
                                   "Too many failed logins from " + std::string(by_ip ? "your address" : "this username") +
                                       "; try again in " + std::to_string(wait) + " seconds");
      return r;
    }
  }
  auto cred = store_.FindSmtpCredential(req.username);
  if (!cred) {
    spdlog::error("auth: cannot read credentials: {}", cred.error().message);
    return AuthResult{AuthResult::Status::kTempFail, "", "", {}};
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
    if (!account || !*account) return AuthResult{AuthResult::Status::kTempFail, "", "", {}};
    {
      std::lock_guard lock(mu_);
      throttle_.RecordSuccess(user_key);
    }
    AuthResult r;
    r.status = AuthResult::Status::kOk;
    r.account = (*account)->name;
    r.sender_domains = (*account)->sender_domains;
    r.sandbox = (*account)->sandbox;
    r.verified_domains = (*account)->verified_domains;
    return r;
  }
  {
    std::lock_guard lock(mu_);
    throttle_.RecordFailure(ip_key, now);
    throttle_.RecordFailure(user_key, now);
  }
  const char* reason = *cred ? "wrong password" : "unknown username";
  spdlog::warn("security: AUTH {} failed: client={} username={:?} reason={}", req.mechanism, client_ip, req.username,
               reason);
  boost::json::object data{{"client_ip", client_ip}, {"username", req.username}, {"mechanism", req.mechanism},
                           {"reason", reason}};
  (void)store_.AppendEvents({store::Event{0, NowMicros(), "auth_failed", "", *cred ? (*cred)->account : "",
                                          boost::json::serialize(data)}});
  return AuthResult{AuthResult::Status::kInvalid, "", "", {}};
}

}  // namespace kurier::smtp::server
