// signer.hpp - DKIM signatures (RFC 6376) with RSA-SHA256 and Ed25519-SHA256 (RFC 8463),
// relaxed/relaxed canonicalization, over-signed header fields.
#pragma once
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

 private:
  PrivateKey(std::shared_ptr<EVP_PKEY> key, Algorithm a);
  std::shared_ptr<EVP_PKEY> key_;
  Algorithm algorithm_;
  std::shared_ptr<EVP_MD_CTX> template_;
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

/// The h= list kurier signs: the recommended fields present in `message`, and From, To, Cc, Subject,
/// Date, Reply-To, List-Unsubscribe, List-Unsubscribe-Post and MIME-Version once more than present
/// (over-signing, RFC 6376 8.15), so that none can be added after signing.
std::vector<std::string> DefaultSignedHeaders(std::string_view message);

/// Signs `message` (CRLF line endings) and returns the DKIM-Signature header field, folded, with CRLF,
/// to be prepended to the message.
Result<std::string> Sign(std::string_view message, const PrivateKey& key, const SignOptions& options);

}  // namespace kurier::dkim
