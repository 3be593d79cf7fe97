// webhooks/signature.hpp - Standard Webhooks v1 signatures: secrets ("whsec_" + base64 of the key),
// the webhook-signature header ("v1,<base64 HMAC-SHA256>" per live secret, space-separated) and its
// verification, as a receiver would do it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kurier::webhooks {

/// Prefix of every webhook secret; the rest is the base64 of the raw HMAC key.
inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";
/// Raw key bytes of a generated secret.
inline constexpr std::size_t kWebhookSecretBytes = 32;

/// A new secret: "whsec_" + base64 of kWebhookSecretBytes random bytes (libsodium randombytes_buf).
std::string GenerateSecret();

/// The HMAC key of a secret: the base64-decoded part after "whsec_" (the prefix may be absent, as the
/// reference libraries accept). Fails when the rest is not base64 or decodes to nothing.
Result<std::string> DecodeSecret(std::string_view secret);

/// One signature entry: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
Result<std::string> Sign(std::string_view secret, std::string_view id, int64_t timestamp, std::string_view body);

/// The webhook-signature header value: one "v1,..." entry per secret, in order, space-separated, so a
/// receiver holding either the old or the new secret verifies during a rotation. Fails on an empty
/// list, a malformed secret, an id that is empty or holds a byte a header cannot carry, or a negative
/// timestamp.
Result<std::string> SignatureHeader(const std::vector<std::string>& secrets, std::string_view id,
                                    int64_t timestamp, std::string_view body);

/// The receiver's check: true when `timestamp` is decimal unix seconds within `tolerance_seconds` of
/// `now` (either side) and some "v1," entry of `header` matches the HMAC under `secret`. Entries of
/// other versions are ignored; the comparison is constant-time.
bool VerifySignature(std::string_view secret, std::string_view id, std::string_view timestamp,
                     std::string_view body, std::string_view header, int64_t now,
                     int64_t tolerance_seconds = 300);

}  // namespace kurier::webhooks
