// ids.hpp - identifiers and secrets: queue ids, random tokens, clock helpers.
#pragma once
#include <cstdint>
#include <string>

namespace kurier {

/// A queue id: 20 lowercase base32 characters, time-ordered (48-bit milliseconds) then 52 random bits.
std::string NewQueueId();
/// `bytes` random bytes from libsodium, encoded base64url without padding.
std::string RandomToken(std::size_t bytes);
/// Microseconds since the Unix epoch.
int64_t NowMicros();
/// RFC 3339 UTC time with seconds, e.g. 2026-11-26T04:00:00Z.
std::string FormatTimeUtc(int64_t micros);
/// RFC 5322 date-time, e.g. "Thu, 26 Nov 2026 04:00:00 +0000".
std::string FormatRfc5322Date(int64_t micros);

}  // namespace kurier
