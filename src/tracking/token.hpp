// token.hpp - signed, URL-safe tracking tokens: what an open pixel, a tracked link or an unsubscribe
// link carries, so that the endpoint needs no database look-up to know what was hit (and where a click
// goes) and nobody can forge one.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kurier::tracking {

/// What a token stands for. The kind is inside the signed bytes: an open token never opens as a click.
enum class TokenKind : std::uint8_t { kOpen = 1, kClick = 2, kUnsubscribe = 3 };

/// Longest token OpenToken accepts (characters); SealToken never makes a longer one.
inline constexpr std::size_t kMaxTokenLength = 4096;
/// Longest message id a token carries (kurier ids are about 20 characters).
inline constexpr std::size_t kMaxMessageIdLength = 128;
/// Longest click URL a token carries; longer links stay untracked (SealToken fails).
inline constexpr std::size_t kMaxClickUrlLength = 2900;

struct TokenPayload {
  TokenKind kind = TokenKind::kOpen;
  std::string message_id;             ///< the spool's message id: 1..kMaxMessageIdLength printable ASCII
  std::uint32_t recipient_index = 0;  ///< which recipient of the message
  std::int64_t account_id = 0;
  std::uint16_t link_index = 0;  ///< clicks only: position of the link in the HTML part
  std::string url;               ///< clicks only: where the redirect goes (IsSafeRedirectUrl holds)

  bool operator==(const TokenPayload&) const = default;
};

/// A 32-byte HMAC-SHA256 key. Copies are cheap; the bytes are wiped when a Key is destroyed.
class Key {
 public:
  static constexpr std::size_t kSize = 32;

  /// Derives the key from a configured secret with HKDF-SHA256 (RFC 5869; salt "kurier-tracking",
  /// info "token-v1"). Fails for a secret shorter than 16 bytes.
  static Result<Key> FromSecret(std::string_view secret);
  /// A fresh random key (libsodium's CSPRNG).
  static Key Generate();
  /// Exactly kSize raw bytes; nullopt otherwise.
  static std::optional<Key> FromBytes(std::string_view raw);

  Key(const Key&) = default;
  Key& operator=(const Key&) = default;
  ~Key();

  const unsigned char* data() const { return bytes_.data(); }

 private:
  Key() = default;
  std::array<unsigned char, kSize> bytes_{};
};

/// Encodes and signs `payload`: base64url (no padding) of version 1, kind, account id, recipient index,
/// message id and, for clicks, link index and URL, followed by the first 16 bytes of their HMAC-SHA256.
/// Fails when the message id is empty, too long or not printable ASCII, or when a click's URL is not
/// IsSafeRedirectUrl or longer than kMaxClickUrlLength. Deterministic: same key and payload, same token.
Result<std::string> SealToken(const Key& key, const TokenPayload& payload);

/// Verifies (constant-time tag comparison) and decodes a token. nullopt for anything not made by
/// SealToken with `key`: over-long, not strict base64url, truncated, unknown version or kind, wrong tag,
/// trailing bytes, or a click whose URL is not IsSafeRedirectUrl (checked again here, not trusted).
std::optional<TokenPayload> OpenToken(const Key& key, std::string_view token);
/// As above, trying each key in turn (the current key first, then the ones being retired).
std::optional<TokenPayload> OpenToken(std::span<const Key> keys, std::string_view token);

/// True for an absolute http:// or https:// URL (scheme case-insensitive) with a non-empty authority,
/// made of printable ASCII only: no space, CR, LF, NUL or other control, no byte >= 0x80. A URL that
/// passes is safe to put into a Location header as it is.
bool IsSafeRedirectUrl(std::string_view url);

/// Turns a link's URL, as the browser would, into one IsSafeRedirectUrl accepts: trims leading and
/// trailing C0 controls and spaces, drops tab, CR and LF anywhere (WHATWG URL parsing), and
/// percent-encodes spaces and non-ASCII bytes. nullopt when another control character remains or the
/// result is not an http(s) URL with an authority.
std::optional<std::string> NormalizeClickUrl(std::string_view url);

}  // namespace kurier::tracking
