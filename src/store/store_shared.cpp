// store_shared.cpp - the checks and texts every store backend shares (store_shared.hpp).
#include "store/store_shared.hpp"

#include <sstream>

#include "common/encoding.hpp"

namespace kurier::store {

Result<void> CheckAccountName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.find_first_of(" \t\r\n/") != std::string::npos)
    return MakeError(ErrorCode::kInvalidArgument, "account name '" + name + "' is not valid: use 1-64 characters without spaces or '/'");
  return {};
}

Result<void> CheckAccountDefault(const std::string& setting) {
  if (setting != "track_opens" && setting != "track_clicks" && setting != "list_unsubscribe" &&
      setting != "refuse_suppressed" && setting != "test_mode")
    return MakeError(ErrorCode::kInvalidArgument, "unknown account default '" + setting +
                                                      "'; use track_opens, track_clicks, list_unsubscribe, "
                                                      "refuse_suppressed or test_mode");
  return {};
}

Error TemplateNotFound(const std::string& account, const std::string& id) {
  return MakeError(ErrorCode::kNotFound, "no template '" + id + "' in account '" + account + "'");
}

Error TemplateNameTaken(const std::string& name) {
  return MakeError(ErrorCode::kAlreadyExists,
                   "a template named '" + name + "' already exists in this account; choose another name");
}

std::string JoinEventTypes(const std::vector<std::string>& types) {
  std::string out;
  for (const auto& t : types) out += (out.empty() ? "" : " ") + t;
  return out;
}

std::vector<std::string> SplitEventTypes(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

namespace {

/// Associated data of a webhook's sealed secrets: a sealed value copied into another row does not open.
std::string SecretContext(const std::string& webhook_id) { return "kurier webhook secret " + webhook_id; }

}  // namespace

void OpenWebhookSecrets(Webhook& w, const std::optional<SecretBox>& box) {
  for (auto [value, column] : {std::pair{&w.secret, "secret"}, std::pair{&w.previous_secret, "previous secret"}}) {
    if (!SecretBox::IsSealed(*value)) continue;  // empty, or plaintext until the next open with the key seals it
    std::string why;
    if (!box) {
      why = "it is encrypted with the server key and this process has not loaded server.secret_file";
    } else if (auto plain = box->Open(*value, SecretContext(w.id)); plain) {
      *value = std::move(plain.value());
      continue;
    } else {
      why = plain.error().message;
    }
    w.secret_error = "webhook " + w.id + ": its stored " + column + " cannot be decrypted: " + why +
                     "; nothing is signed with it. Give it a new secret with POST /v1/webhooks/" + w.id +
                     "/rotate-secret (and give that to the receiver), or restore the server.secret_file it was made with";
    break;
  }
  if (!w.secret_error.empty()) {
    w.secret.clear();
    w.previous_secret.clear();
  }
}

Result<std::pair<std::string, std::string>> SealWebhookSecrets(const Webhook& w, const std::optional<SecretBox>& box) {
  if (!box)
    return MakeError(ErrorCode::kConfig,
                     "webhook secrets are stored encrypted with the server key (server.secret_file), which this process "
                     "has not loaded; create webhooks and rotate their secrets through the API of 'kurier serve'");
  const std::string context = SecretContext(w.id);
  return std::pair{box->Seal(w.secret, context), w.previous_secret.empty() ? std::string() : box->Seal(w.previous_secret, context)};
}

std::string AddressesAsJson(const std::vector<std::string>& addresses) {
  std::string key = "[";
  for (const auto& a : addresses) {
    key += key.size() > 1 ? ",\"" : "\"";
    for (char c : ToLowerAscii(a)) {
      if (c == '"' || c == '\\') key += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;  // never in an address that got this far
      key += c;
    }
    key += '"';
  }
  return key + ']';
}

}  // namespace kurier::store
