// tls_context.cpp - server TLS set-up.
// SECURITY: protects credentials in AUTH. TLS 1.2 is the floor (RFC 8996 deprecates 1.0/1.1,
// RFC 8314 asks for TLS 1.2 or later); renegotiation and compression (CRIME) are disabled.
#include "smtp/server/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace kurier::smtp::server {

Result<void> ConfigureServerTls(boost::asio::ssl::context& ctx, const Config& config) {
  namespace ssl = boost::asio::ssl;
  boost::system::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                      ssl::context::single_dh_use,
                  ec);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, config.tls_min_version == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
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
