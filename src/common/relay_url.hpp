// relay_url.hpp - backup relays ("smarthosts") for fail-over, configured as URLs:
//   smtp://[user:password@]host[:port]           STARTTLS when offered (default port 25)
//   smtp+starttls://[user:password@]host[:port]  STARTTLS required (default port 587)
//   smtps://[user:password@]host[:port]          implicit TLS (default port 465)
// A URL without a port uses its scheme's default, never delivery.port (which is the MX hosts' port).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace kurier {

struct Relay {
  enum class Tls { kOpportunistic, kStartTls, kImplicit } tls = Tls::kOpportunistic;
  std::string host;
  uint16_t port = 25;
  bool port_given = false;         ///< the URL named the port (otherwise the scheme's default)
  std::string username, password;  ///< AUTH PLAIN when username is set
  std::string url;                 ///< as configured, with the password masked (for logs and events)
};

/// Parses one relay URL; the error names what is wrong and shows the expected form.
Result<Relay> ParseRelayUrl(const std::string& url);

}  // namespace kurier
