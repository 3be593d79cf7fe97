// tls_context.hpp - the server's TLS configuration (OpenSSL 3 through Asio).
#pragma once
#include <boost/asio/ssl/context.hpp>

#include "common/config.hpp"
#include "common/result.hpp"

namespace kurier::smtp::server {

/// A server context with the configured certificate, key, minimum version and cipher policy
/// (tls.ciphers, see net/tls_policy.hpp); TLS 1.0/1.1, compression and renegotiation are off.
Result<void> ConfigureServerTls(boost::asio::ssl::context& ctx, const Config& config);

}  // namespace kurier::smtp::server
