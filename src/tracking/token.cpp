// token.cpp - signed tracking tokens for open pixels, tracked links and unsubscribe links.
// SECURITY: OpenToken reads bytes from anyone on the Internet (the path of a tracking URL). It bounds
// the length before decoding, authenticates before parsing (the tag is compared in constant time), and
// re-checks a click's URL even though it was signed, so that a token can never become an open redirect
// to a non-http(s) scheme or smuggle CR/LF into a Location header. Tokens are signed, not encrypted:
// whoever holds one can read its message id, recipient index, account id and URL, but cannot make or
// change one without the key. The HMAC is OpenSSL's (EVP_MAC, SHA extensions); the comparison and key
// wiping are libsodium's.
// STANDARDS: RFC 2104 and RFC 4231 (HMAC-SHA-256, tag truncated to 128 bits as RFC 2104 section 5
// allows), RFC 5869 (HKDF), RFC 4648 section 5 (base64url without padding), RFC 3986 (URI syntax),
// WHATWG URL Standard (leading/trailing C0 trimming, tab and newline removal), RFC 8058 (the
// unsubscribe token is what a one-click List-Unsubscribe URL carries).
#include "tracking/token.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/encoding.hpp"

namespace kurier::tracking {

namespace {

constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kMinSecretSize = 16;
constexpr std::size_t kMaxVarintBytes = 10;
// The largest payload (every field at its maximum) still makes a token OpenToken accepts.
static_assert((2 + 10 + 5 + 2 + kMaxMessageIdLength + 3 + 2 + kMaxClickUrlLength + kTagSize + 2) / 3 * 4 <=
              kMaxTokenLength);

using Hmac = std::array<unsigned char, 32>;

// OpenSSL's SHA-256 uses the CPU's SHA extensions (about six times libsodium's portable code here).
// One MAC context per thread, set to SHA-256 once and re-keyed per call: no allocation, no
// provider look-up on the click path.
EVP_MAC_CTX* ThreadHmacContext() {
  struct Deleter {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
  };
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  thread_local std::unique_ptr<EVP_MAC_CTX, Deleter> ctx = [] {
    std::unique_ptr<EVP_MAC_CTX, Deleter> c(mac ? EVP_MAC_CTX_new(mac) : nullptr);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    if (!c || EVP_MAC_CTX_set_params(c.get(), params) != 1) std::abort();
    return c;
  }();
  return ctx.get();
}

Hmac HmacSha256(const unsigned char* key, std::size_t key_size, std::string_view data) {
  EVP_MAC_CTX* ctx = ThreadHmacContext();
  Hmac out;
  std::size_t out_size = 0;
  if (EVP_MAC_init(ctx, key, key_size, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &out_size, out.size()) != 1 || out_size != out.size())
    std::abort();  // only on memory exhaustion or a broken OpenSSL installation
  return out;
}

void PutVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t UnZigZag(std::uint64_t v) { return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1); }

// Reads the signed bytes back. Only reached after the tag verified, so a failure here means a key
// compromise or a bug, but it is still checked field by field.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool Byte(std::uint8_t& v) {
    if (pos_ >= in_.size()) return false;
    v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  // Canonical (shortest) varints only, so each payload has exactly one encoding.
  bool Varint(std::uint64_t& v, std::uint64_t max) {
    v = 0;
    for (std::size_t i = 0; i < kMaxVarintBytes; ++i) {
      std::uint8_t b;
      if (!Byte(b)) return false;
      if (i == 9 && b > 1) return false;  // beyond 64 bits
      v |= static_cast<std::uint64_t>(b & 0x7F) << (7 * i);
      if (!(b & 0x80)) return (i == 0 || b != 0) && v <= max;
    }
    return false;
  }
  bool Bytes(std::string& v, std::size_t max) {
    std::uint64_t n;
    if (!Varint(n, max) || n > in_.size() - pos_) return false;
    v.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool AtEnd() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

bool ValidMessageId(std::string_view id) {
  if (id.empty() || id.size() > kMaxMessageIdLength) return false;
  for (unsigned char c : id)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

bool ValidKind(std::uint8_t k) { return k >= 1 && k <= 3; }

bool HasHttpScheme(std::string_view url, std::size_t& authority) {
  if (IStartsWith(url, "http://")) authority = 7;
  else if (IStartsWith(url, "https://")) authority = 8;
  else return false;
  // "http:///x" and "http://?x" have no host; browsers would reinterpret them, so refuse.
  return authority < url.size() && url[authority] != '/' && url[authority] != '\\' && url[authority] != '?' &&
         url[authority] != '#';
}

std::optional<TokenPayload> OpenWith(const Key& key, std::string_view bin) {
  std::string_view body = bin.substr(0, bin.size() - kTagSize);
  Hmac want = HmacSha256(key.data(), Key::kSize, body);
  if (sodium_memcmp(want.data(), bin.data() + body.size(), kTagSize) != 0) return std::nullopt;

  Reader r(body);
  std::uint8_t version, kind;
  std::uint64_t account, recipient, link = 0;
  TokenPayload p;
  if (!r.Byte(version) || version != kVersion || !r.Byte(kind) || !ValidKind(kind)) return std::nullopt;
  p.kind = static_cast<TokenKind>(kind);
  if (!r.Varint(account, UINT64_MAX) || !r.Varint(recipient, UINT32_MAX) ||
      !r.Bytes(p.message_id, kMaxMessageIdLength) || !ValidMessageId(p.message_id))
    return std::nullopt;
  if (p.kind == TokenKind::kClick) {
    if (!r.Varint(link, UINT16_MAX) || !r.Bytes(p.url, kMaxClickUrlLength) || !IsSafeRedirectUrl(p.url))
      return std::nullopt;
  }
  if (!r.AtEnd()) return std::nullopt;
  p.account_id = UnZigZag(account);
  p.recipient_index = static_cast<std::uint32_t>(recipient);
  p.link_index = static_cast<std::uint16_t>(link);
  return p;
}

}  // namespace

Result<Key> Key::FromSecret(std::string_view secret) {
  if (secret.size() < kMinSecretSize)
    return MakeError(ErrorCode::kConfig, "tracking secret is " + std::to_string(secret.size()) +
                                             " bytes: use at least 16 random bytes (e.g. `openssl rand -base64 32`)");
  // HKDF-Extract then one block of HKDF-Expand: L = 32 = HashLen.
  static constexpr std::string_view kSalt = "kurier-tracking";
  static constexpr std::string_view kInfo = "token-v1\x01";
  Hmac prk = HmacSha256(reinterpret_cast<const unsigned char*>(kSalt.data()), kSalt.size(), secret);
  Hmac okm = HmacSha256(prk.data(), prk.size(), kInfo);
  Key k;
  std::memcpy(k.bytes_.data(), okm.data(), kSize);
  sodium_memzero(prk.data(), prk.size());
  sodium_memzero(okm.data(), okm.size());
  return k;
}

Key Key::Generate() {
  if (sodium_init() < 0) std::abort();
  Key k;
  randombytes_buf(k.bytes_.data(), kSize);
  return k;
}

std::optional<Key> Key::FromBytes(std::string_view raw) {
  if (raw.size() != kSize) return std::nullopt;
  Key k;
  std::memcpy(k.bytes_.data(), raw.data(), kSize);
  return k;
}

Key::~Key() { sodium_memzero(bytes_.data(), bytes_.size()); }

Result<std::string> SealToken(const Key& key, const TokenPayload& p) {
  if (!ValidKind(static_cast<std::uint8_t>(p.kind)))
    return MakeError(ErrorCode::kInvalidArgument, "tracking token kind is not open, click or unsubscribe");
  if (!ValidMessageId(p.message_id))
    return MakeError(ErrorCode::kInvalidArgument,
                     "tracking token message id must be 1 to 128 printable ASCII characters");
  if (p.kind == TokenKind::kClick) {
    if (p.url.size() > kMaxClickUrlLength)
      return MakeError(ErrorCode::kInvalidArgument, "link of " + std::to_string(p.url.size()) +
                                                        " bytes is longer than a tracked link may be (" +
                                                        std::to_string(kMaxClickUrlLength) + "): left untracked");
    if (!IsSafeRedirectUrl(p.url))
      return MakeError(ErrorCode::kInvalidArgument,
                       "link is not an http(s) URL of printable ASCII: pass it through NormalizeClickUrl first");
  }
  std::string bin;
  bin.reserve(32 + p.message_id.size() + p.url.size() + kTagSize);
  bin.push_back(static_cast<char>(kVersion));
  bin.push_back(static_cast<char>(p.kind));
  PutVarint(bin, ZigZag(p.account_id));
  PutVarint(bin, p.recipient_index);
  PutVarint(bin, p.message_id.size());
  bin += p.message_id;
  if (p.kind == TokenKind::kClick) {
    PutVarint(bin, p.link_index);
    PutVarint(bin, p.url.size());
    bin += p.url;
  }
  Hmac tag = HmacSha256(key.data(), Key::kSize, bin);
  bin.append(reinterpret_cast<const char*>(tag.data()), kTagSize);
  return Base64UrlEncode(bin);
}

std::optional<TokenPayload> OpenToken(const Key& key, std::string_view token) {
  return OpenToken(std::span<const Key>(&key, 1), token);
}

std::optional<TokenPayload> OpenToken(std::span<const Key> keys, std::string_view token) {
  if (token.size() > kMaxTokenLength) return std::nullopt;
  auto bin = Base64UrlDecode(token);
  // version, kind, account, recipient, message id length + at least one byte, tag
  if (!bin || bin->size() < 6 + kTagSize || static_cast<std::uint8_t>((*bin)[0]) != kVersion) return std::nullopt;
  for (const Key& k : keys)
    if (auto p = OpenWith(k, *bin)) return p;
  return std::nullopt;
}

bool IsSafeRedirectUrl(std::string_view url) {
  std::size_t authority;
  if (!HasHttpScheme(url, authority)) return false;
  for (unsigned char c : url)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

std::optional<std::string> NormalizeClickUrl(std::string_view url) {
  auto is_c0_or_space = [](unsigned char c) { return c <= 0x20; };
  while (!url.empty() && is_c0_or_space(static_cast<unsigned char>(url.front()))) url.remove_prefix(1);
  while (!url.empty() && is_c0_or_space(static_cast<unsigned char>(url.back()))) url.remove_suffix(1);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(url.size());
  for (unsigned char c : url) {
    if (c == '\t' || c == '\n' || c == '\r') continue;
    if (c < 0x20 || c == 0x7F) return std::nullopt;
    if (c == ' ' || c >= 0x80) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (!IsSafeRedirectUrl(out)) return std::nullopt;
  return out;
}

}  // namespace kurier::tracking
