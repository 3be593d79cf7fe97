// signer.hpp - DKIM signatures (RFC 6376) with RSA-SHA256 and Ed25519-SHA256 (RFC 8463),
// relaxed/relaxed canonicalization, over-signed header fields.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace kurier::dkim {

enum class Algorithm { kRsaSha256, kEd25519Sha256 };

class PrivateKey {
 public:
  /// A PEM private key (RSA or Ed25519, PKCS#8 or traditional).
  static Result<PrivateKey> FromPem(std::string_view pem);
  /// A PEM key file: "PATH cannot be read" or "PATH: what is wrong with it" on failure.
  static Result<PrivateKey> FromPemFile(const std::string& path);
  /// A raw 32-byte Ed25519 seed, base64-encoded (the form RFC 8463 and dkimpy use).
  static Result<PrivateKey> FromEd25519Seed(std::string_view base64_seed);
  /// Fresh keys: RSA-2048 or Ed25519.
  static Result<PrivateKey> Generate(Algorithm algorithm);

  Algorithm algorithm() const { return algorithm_; }
  std::string ToPem() const;
  /// The p= value for the DNS TXT record: base64 of the SubjectPublicKeyInfo (RSA) or of the raw
  /// 32-byte public key (Ed25519, RFC 8463 4).
  std::string PublicKeyForDns() const;
  EVP_PKEY* native() const { return key_.get(); }
  /// A signing context initialised once for this key; Sign() copies it (OpenSSL 3 initialisation
  /// does provider look-ups that cost as much as hashing a few kilobytes).
  const EVP_MD_CTX* sign_template() const { return template_.get(); }
  /// Ed25519 only: the key in libsodium's form (seed and public key, 64 octets), which signs in
  /// about half the time of OpenSSL 3's Ed25519 on x86-64; null for RSA.
  const unsigned char* ed25519_secret() const { return ed25519_ ? ed25519_->data() : nullptr; }

 private:
  PrivateKey(std::shared_ptr<EVP_PKEY> key, Algorithm a);
  std::shared_ptr<EVP_PKEY> key_;
  Algorithm algorithm_;
  std::shared_ptr<EVP_MD_CTX> template_;
  std::shared_ptr<std::array<unsigned char, 64>> ed25519_;  // zeroed when the last copy goes
};

struct SignOptions {
  std::string domain;    ///< d=
  std::string selector;  ///< s=
  std::string identity;  ///< i= (empty: omitted)
  bool query_tag = false;              ///< q=dns/txt
  int64_t timestamp = 0;               ///< t= (seconds)
  std::vector<std::string> headers;    ///< h=, in order; a name may repeat (over-signing)
  std::string header_separator = ":";  ///< between h= names (RFC 8463's example uses " : ")
};

/// RFC 6376 3.4.2: relaxed canonicalization of one header field (name and unfolded value).
std::string RelaxedHeader(std::string_view name, std::string_view value);
/// RFC 6376 3.4.4: relaxed canonicalization of a body.
std::string RelaxedBody(std::string_view body);

// ---- building blocks, shared with ARC (arc.hpp) --------------------------------------------------

/// One header field as it appears in a message.
struct HeaderField {
  std::string name;   ///< as in the message
  std::string value;  ///< everything after the colon, with its folding (CRLF + WSP)
};
/// The header section of `message` (CRLF line endings) as fields, top to bottom.
std::vector<HeaderField> ParseHeaders(std::string_view message);
/// What follows the empty line ending the header section (empty when there is none).
std::string_view BodyOf(std::string_view message);
/// The a= value: "rsa-sha256" or "ed25519-sha256".
const char* AlgorithmTag(Algorithm algorithm);
/// bh=: base64 of the SHA-256 of the relaxed body of `message`.
std::string BodyHash(std::string_view message);
/// The header hash input for an h= list: each name picks the next instance of that field from the
/// bottom, relaxed (RFC 6376 5.4.2); names with no instance left contribute nothing.
std::string SelectedHeaders(const std::vector<HeaderField>& fields, const std::vector<std::string>& names);
/// A signature header value from "tag=value" items, folded to stay within 78 columns after a field
/// name of `name_length` characters, ending in "\r\n\tb=" (the empty b= the hash covers).
std::string FoldTags(size_t name_length, const std::vector<std::string>& tags);
/// The b= value over bytes that are already canonical: RSA-SHA256 (PKCS#1 v1.5), or Ed25519 over their
/// SHA-256 hash (RFC 8463 3); base64, folded with "\r\n\t " every 72 characters.
Result<std::string> SignCanonical(const PrivateKey& key, std::string_view canonical);

/// The h= list kurier signs: the recommended fields present in `message`, and From, To, Cc, Subject,
/// Date, Reply-To, List-Unsubscribe, List-Unsubscribe-Post and MIME-Version once more than present
/// (over-signing, RFC 6376 8.15), so that none can be added after signing.
std::vector<std::string> DefaultSignedHeaders(std::string_view message);

/// Signs `message` (CRLF line endings) and returns the DKIM-Signature header field, folded, with CRLF,
/// to be prepended to the message.
Result<std::string> Sign(std::string_view message, const PrivateKey& key, const SignOptions& options);

}  // namespace kurier::dkim
