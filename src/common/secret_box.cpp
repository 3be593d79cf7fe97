// secret_box.cpp - authenticated encryption of small secrets at rest (libsodium).
// SECURITY: XChaCha20-Poly1305-IETF (crypto_aead_xchacha20poly1305_ietf): random 192-bit nonces are
// safe for any number of messages under one key; the Poly1305 tag authenticates the ciphertext and the
// context, so an altered or moved value fails to open instead of yielding a wrong secret. The key is
// derived with crypto_kdf under a context of its own and wiped when the box goes.
#include "common/secret_box.hpp"

#include <sodium.h>

#include <cstdlib>

#include "common/encoding.hpp"

namespace kurier {

namespace {

constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "kwhsec01";
constexpr uint64_t kKdfSubkey = 1;
constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

SecretBox::SecretBox(std::string_view server_secret) {
  static_assert(crypto_kdf_KEYBYTES == 32 && crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);
  if (sodium_init() < 0) std::abort();
  unsigned char master[crypto_kdf_KEYBYTES];
  crypto_generichash(master, sizeof master, Bytes(server_secret), server_secret.size(), nullptr, 0);
  crypto_kdf_derive_from_key(key_.data(), key_.size(), kKdfSubkey, kKdfContext, master);
  sodium_memzero(master, sizeof master);
}

SecretBox::~SecretBox() { sodium_memzero(key_.data(), key_.size()); }

std::string SecretBox::Seal(std::string_view plaintext, std::string_view context) const {
  std::string raw(kNonce + plaintext.size() + kTag, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  randombytes_buf(out, kNonce);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + kNonce, &len, Bytes(plaintext), plaintext.size(), Bytes(context),
                                             context.size(), nullptr, out, key_.data());
  raw.resize(kNonce + len);
  return std::string(kPrefix) + Base64Encode(raw);
}

Result<std::string> SecretBox::Open(std::string_view sealed, std::string_view context) const {
  if (!IsSealed(sealed)) return MakeError(ErrorCode::kInvalidArgument, "not an encrypted value (no enc:v1: prefix)");
  auto raw = Base64Decode(sealed.substr(kPrefix.size()));
  if (!raw || raw->size() < kNonce + kTag)
    return MakeError(ErrorCode::kInvalidArgument, "the encrypted value is damaged (not base64 of nonce and ciphertext)");
  const auto* in = Bytes(*raw);
  std::string plain(raw->size() - kNonce - kTag, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &len, nullptr,
                                                 in + kNonce, raw->size() - kNonce, Bytes(context), context.size(), in,
                                                 key_.data()) != 0) {
    sodium_memzero(plain.data(), plain.size());
    return MakeError(ErrorCode::kInvalidArgument,
                     "the encrypted value does not authenticate (altered, moved from another row, or encrypted with "
                     "another server.secret_file)");
  }
  plain.resize(len);
  return plain;
}

}  // namespace kurier
