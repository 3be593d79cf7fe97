// tls_context.cpp - server TLS set-up of every SMTP listener (submission and relay STARTTLS, implicit
// TLS on submissions, the bounce listener's STARTTLS): one context, shared by all of them.
// SECURITY: protects credentials in AUTH. The protocol and cipher policy is tls.ciphers
// (net/tls_policy.cpp): TLS 1.2 at least (RFC 8996 deprecates 1.0/1.1, RFC 8314 asks for TLS 1.2 or
// later), forward-secret AEAD suites only, no renegotiation, no compression (CRIME).
#include "smtp/server/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/tls_policy.hpp"

namespace kurier::smtp::server {

Result<void> ConfigureServerTls(boost::asio::ssl::context& ctx, const Config& config) {
  namespace ssl = boost::asio::ssl;
  boost::system::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                      ssl::context::single_dh_use,
                  ec);
  SSL_CTX* native = ctx.native_handle();
  if (auto r = net::ApplyTlsPolicy(native, config.tls_ciphers, net::TlsRole::kServer, config.tls_min_version); !r)
    return r;
  ctx.use_certificate_chain_file(config.tls_certificate.string(), ec);
  if (ec)
    return MakeError(ErrorCode::kConfig, "tls.certificate: cannot load " + config.tls_certificate.string() + ": " +
                                             ec.message() + "; point it at a PEM certificate chain");
  ctx.use_private_key_file(config.tls_private_key.string(), ssl::context::pem, ec);
  if (ec)
    return MakeError(ErrorCode::kConfig, "tls.private_key: cannot load " + config.tls_private_key.string() + ": " +
                                             ec.message() + "; point it at the PEM key of tls.certificate");
  if (SSL_CTX_check_private_key(native) != 1)
    return MakeError(ErrorCode::kConfig, "tls.private_key does not match tls.certificate; use the key the certificate was issued for");
  return {};
}

}  // namespace kurier::smtp::server
