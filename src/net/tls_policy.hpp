// tls_policy.hpp - the TLS protocol and cipher policy (the tls.ciphers key) applied to OpenSSL
// contexts: the SMTP listeners' server context and the webhook client's context. Outbound MTA-to-MTA
// delivery does not use it (opportunistic STARTTLS, RFC 7435: any encryption beats plaintext).
// OpenSSL's type is forward-declared so that neither OpenSSL nor Boost headers spread from here.
#pragma once
#include <string>
#include <string_view>

#include "common/result.hpp"

struct ssl_ctx_st;  // SSL_CTX

namespace kurier::net {

enum class TlsRole { kServer, kClient };

/// The TLS 1.2 cipher list (OpenSSL names) of a profile; empty for an unknown profile.
///  - "modern": ECDHE with AES-GCM or ChaCha20-Poly1305 only (forward secrecy, AEAD; no static RSA,
///    no CBC, no SHA-1 MAC).
///  - "intermediate": Mozilla's "intermediate" list (guidelines 5.7): the modern suites plus
///    DHE-RSA with AES-GCM or ChaCha20-Poly1305 (still forward secret and AEAD).
/// TLS 1.3 suites are OpenSSL's defaults (all AEAD and forward secret) in both.
std::string_view TlsCipherList(std::string_view profile);

/// Applies PROFILE to CTX: TLS 1.2 at least (TLS 1.3 only when min_version is "TLSv1.3"), the
/// profile's cipher list, groups X25519, P-256, P-384, no compression, no renegotiation; as a
/// server, the server's cipher order for "modern" (Mozilla's intermediate leaves the choice to the
/// client) and ephemeral Diffie-Hellman parameters sized to the key for the DHE suites. Fails with a
/// message naming tls.ciphers when the profile is unknown or OpenSSL refuses the list.
Result<void> ApplyTlsPolicy(ssl_ctx_st* ctx, std::string_view profile, TlsRole role,
                            std::string_view min_version = "TLSv1.2");

}  // namespace kurier::net
