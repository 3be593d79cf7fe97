// tls_policy.cpp - tls.ciphers: which TLS versions and suites kurier's listeners and its webhook
// client accept.
// SECURITY: TLS 1.0/1.1 are off (RFC 8996); TLS 1.2 is limited to ephemeral key exchange (no static
// RSA: forward secrecy) and AEAD ciphers (no CBC: LUCKY13 and padding oracles; no SHA-1 MACs), as
// RFC 9325 section 4.2 recommends. Compression (CRIME) and renegotiation are disabled.
// STANDARDS: RFC 8996, RFC 9325, RFC 8314 (TLS 1.2 or later for submission); the "intermediate" list
// is Mozilla's Server Side TLS guidelines 5.7 (https://ssl-config.mozilla.org/guidelines/5.7.json).
#include "net/tls_policy.hpp"

#include <openssl/ssl.h>

#include <string>

namespace kurier::net {

namespace {

constexpr std::string_view kModern =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr std::string_view kIntermediate =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

constexpr const char* kGroups = "X25519:P-256:P-384";

}  // namespace

std::string_view TlsCipherList(std::string_view profile) {
  if (profile == "modern") return kModern;
  if (profile == "intermediate") return kIntermediate;
  return {};
}

Result<void> ApplyTlsPolicy(ssl_ctx_st* ctx, std::string_view profile, TlsRole role, std::string_view min_version) {
  std::string_view list = TlsCipherList(profile);
  if (list.empty())
    return MakeError(ErrorCode::kConfig,
                     "tls.ciphers: \"" + std::string(profile) + "\" is not a policy; use \"modern\" or \"intermediate\"");
  if (SSL_CTX_set_min_proto_version(ctx, min_version == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION) != 1)
    return MakeError(ErrorCode::kInternal, "OpenSSL refused the TLS version floor (tls.min_version)");
  SSL_CTX_set_options(ctx, SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION |
                               SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(ctx, std::string(list).c_str()) != 1)
    return MakeError(ErrorCode::kConfig, "tls.ciphers: this OpenSSL offers none of the \"" + std::string(profile) +
                                             "\" suites; upgrade OpenSSL (1.1.1 or later is needed)");
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1)
    return MakeError(ErrorCode::kConfig, "tls.ciphers: this OpenSSL lacks the groups X25519, P-256 and P-384");
  if (role == TlsRole::kServer) {
    if (profile == "modern")
      SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    else
      SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_dh_auto(ctx, 1);  // DHE: RFC 7919 group sized to the certificate's key (2048 bits at least)
  }
  return {};
}

}  // namespace kurier::net
