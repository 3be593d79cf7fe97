// secret_box.hpp - small secrets kept at rest encrypted with a key derived from the node's secret
// (server.secret_file): webhook signing secrets in the store. Stored form: "enc:v1:" followed by the
// base64 of a 24-byte random nonce and the XChaCha20-Poly1305 ciphertext with its 16-byte tag.
#pragma once
#include <array>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kurier {

class SecretBox {
 public:
  static constexpr std::string_view kPrefix = "enc:v1:";

  /// Derives the box key from the node's secret (at least 32 bytes): BLAKE2b-256 of the secret as the
  /// master key, then libsodium's crypto_kdf with the context "kwhsec01" and subkey 1 — a key used for
  /// nothing else (VERP addresses and tracking links are HMACs keyed with the secret itself).
  explicit SecretBox(std::string_view server_secret);
  ~SecretBox();
  SecretBox(const SecretBox&) = default;
  SecretBox& operator=(const SecretBox&) = default;

  /// Encrypts `plaintext` bound to `context` (associated data, e.g. "webhook:wh_123": a sealed value
  /// copied into another row does not open there). A fresh random nonce each time.
  std::string Seal(std::string_view plaintext, std::string_view context) const;
  /// Decrypts what Seal made with the same context. Fails, without any part of the plaintext, when the
  /// value is not in the sealed form, was altered, belongs to another context or was sealed with
  /// another server secret.
  Result<std::string> Open(std::string_view sealed, std::string_view context) const;

  /// Whether `stored` is in the sealed form (begins with kPrefix).
  static bool IsSealed(std::string_view stored) { return stored.substr(0, kPrefix.size()) == kPrefix; }

 private:
  std::array<unsigned char, 32> key_{};
};

}  // namespace kurier
