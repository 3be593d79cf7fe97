// webhooks/client.cpp - the HTTP(S) POST of one webhook attempt, Boost.Beast over Asio coroutines.
//
// SECURITY: connects out to URLs that API users register, and reads what those servers answer.
// The URL is parsed strictly (no userinfo, no fragment, no bytes a request line cannot carry), header
// fields are checked for CR/LF before they are written, and private addresses can be refused after DNS
// (WebhookClientOptions::allow_private_addresses). Every step shares one deadline (net::Watchdog
// cancels the socket; a guard timer ends a DNS lookup that outlives it); the response header is
// bounded to 16 KiB and the body is read to at most 64 KiB, of which 1 KiB is kept. TLS: certificate
// chain verified against the system store plus an optional CA file, host name (or IP address) checked
// against the certificate, SNI sent, TLS 1.2 at least with forward-secret AEAD suites only (tls.ciphers,
// net/tls_policy.cpp). Redirects are never followed, so a receiver
// cannot point kurier at another host.
// STANDARDS: RFC 9110 (HTTP semantics: POST, Host, 3xx Location, Retry-After), RFC 9112 (HTTP/1.1
// message syntax, Connection: close), RFC 3986 (URI syntax), RFC 6125 (host name checks, through
// OpenSSL's X509_check_host / X509_check_ip_asc), RFC 6066 (SNI), Standard Webhooks v1 (what is sent).
#include "webhooks/client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <exception>

#include "common/encoding.hpp"
#include "net/tls_policy.hpp"
#include "net/watchdog.hpp"

namespace kurier::webhooks {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace http = boost::beast::http;
using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxResponseHeader = 16 * 1024;

// ---------------------------------------------------------------------------------------------------
// URL

std::string WebhookUrl::HostPort() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string WebhookUrl::Authority() const {
  std::string a = ipv6 ? "[" + host + "]" : host;
  if (port != (https ? 443 : 80)) a += ":" + std::to_string(port);
  return a;
}

namespace {

Error UrlError(std::string what) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "webhook URL " + what + "; write it as https://host[:port]/path[?query]");
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

}  // namespace

Result<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  if (url.empty()) return UrlError("is empty");
  if (url.size() > kMaxWebhookUrlLength)
    return UrlError("is " + std::to_string(url.size()) + " octets long, more than the " +
                    std::to_string(kMaxWebhookUrlLength) + " allowed");
  for (size_t i = 0; i < url.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c >= 0x7f)
      return UrlError("has a space, control character or non-ASCII byte at position " + std::to_string(i + 1) +
                      "; percent-encode it");
    if (c == '#') return UrlError("has a #fragment, which is never sent to a server; remove it");
  }
  WebhookUrl out;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return UrlError("has no scheme");
  std::string scheme = ToLowerAscii(url.substr(0, sep));
  if (scheme == "https") {
    out.https = true;
  } else if (scheme != "http") {
    return UrlError("has scheme \"" + scheme.substr(0, 16) + "\"; only http and https are supported");
  }
  std::string_view rest = url.substr(sep + 3);
  size_t auth_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view target = auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos)
    return UrlError("carries user:password@, which kurier does not send; authenticate the request with its "
                    "signature, or put a token in the path");

  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return UrlError("has an IPv6 address without its closing ]");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return UrlError("has text after the IPv6 address that is not :port");
      port = after.substr(1);
      if (port.empty()) return UrlError("has a : without a port number");
    }
    boost::system::error_code ec;
    auto v6 = asio::ip::make_address_v6(std::string(host), ec);
    if (ec || host.find('%') != std::string_view::npos)
      return UrlError("has an IPv6 literal that is not a valid address (zone ids are not supported)");
    out.host = v6.to_string();
    out.ipv6 = true;
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return UrlError("has a : without a port number");
    }
    if (host.empty()) return UrlError("has no host");
    if (host.size() > 253) return UrlError("has a host name longer than 253 octets");
    std::string lower = ToLowerAscii(host);
    size_t label = 0;
    for (char c : lower) {
      if (!IsHostNameChar(c)) return UrlError("has a host name with a character that is not a letter, digit, - or .");
      if (c == '.') {
        if (label == 0) return UrlError("has a host name with an empty label (..)");
        label = 0;
      } else if (++label > 63) {
        return UrlError("has a host name label longer than 63 octets");
      }
    }
    if (label == 0) return UrlError("has a host name ending in a dot");
    out.host = std::move(lower);
  }
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return UrlError("has port \"" + std::string(port.substr(0, 8)) + "\"; give a number from 1 to 65535");
    out.port = static_cast<uint16_t>(value);
  } else {
    out.port = out.https ? 443 : 80;
  }

  for (size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size() || !IsHex(target[i + 1]) || !IsHex(target[i + 2]))
        return UrlError("has a % that does not start a %XX escape; write a literal % as %25");
      continue;
    }
    // RFC 3986 leaves these out of every component: they must travel percent-encoded.
    if (std::string_view("\"<>\\^`{|}[]").find(c) != std::string_view::npos)
      return UrlError(std::string("has the character ") + c + " in its path or query; percent-encode it");
  }
  out.target = target.empty() ? "/" : target.front() == '?' ? "/" + std::string(target) : std::string(target);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Client

struct WebhookClient::Impl {
  Impl(asio::io_context& io, WebhookClientOptions o) : ioc(io), options(std::move(o)), tls(ssl::context::tls_client) {}
  asio::io_context& ioc;
  WebhookClientOptions options;
  ssl::context tls;
};

namespace {

// What the attempt was waiting for, so that a timeout can say where it stalled.
enum class Phase { kResolving, kConnecting, kHandshake, kSending, kWaiting, kReadingBody };

// One attempt. Lives on its strand; `done` is called once, by the coroutine or by the guard timer.
struct Attempt {
  Attempt(asio::any_io_executor ex, std::function<void(WebhookResponse)> d, std::chrono::milliseconds t)
      : done(std::move(d)), guard(ex), timeout(t), started(Clock::now()), deadline(started + t) {}

  std::function<void(WebhookResponse)> done;
  asio::steady_timer guard;
  std::chrono::milliseconds timeout;
  Clock::time_point started, deadline;
  bool finished = false;
  Phase phase = Phase::kResolving;
  std::string where;            // host:port once the URL parsed
  std::string remote;           // the address being connected to
  tcp::resolver* resolver = nullptr;  // while resolving, so the guard can cancel it
  // Set by the TLS verify callback: the certificate's names when the host check failed.
  bool host_mismatch = false;
  std::string cert_names;

  void Finish(WebhookResponse r) {
    if (finished) return;
    finished = true;
    guard.cancel();
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    if (r.remote.empty()) r.remote = remote;
    auto d = std::move(done);
    d(std::move(r));
  }
};

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

WebhookResponse Failure(std::string error) {
  WebhookResponse r;
  r.error = std::move(error);
  return r;
}

std::string TimeoutError(const Attempt& a) {
  std::string head = "no answer within " + FormatDuration(a.timeout);
  const std::string& w = a.where;
  switch (a.phase) {
    case Phase::kResolving:
      return head + ": the DNS lookup of " + w + " did not finish; check the host name and kurier's resolver";
    case Phase::kConnecting:
      return head + ": connecting to " + w + (a.remote.empty() ? "" : " (" + a.remote + ")") +
             " did not complete; a firewall may be dropping the connection";
    case Phase::kHandshake:
      return head + ": the TLS handshake with " + w + " did not complete";
    case Phase::kSending:
      return head + ": sending the request to " + w + " did not complete";
    case Phase::kWaiting:
      return head + " from " + w + ": the request was sent but no response came; the receiver should answer "
             "2xx at once and process the event afterwards";
    case Phase::kReadingBody:
      return head + ": the response body from " + w + " did not finish";
  }
  return head;
}

// A receiver's text in our messages: printable ASCII only, bounded.
std::string Clean(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

// Cuts at most `max` octets without splitting a UTF-8 sequence.
std::string KeepPrefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

bool IsPrivate(const asio::ip::address& addr) {
  if (addr.is_v6()) {
    auto v6 = addr.to_v6();
    if (v6.is_v4_mapped()) return IsPrivate(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    auto b = v6.to_bytes();
    return v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (b[0] & 0xfe) == 0xfc ||  // fc00::/7
           (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);                                                     // fe80::/10
  }
  auto b = addr.to_v4().to_bytes();
  return b[0] == 0 || b[0] == 10 || b[0] == 127 || b[0] >= 224 ||  // this network, RFC 1918, loopback, multicast+
         (b[0] == 100 && (b[1] & 0xc0) == 64) ||                    // 100.64/10 CGNAT
         (b[0] == 169 && b[1] == 254) ||                            // link-local (cloud metadata services)
         (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
}

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Checks the caller's header fields (RFC 9110 5.1, 5.5): a bad one would corrupt or split the request.
Result<void> CheckHeaders(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    if (name.empty() || name.size() > 256)
      return MakeError(ErrorCode::kInvalidArgument, "webhook header name must be 1 to 256 characters");
    for (char c : name)
      if (!IsTokenChar(c))
        return MakeError(ErrorCode::kInvalidArgument, "webhook header name \"" + Clean(name, 64) + "\" is not an "
                                                      "HTTP token");
    for (std::string_view own : {"host", "content-length", "transfer-encoding", "connection"})
      if (IEquals(name, own))
        return MakeError(ErrorCode::kInvalidArgument, "webhook header " + name + " is set by the client itself");
    if (value.size() > 8192)
      return MakeError(ErrorCode::kInvalidArgument, "webhook header " + name + " is longer than 8192 octets");
    for (unsigned char c : value)
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return MakeError(ErrorCode::kInvalidArgument,
                         "webhook header " + name + " holds a control character (CR, LF or NUL)");
  }
  return {};
}

std::string StatusError(const WebhookUrl& url, unsigned status, std::string_view reason, const std::string& location) {
  std::string msg = url.HostPort() + " answered " + std::to_string(status);
  if (!reason.empty()) msg += " " + Clean(reason, 64);
  if (status >= 300 && status < 400) {
    msg += location.empty() ? " without a Location" : " and redirects to " + location;
    msg += "; redirects are not followed: register the URL that answers 2xx";
  } else if (status == 401 || status == 403) {
    msg += "; check that the receiver verifies with this endpoint's current secret";
  } else if (status == 404) {
    msg += "; check the URL's path";
  } else if (status == 413) {
    msg += "; the receiver refuses the payload size";
  } else if (status < 200) {
    msg += "; a final response was expected";
  }
  return msg;
}

std::string VerifyAdvice(long verify) {
  switch (verify) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return "set events.webhook_ca_file to the CA that signed it, or give the receiver a certificate from a public CA "
             "(and have it send the intermediate certificates)";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "the receiver must renew its certificate";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "the certificate is not valid yet: check the clocks of kurier's host and the receiver";
    default:
      return "fix the receiver's certificate";
  }
}

class Session {
 public:
  Session(std::shared_ptr<WebhookClient::Impl> impl, std::shared_ptr<Attempt> attempt)
      : impl_(std::move(impl)), attempt_(std::move(attempt)) {}

  awaitable<WebhookResponse> Run(WebhookRequest req) {
    Attempt& a = *attempt_;
    auto url = ParseWebhookUrl(req.url);
    if (!url) co_return Failure(url.error().message);
    auto checked = CheckHeaders(req.headers);
    if (!checked) co_return Failure(checked.error().message);
    a.where = url->HostPort();
    auto ex = co_await asio::this_coro::executor;

    // DNS. The resolver cannot be bounded by the watchdog; the guard timer cancels it at the deadline.
    tcp::resolver resolver(ex);
    a.resolver = &resolver;
    std::string port = std::to_string(url->port);
    auto [rec, results] = co_await resolver.async_resolve(url->host, port, kTuple);
    a.resolver = nullptr;
    if (a.finished) co_return WebhookResponse{};
    if (Clock::now() >= a.deadline) co_return Failure(TimeoutError(a));
    if (rec)
      co_return Failure("cannot resolve " + url->host + ": " + rec.message() + "; check the URL's host name");
    std::vector<tcp::endpoint> endpoints;
    std::string refused_private;
    for (const auto& entry : results) {
      if (!impl_->options.allow_private_addresses && IsPrivate(entry.endpoint().address())) {
        if (refused_private.empty()) refused_private = entry.endpoint().address().to_string();
        continue;
      }
      endpoints.push_back(entry.endpoint());
    }
    if (endpoints.empty() && !refused_private.empty())
      co_return Failure(url->host + " is a private or loopback address (" + refused_private +
                        "); webhooks to internal networks are refused: set events.webhook_allow_private_addresses = "
                        "true to allow them");
    if (endpoints.empty()) co_return Failure("cannot resolve " + url->host + ": no address");

    // Connect to each address in turn until one answers, all under the one deadline.
    tcp::socket sock(ex);
    net::Watchdog dog(ex);
    dog.Watch(&sock);
    dog.ExpireAt(a.deadline);
    a.phase = Phase::kConnecting;
    boost::system::error_code cec = asio::error::host_not_found;
    for (const auto& ep : endpoints) {
      a.remote = EndpointText(ep);
      boost::system::error_code ignored;
      sock.close(ignored);
      auto [ec] = co_await sock.async_connect(ep, kTuple);
      cec = ec;
      if (!cec || dog.timed_out() || a.finished) break;
    }
    if (a.finished) co_return WebhookResponse{};
    if (dog.timed_out()) co_return Failure(TimeoutError(a));
    if (cec) {
      std::string to = a.where + (url->host == EndpointHost(a.remote) ? "" : " (" + a.remote + ")");
      if (cec == asio::error::connection_refused)
        co_return Failure("connection to " + to + " refused (nothing listens there)");
      co_return Failure("cannot connect to " + to + ": " + cec.message());
    }

    if (!url->https) {
      std::string no_tls;
      co_return co_await Exchange(sock, dog, *url, req, no_tls);
    }

    ssl::stream<tcp::socket> tls(std::move(sock), impl_->tls);
    dog.Watch(&tls.next_layer());
    PrepareTls(tls, *url);
    a.phase = Phase::kHandshake;
    auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, kTuple);
    if (a.finished) co_return WebhookResponse{};
    if (dog.timed_out()) co_return Failure(TimeoutError(a));
    if (hec) co_return Failure(HandshakeError(tls, hec));
    std::string info = std::string(SSL_get_version(tls.native_handle())) + " " +
                       SSL_get_cipher_name(tls.native_handle());
    co_return co_await Exchange(tls, dog, *url, req, info);
  }

 private:
  static std::string EndpointText(const tcp::endpoint& ep) {
    std::string addr = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + addr + "]" : addr) + ":" + std::to_string(ep.port());
  }

  // The address part of EndpointText, as the URL would spell it (no brackets).
  static std::string EndpointHost(const std::string& text) {
    std::string host = text.substr(0, text.rfind(':'));
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    return host;
  }

  void PrepareTls(ssl::stream<tcp::socket>& tls, const WebhookUrl& url) {
    if (!url.ipv6) {
      boost::system::error_code ec;
      asio::ip::make_address_v4(url.host, ec);
      if (ec) SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str());  // SNI: names only (RFC 6066 3)
    }
    tls.set_verify_mode(ssl::verify_peer);
    // ssl::host_name_verification does the RFC 6125 check (X509_check_host, or X509_check_ip_asc for
    // an address); when it refuses, record why, so the error can name the certificate's names.
    Attempt* attempt = attempt_.get();
    tls.set_verify_callback([attempt, check = ssl::host_name_verification(url.host)](
                                bool preverified, ssl::verify_context& ctx) mutable {
      if (!preverified) return false;
      X509_STORE_CTX* store = ctx.native_handle();
      if (X509_STORE_CTX_get_error_depth(store) > 0) return true;
      if (check(preverified, ctx)) return true;
      attempt->host_mismatch = true;
      attempt->cert_names = CertificateNames(X509_STORE_CTX_get_current_cert(store));
      X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
      return false;
    });
  }

  static std::string CertificateNames(X509* cert) {
    std::string names;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    int count = sans ? sk_GENERAL_NAME_num(sans) : 0;
    for (int i = 0; i < count && i < 8; ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      std::string one;
      if (name->type == GEN_DNS) {
        const ASN1_STRING* s = name->d.dNSName;
        one = Clean(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s)),
                    253);
      } else if (name->type == GEN_IPADD) {
        const ASN1_STRING* s = name->d.iPAddress;
        const unsigned char* p = ASN1_STRING_get0_data(s);
        if (ASN1_STRING_length(s) == 4) {
          one = asio::ip::address_v4({p[0], p[1], p[2], p[3]}).to_string();
        } else if (ASN1_STRING_length(s) == 16) {
          asio::ip::address_v6::bytes_type b;
          std::copy(p, p + 16, b.begin());
          one = asio::ip::address_v6(b).to_string();
        }
      }
      if (one.empty()) continue;
      if (!names.empty()) names += ", ";
      names += one;
    }
    if (sans) GENERAL_NAMES_free(sans);
    return names.empty() ? "no DNS or IP names" : names;
  }

  std::string HandshakeError(ssl::stream<tcp::socket>& tls, const boost::system::error_code& ec) {
    const Attempt& a = *attempt_;
    std::string head = "TLS handshake with " + a.where + " failed: ";
    if (a.host_mismatch)
      return head + "the certificate is not valid for " + EndpointHost(a.where) + " (it names " + a.cert_names +
             "); use a URL with a name the certificate holds, or have the receiver's certificate include it";
    long verify = SSL_get_verify_result(tls.native_handle());
    if (verify != X509_V_OK)
      return head + "certificate verify failed (" + X509_verify_cert_error_string(verify) + "); " +
             VerifyAdvice(verify);
    if (ec.category() == asio::error::get_ssl_category()) {
      switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
        case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_NO_CIPHERS_AVAILABLE:
        case SSL_R_NO_SHARED_CIPHER:
        case SSL_R_WRONG_CIPHER_RETURNED:
          return head + ec.message() + " (no TLS version and cipher suite in common: kurier's webhook client uses "
                 "TLS 1.2 or later with ECDHE and AES-GCM or ChaCha20-Poly1305 only, tls.ciphers = \"" +
                 impl_->options.tls_ciphers + "\"); have the receiver's server offer TLS 1.3 or one of those suites";
        default: break;
      }
    }
    return head + ec.message();
  }

  template <typename Stream>
  awaitable<WebhookResponse> Exchange(Stream& stream, net::Watchdog& dog, const WebhookUrl& url,
                                      const WebhookRequest& req, std::string tls_info) {
    Attempt& a = *attempt_;
    http::request<http::string_body> request{http::verb::post, url.target, 11};
    request.set(http::field::host, url.Authority());
    request.set(http::field::user_agent, impl_->options.user_agent);
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "*/*");
    for (const auto& [name, value] : req.headers) request.set(name, value);
    request.keep_alive(false);
    request.body() = req.body;
    request.prepare_payload();

    a.phase = Phase::kSending;
    auto [wec, written] = co_await http::async_write(stream, request, kTuple);
    if (a.finished) co_return WebhookResponse{};
    if (dog.timed_out()) co_return Failure(TimeoutError(a));
    // A receiver may answer early (e.g. 413) and close; its answer is still read below.
    bool write_failed = static_cast<bool>(wec);

    a.phase = Phase::kWaiting;
    boost::beast::flat_buffer buffer(kMaxResponseHeader + kMaxResponseRead);
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(kMaxResponseHeader);
    parser.body_limit(boost::none);  // bounded below, by what is read
    auto [hec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, kTuple);
    if (a.finished) co_return WebhookResponse{};
    if (dog.timed_out()) co_return Failure(TimeoutError(a));
    if (hec) {
      if (write_failed) co_return Failure("sending the request to " + a.where + " failed: " + wec.message());
      if (hec == http::error::header_limit)
        co_return Failure(a.where + " answered with a header larger than " +
                          std::to_string(kMaxResponseHeader / 1024) + " KiB");
      if (hec == http::error::end_of_stream || hec == asio::error::eof)
        co_return Failure(a.where + " closed the connection without answering");
      co_return Failure("reading the answer of " + a.where + " failed: " + hec.message());
    }

    WebhookResponse r;
    r.tls = std::move(tls_info);
    const auto& head = parser.get();
    r.status = static_cast<int>(head.result_int());
    if (auto it = head.find(http::field::location); it != head.end()) r.location = Clean(it->value(), 512);
    if (auto it = head.find(http::field::retry_after); it != head.end()) {
      std::string_view v = it->value();
      int secs = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
      if (ec == std::errc() && end == v.data() + v.size() && secs >= 0) r.retry_after = secs;
    }
    std::string reason(head.reason());

    // The body: read in chunks, keep the first KiB, stop after kMaxResponseRead.
    a.phase = Phase::kReadingBody;
    std::string kept;
    std::size_t total = 0;
    char chunk[4096];
    while (!parser.is_done() && total < kMaxResponseRead) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      auto [bec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
      if (a.finished) co_return WebhookResponse{};
      std::size_t got = sizeof chunk - parser.get().body().size;
      if (got > 0) {
        if (kept.size() < kMaxResponseKept + 4) kept.append(chunk, std::min(got, kMaxResponseKept + 4 - kept.size()));
        total += got;
      }
      if (bec == http::error::need_buffer) continue;
      if (bec) break;  // the status is what counts; a body cut short is kept as far as it came
    }
    r.body_truncated = !parser.is_done() || kept.size() > kMaxResponseKept;
    r.body = KeepPrefix(kept, kMaxResponseKept);

    if (r.status < 200 || r.status >= 300) r.error = StatusError(url, static_cast<unsigned>(r.status), reason, r.location);
    co_return r;
  }

  std::shared_ptr<WebhookClient::Impl> impl_;
  std::shared_ptr<Attempt> attempt_;
};

}  // namespace

Result<WebhookClient> WebhookClient::Create(asio::io_context& ioc, WebhookClientOptions options) {
  auto impl = std::make_shared<Impl>(ioc, std::move(options));
  boost::system::error_code ec;
  impl->tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression,
                        ec);
  if (auto r = net::ApplyTlsPolicy(impl->tls.native_handle(), impl->options.tls_ciphers, net::TlsRole::kClient); !r)
    return r.error();
  impl->tls.set_default_verify_paths(ec);  // the system store; a host without one still has ca_file
  impl->tls.set_verify_mode(ssl::verify_peer);
  if (!impl->options.ca_file.empty()) {
    impl->tls.load_verify_file(impl->options.ca_file, ec);
    if (ec)
      return MakeError(ErrorCode::kConfig, "events.webhook_ca_file " + impl->options.ca_file +
                                               ": cannot load it as PEM CA certificates (" + ec.message() +
                                               "); give the PEM file of the CA that signed the receivers' "
                                               "certificates");
  }
  return WebhookClient(std::move(impl));
}

void WebhookClient::Post(WebhookRequest request, std::function<void(WebhookResponse)> done) const {
  auto strand = asio::make_strand(impl_->ioc);
  auto timeout = request.timeout.count() > 0 ? request.timeout : std::chrono::milliseconds(15000);
  auto attempt = std::make_shared<Attempt>(strand, std::move(done), timeout);

  // The guard ends the attempt at the deadline even when the coroutine is stuck where the watchdog
  // cannot reach (a DNS lookup); the coroutine then finds the attempt finished and gives up.
  attempt->guard.expires_at(attempt->deadline);
  attempt->guard.async_wait([attempt](boost::system::error_code ec) {
    // Once the response header is in, the answer is known; the watchdog bounds the body read.
    if (ec || attempt->finished || attempt->phase == Phase::kReadingBody) return;
    if (attempt->resolver) attempt->resolver->cancel();
    attempt->Finish(Failure(TimeoutError(*attempt)));
  });

  auto session = std::make_shared<Session>(impl_, attempt);
  asio::co_spawn(strand, session->Run(std::move(request)),
                 [attempt, session](std::exception_ptr e, WebhookResponse r) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       r = Failure(std::string("webhook request failed inside kurier: ") + x.what());
                     } catch (...) {
                       r = Failure("webhook request failed inside kurier");
                     }
                   }
                   attempt->Finish(std::move(r));
                 });
}

}  // namespace kurier::webhooks
