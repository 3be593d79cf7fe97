// connection.hpp - one outbound SMTP connection: connects (or takes a connected socket), talks to the
// server until it is ready for mail (greeting, EHLO, STARTTLS or implicit TLS, AUTH), then carries
// messages one transaction after another (pipelined when offered, reused until Quit) and RETURNS each
// message's per-recipient results. It knows nothing of queues, retries or events: the caller decides
// what a result means. Drives the I/O-free smtp::proto::ClientSession over Asio.
// STANDARDS: RFC 5321 (4.5.3.2 timeouts, 3.8 QUIT), RFC 3207 (STARTTLS), RFC 8314 (implicit TLS),
// RFC 2920 (PIPELINING).
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "smtp/proto/client_session.hpp"

namespace boost::asio::ssl {
class context;
}

namespace kurier::smtp::client {

/// Where one connection goes, and how it talks.
struct Target {
  std::string host;  ///< for SNI, certificate checks, logs and events
  std::string addr;  ///< the IP address connected to
  uint16_t port = 25;
  proto::ClientConfig client;
  bool verify = false;  ///< verify the server certificate (against the host name)
  std::string label;    ///< "mx.example.com [192.0.2.1]" or a relay's masked URL
};

/// Seconds each wait may take (RFC 5321 4.5.3.2): connect, a command's reply, the reply to end of data;
/// `greeting` bounds every wait until the server is ready for mail (greeting, EHLO, STARTTLS, TLS, AUTH;
/// `command` when shorter), so that a server that accepts TCP and stays silent counts as unreachable in
/// tens of seconds.
struct Timeouts {
  int connect = 30, command = 300, data = 600, greeting = 30;
};

class Connection {
 public:
  Connection(boost::asio::any_io_executor ex, boost::asio::ssl::context& tls, Target target, Timeouts timeouts);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects to the target and talks until the server is ready for a message. Code 0: ready;
  /// otherwise why this target could not be used (a local 4xx reply, or the server's refusal).
  boost::asio::awaitable<proto::ServerReply> Open();
  /// The same over a socket that is already connected (tests connect one end of a socket pair).
  boost::asio::awaitable<proto::ServerReply> Open(boost::asio::ip::tcp::socket connected);
  /// After a failed Open: the server could not be reached — no connection, or it was lost or silent
  /// (Timeouts::greeting) before the server was ready — as opposed to a server that answered with a
  /// refusal (a greeting or EHLO reply, a failed TLS handshake). Decides fail-over to backup relays.
  bool unreachable() const;

  /// One transaction: the results, one per recipient of `message`, in order. A connection lost or timed
  /// out defers the recipients without a final reply. `message.data` must live until this completes.
  boost::asio::awaitable<std::vector<proto::RecipientResult>> Send(const proto::OutboundMessage& message);
  /// After a failed transaction the session sends RSET; this exchanges it (before the next Send).
  bool resetting() const;
  boost::asio::awaitable<void> Reset();
  /// Ready for the next message (not closed by the server, a policy or a failure).
  bool ready() const;
  /// Whether an idle connection is still usable: the server has neither closed it nor said anything
  /// (a server says only 421 before closing when nobody asked).
  bool Quiet() const;
  /// Says QUIT (and writes whatever else the session has to say); the socket closes on destruction.
  boost::asio::awaitable<void> Quit();

  const Target& target() const;
  /// "TLSv1.3 TLS_AES_256_GCM_SHA384" under TLS, "" in plaintext.
  const std::string& tls_info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kurier::smtp::client
