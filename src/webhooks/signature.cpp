// webhooks/signature.cpp - signing and verifying webhook payloads (Standard Webhooks v1) on libsodium.
//
// SECURITY: the secret authenticates kurier to the receiver; it is never logged and never part of an
// error message. Verification compares MACs in constant time (sodium_memcmp) and bounds the
// timestamp's age both ways, so a captured request cannot be replayed after the tolerance.
// STANDARDS: Standard Webhooks v1 (https://www.standardwebhooks.com/, "Signature scheme"),
// RFC 2104 (HMAC) with SHA-256, RFC 4648 (base64).
#include "webhooks/signature.hpp"

#include <sodium.h>

#include <charconv>

#include "common/encoding.hpp"

namespace kurier::webhooks {

namespace {

constexpr std::string_view kVersion = "v1,";

// Over the timestamp as sent (its decimal text), so a receiver's check needs no reformatting.
std::string Hmac(std::string_view key, std::string_view id, std::string_view timestamp, std::string_view body) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  auto feed = [&st](std::string_view part) {
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  };
  feed(id);
  feed(".");
  feed(timestamp);
  feed(".");
  feed(body);
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&st, reinterpret_cast<unsigned char*>(mac.data()));
  sodium_memzero(&st, sizeof st);
  return mac;
}

// The webhook-id travels in a header: printable ASCII only, so it cannot split the request.
bool IsHeaderSafeId(std::string_view id) {
  if (id.empty() || id.size() > 256) return false;
  for (unsigned char c : id)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

}  // namespace

std::string GenerateSecret() {
  unsigned char key[kWebhookSecretBytes];
  randombytes_buf(key, sizeof key);
  std::string out = std::string(kWebhookSecretPrefix) +
                    Base64Encode(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
  sodium_memzero(key, sizeof key);
  return out;
}

Result<std::string> DecodeSecret(std::string_view secret) {
  if (secret.substr(0, kWebhookSecretPrefix.size()) == kWebhookSecretPrefix)
    secret.remove_prefix(kWebhookSecretPrefix.size());
  auto key = Base64Decode(secret);
  if (!key || key->empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "webhook secret is not \"whsec_\" followed by base64: use the secret kurier "
                     "showed when the endpoint was created");
  return std::move(*key);
}

Result<std::string> Sign(std::string_view secret, std::string_view id, int64_t timestamp, std::string_view body) {
  if (!IsHeaderSafeId(id))
    return MakeError(ErrorCode::kInvalidArgument,
                     "webhook id must be 1 to 256 printable ASCII characters without spaces");
  if (timestamp < 0) return MakeError(ErrorCode::kInvalidArgument, "webhook timestamp must not be negative");
  auto key = DecodeSecret(secret);
  if (!key) return key.error();
  std::string mac = Hmac(*key, id, std::to_string(timestamp), body);
  sodium_memzero(key->data(), key->size());
  return std::string(kVersion) + Base64Encode(mac);
}

Result<std::string> SignatureHeader(const std::vector<std::string>& secrets, std::string_view id,
                                    int64_t timestamp, std::string_view body) {
  if (secrets.empty())
    return MakeError(ErrorCode::kInvalidArgument, "webhook endpoint has no live secret to sign with");
  std::string header;
  for (const auto& secret : secrets) {
    auto entry = Sign(secret, id, timestamp, body);
    if (!entry) return entry.error();
    if (!header.empty()) header += ' ';
    header += *entry;
  }
  return header;
}

bool VerifySignature(std::string_view secret, std::string_view id, std::string_view timestamp,
                     std::string_view body, std::string_view header, int64_t now, int64_t tolerance_seconds) {
  if (!IsHeaderSafeId(id) || timestamp.empty() || timestamp.size() > 18) return false;
  int64_t ts = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
  if (ec != std::errc() || end != timestamp.data() + timestamp.size() || ts < 0) return false;
  if (ts < now - tolerance_seconds || ts > now + tolerance_seconds) return false;
  auto key = DecodeSecret(secret);
  if (!key) return false;
  std::string want = Hmac(*key, id, timestamp, body);
  sodium_memzero(key->data(), key->size());

  bool match = false;
  while (!header.empty()) {
    size_t sp = header.find(' ');
    std::string_view entry = header.substr(0, sp);
    header = sp == std::string_view::npos ? std::string_view() : header.substr(sp + 1);
    if (entry.substr(0, kVersion.size()) != kVersion) continue;  // another scheme, e.g. v1a
    auto got = Base64Decode(entry.substr(kVersion.size()));
    if (!got || got->size() != want.size()) continue;
    // Every entry is compared, so the time taken does not tell which one matched.
    if (sodium_memcmp(got->data(), want.data(), want.size()) == 0) match = true;
  }
  return match;
}

}  // namespace kurier::webhooks
