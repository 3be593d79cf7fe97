// verp.cpp - signed VERP local parts. SECURITY: the tag (80 bits of HMAC-SHA256 under the node's
// secret) stops anyone from forging bounces that would suppress addresses of messages they never saw;
// compared in constant time. STANDARDS: RFC 2104 (HMAC), RFC 4648 (base32 alphabet, lower-cased),
// RFC 5321 4.1.2 (local-part characters), RFC 2369 (mailto: List-Unsubscribe addresses).
#include "bounce/verp.hpp"

#include <sodium.h>

#include <cctype>

#include "common/encoding.hpp"

namespace kurier::bounce {

namespace {

constexpr std::size_t kTagChars = 16;  // 80 bits

// `purpose` separates the address kinds: a bounce address cannot be turned into an unsubscribe one.
std::string Tag(std::string_view secret, std::string_view id, std::string_view purpose = "verp:") {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(id.data()), id.size());
  crypto_auth_hmacsha256_final(&st, mac);
  static const char* kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char b : mac) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5 && out.size() < kTagChars) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.size() >= kTagChars) break;
  }
  return out;
}

bool IdChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

constexpr std::string_view kUnsubscribePurpose = "unsubscribe:";

std::optional<std::string> SignedId(std::string_view secret, std::string_view local, std::string_view purpose) {
  auto plus = local.find('+');
  auto dash = local.rfind('-');
  if (plus == std::string_view::npos || dash == std::string_view::npos || dash < plus + 2) return std::nullopt;
  std::string id;
  for (char c : local.substr(plus + 1, dash - plus - 1)) {
    if (!IdChar(c)) return std::nullopt;
    id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string tag;
  for (char c : local.substr(dash + 1)) tag += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string want = Tag(secret, id, purpose);
  if (tag.size() != want.size() || sodium_memcmp(tag.data(), want.data(), want.size()) != 0) return std::nullopt;
  return id;
}

}  // namespace

std::string VerpLocalPart(std::string_view secret, std::string_view message_id, std::string_view prefix) {
  return std::string(prefix) + "+" + std::string(message_id) + "-" + Tag(secret, message_id);
}

std::optional<std::string> VerpMessageId(std::string_view secret, std::string_view local) {
  return SignedId(secret, local, "verp:");
}

std::string UnsubscribeLocalPart(std::string_view secret, std::string_view message_id) {
  return "unsubscribe+" + std::string(message_id) + "-" + Tag(secret, message_id, kUnsubscribePurpose);
}

std::optional<std::string> UnsubscribeMessageId(std::string_view secret, std::string_view local) {
  if (!IStartsWith(local, "unsubscribe+")) return std::nullopt;
  return SignedId(secret, local, kUnsubscribePurpose);
}

std::optional<std::string> FindVerpMessageId(std::string_view secret, std::string_view text) {
  for (std::size_t at = text.find('+'); at != std::string_view::npos; at = text.find('+', at + 1)) {
    std::size_t start = at;
    while (start > 0 && (IdChar(text[start - 1]) || text[start - 1] == '.' || text[start - 1] == '-')) --start;
    std::size_t end = at + 1;
    while (end < text.size() && (IdChar(text[end]) || text[end] == '-')) ++end;
    if (end >= text.size() || text[end] != '@') continue;
    if (auto id = VerpMessageId(secret, text.substr(start, end - start))) return id;
  }
  return std::nullopt;
}

}  // namespace kurier::bounce
