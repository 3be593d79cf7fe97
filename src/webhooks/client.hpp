// webhooks/client.hpp - one webhook delivery attempt: an HTTP/1.1 POST over http:// or https://
// (certificate and host name verified) with one deadline for the whole exchange, no redirects
// followed, and a bounded read of the answer. The outbox and its retries live with the caller;
// Boost stays out of this header.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace boost::asio {
class io_context;
}

namespace kurier::webhooks {

inline constexpr std::size_t kMaxWebhookUrlLength = 2048;
/// Response body octets read before the client stops reading (and closes the connection).
inline constexpr std::size_t kMaxResponseRead = 64 * 1024;
/// Response body octets kept in WebhookResponse::body.
inline constexpr std::size_t kMaxResponseKept = 1024;

/// A webhook endpoint's URL, split for connecting.
struct WebhookUrl {
  bool https = false;
  std::string host;    ///< lower-case DNS name or IP literal (IPv6 without brackets)
  uint16_t port = 0;   ///< explicit, or 80 / 443
  std::string target;  ///< path and query as given (at least "/"), the request-target of the POST
  bool ipv6 = false;   ///< host is an IPv6 literal

  /// "host:port" ("[::1]:8080"), for messages.
  std::string HostPort() const;
  /// The Host header: host, bracketed when IPv6, with ":port" only when not the scheme's default.
  std::string Authority() const;
};

/// Parses an endpoint URL: http or https only; a host name, IPv4 or [IPv6] literal; an optional port
/// (1-65535); path and query. Refused: user:password@, a #fragment, spaces, control and non-ASCII
/// bytes, characters RFC 3986 requires percent-encoded, malformed %-escapes, more than
/// kMaxWebhookUrlLength octets. The error says what is wrong without echoing the URL (it may hold a
/// token).
Result<WebhookUrl> ParseWebhookUrl(std::string_view url);

struct WebhookRequest {
  std::string url;   ///< parsed by ParseWebhookUrl when posting
  std::string body;  ///< the JSON payload, sent as is
  /// Extra header fields, e.g. webhook-id, webhook-timestamp, webhook-signature; they replace the
  /// defaults of the same name (Content-Type: application/json, User-Agent). Host, Content-Length,
  /// Transfer-Encoding and Connection are the client's own and are refused here.
  std::vector<std::pair<std::string, std::string>> headers;
  /// One deadline for DNS, connect, TLS handshake, sending and the response together.
  std::chrono::milliseconds timeout{15000};
};

struct WebhookResponse {
  int status = 0;               ///< HTTP status code; 0 when no response header arrived
  std::string body;             ///< the first kMaxResponseKept octets of the response body
  bool body_truncated = false;  ///< the receiver sent more than was kept (reading stops at kMaxResponseRead)
  std::string location;         ///< the Location of a 3xx (not followed), bounded and cleaned
  int retry_after = -1;         ///< Retry-After in seconds when given as delta-seconds, else -1
  std::string remote;           ///< the address that was connected to, "203.0.113.5:443"; empty if none
  std::string tls;              ///< protocol and cipher, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"; empty for http
  std::chrono::milliseconds elapsed{0};
  /// Empty exactly when the receiver answered 2xx; otherwise what happened, to which host, and what to
  /// do: "connection to 127.0.0.1:9 refused (nothing listens there)", "127.0.0.1:8080 answered 500
  /// Internal Server Error", "no answer from hooks.example.com:443 within 15 s: ...".
  std::string error;

  /// The receiver accepted the event: a 2xx status line and header arrived (a body cut short afterwards,
  /// by the deadline or a reset, does not change that; body_truncated tells).
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

struct WebhookClientOptions {
  /// PEM file of further trusted CA certificates, beside the system's default trust store; empty: the
  /// system store only. Tests point it at their own CA.
  std::string ca_file;
  /// When false, a host that resolves only to loopback, private (RFC 1918, RFC 4193), link-local,
  /// CGNAT, multicast or unspecified addresses is refused before connecting (against requests to
  /// internal services through a registered URL); addresses are checked after DNS, so a name cannot
  /// smuggle one in.
  bool allow_private_addresses = true;
  /// TLS policy (tls.ciphers): "modern" (TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305, or
  /// TLS 1.3) or "intermediate" (Mozilla's list, adds DHE-RSA AEAD suites); see net/tls_policy.hpp.
  std::string tls_ciphers = "modern";
  std::string user_agent = "kurier-webhooks/1";
};

/// Posts webhooks on an io_context. Holds the TLS client context (trust store loaded once). Copies
/// share it; requests in flight keep what they need alive, so the client may be destroyed while they
/// run.
class WebhookClient {
 public:
  /// Fails when ca_file cannot be read as PEM certificates (the error names the file).
  static Result<WebhookClient> Create(boost::asio::io_context& ioc, WebhookClientOptions options = {});

  /// Sends one POST and calls `done` exactly once with the outcome, never from inside Post, on a strand
  /// of the io_context (so on one of its threads). Each call uses its own connection (Connection:
  /// close). Redirects are not followed: a 3xx is a failure whose error names the Location.
  void Post(WebhookRequest request, std::function<void(WebhookResponse)> done) const;

  struct Impl;

 private:
  explicit WebhookClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace kurier::webhooks
