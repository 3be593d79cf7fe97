// credentials.cpp - API keys (kr_ + 256 random bits; BLAKE2b-256 stored) and SMTP credentials
// (144 random bits; Argon2id stored).
// SECURITY: secrets exist in memory only until returned to the caller, who shows them once.
#include "store/credentials.hpp"

#include <cctype>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/password.hpp"

namespace kurier::store {

namespace {

bool HasControl(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

bool IsScope(std::string_view scope) {
  for (const char* s : kScopes)
    if (scope == s) return true;
  return false;
}

std::vector<std::string> SplitScopes(std::string_view list) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find_first_of(" \t,", pos);
    if (end == std::string_view::npos) end = list.size();
    if (end > pos) words.emplace_back(list.substr(pos, end - pos));
    pos = end + 1;
  }
  std::vector<std::string> out;
  for (const char* s : kScopes)
    for (const auto& w : words)
      if (w == s) {
        out.emplace_back(s);
        break;
      }
  return out;
}

Result<std::string> NormalizeScopes(std::string_view list) {
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find_first_of(" \t,", pos);
    if (end == std::string_view::npos) end = list.size();
    std::string_view w = list.substr(pos, end - pos);
    if (!w.empty() && !IsScope(w))
      return MakeError(ErrorCode::kInvalidArgument, "unknown scope '" + std::string(w) + "'; use send, read or admin");
    pos = end + 1;
  }
  std::string out;
  for (const auto& s : SplitScopes(list)) out += (out.empty() ? "" : " ") + s;
  if (out.empty()) return MakeError(ErrorCode::kInvalidArgument, "no scope given; use send, read and/or admin");
  return out;
}

std::optional<std::string> AccountNameProblem(std::string_view name) {
  if (name.empty() || name.size() > 64) return "must be 1-64 characters";
  for (unsigned char c : name)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '@' || c == '+'))
      return "may contain only letters, digits and . _ - @ +";
  return std::nullopt;
}

std::optional<std::string> SmtpUsernameProblem(std::string_view username) {
  if (username.empty() || username.size() > 128) return "must be 1-128 characters";
  if (HasControl(username) || username.find(' ') != std::string_view::npos)
    return "must not contain spaces or control characters";
  return std::nullopt;
}

std::optional<std::string> ApiKeyNameProblem(std::string_view name) {
  if (name.empty() || name.size() > 64) return "must be 1-64 characters";
  if (HasControl(name)) return "must not contain control characters";
  return std::nullopt;
}

Result<IssuedApiKey> IssueApiKey(Store& store, const std::string& account, const std::string& name,
                                 const std::string& scopes) {
  if (auto p = ApiKeyNameProblem(name)) return MakeError(ErrorCode::kInvalidArgument, "API key name " + *p);
  auto normal = NormalizeScopes(scopes);
  if (!normal) return normal.error();
  IssuedApiKey out;
  out.secret = "kr_" + RandomToken(32);
  ApiKey k;
  k.account = account;
  k.name = name;
  k.prefix = out.secret.substr(0, 10);
  k.key_hash = HashHex(out.secret);
  k.scopes = normal.value();
  auto r = store.CreateApiKey(k);
  if (!r) return r.error();
  out.key = std::move(r.value());
  return out;
}

std::string GenerateSmtpPassword() {
  for (;;) {
    std::string p = RandomToken(18);
    if (p.front() != '-') return p;
  }
}

Result<IssuedSmtpCredential> IssueSmtpCredential(Store& store, const std::string& account, const std::string& username) {
  std::string user = username.empty() ? account + "-" + ToLowerAscii(RandomToken(4)) : username;
  if (auto p = SmtpUsernameProblem(user))
    return MakeError(ErrorCode::kInvalidArgument, "username '" + user + "' is not valid: it " + *p);
  IssuedSmtpCredential out;
  out.password = GenerateSmtpPassword();
  auto hash = HashPassword(out.password);
  if (!hash) return hash.error();
  auto r = store.AddSmtpCredential(account, user, hash.value());
  if (!r) return r.error();
  out.credential = std::move(r.value());
  return out;
}

}  // namespace kurier::store
