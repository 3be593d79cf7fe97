// connection.cpp - the outbound SMTP connection driver over Asio (moved out of delivery_manager.cpp).
//
// SECURITY: talks to servers chosen by DNS, i.e. by whoever controls a recipient domain. Every wait is
// bounded (connect, command and end-of-data timeouts through net::Watchdog); replies are parsed with
// bounds by proto::ReplyParser; the message leaves dot-stuffed and CRLF-normalised (proto::EncodeData).
// STANDARDS: RFC 5321 (4.5.3.2 timeouts), RFC 3207 (STARTTLS), RFC 8314 (implicit TLS), RFC 2920
// (PIPELINING).
#include "smtp/client/connection.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "net/watchdog.hpp"
#include "smtp/proto/replies.hpp"

namespace kurier::smtp::client {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using proto::ClientSession;
using proto::LocalReply;
using proto::ReplyId;
using proto::ServerReply;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

struct Connection::Impl {
  Impl(asio::any_io_executor ex, ssl::context& ctx, Target t, Timeouts to)
      : tls_ctx(ctx), target(std::move(t)), timeouts(to), plain(ex), dog(ex), cs(target.client) {}

  ssl::context& tls_ctx;
  Target target;
  Timeouts timeouts;
  tcp::socket plain;                             // the connection until TLS starts
  std::optional<ssl::stream<tcp::socket>> tls;  // the connection once TLS started (owns the socket)
  net::Watchdog dog;
  ClientSession cs;
  std::string tls_info;
  std::array<char, 8192> buf;
  bool opened = false;       // ready for mail once: from then on the command and data timeouts apply
  bool unreachable = false;  // Open failed without the server refusing (see Connection::unreachable)
  ServerReply lost;          // why, when `unreachable` after a connection

  // Until the server is ready for mail every wait is bounded by the greeting timeout (or the command
  // timeout, when that is shorter).
  int HandshakeWait() const { return std::min(timeouts.greeting, timeouts.command); }
  int Wait() const {
    if (!opened) return HandshakeWait();
    return cs.phase() == ClientSession::Phase::kDataTermination ? timeouts.data : timeouts.command;
  }

  // The connection broke or went silent before the server was ready: unreachable.
  void LostBeforeReady(const boost::system::error_code& ec) {
    unreachable = true;
    const std::string secs = std::to_string(HandshakeWait());
    if (!dog.timed_out())
      lost = LocalReply(ReplyId::kConnectionLost, {target.label, ec.message()});
    else if (cs.phase() == ClientSession::Phase::kGreeting)
      lost = LocalReply(ReplyId::kNoGreeting, {target.label, secs});
    else
      lost = LocalReply(ReplyId::kNoAnswer, {target.label, secs});
  }

  // What ended a handshake that did not reach "ready".
  ServerReply HandshakeFailure() const {
    if (unreachable) return lost;
    return cs.failure().code ? cs.failure() : LocalReply(ReplyId::kConnectionFailed, {target.label});
  }

  ServerReply TlsFailed(const boost::system::error_code& hec) {
    if (dog.timed_out()) {  // a server silent during the TLS handshake is as unreachable as a silent one
      LostBeforeReady(hec);
      return lost;
    }
    spdlog::info("delivery: TLS with {} failed: {}", target.label, hec.message());
    return LocalReply(ReplyId::kTlsHandshakeFailed, {target.label, hec.message()});
  }

  // Greeting, EHLO and perhaps STARTTLS in plaintext, or the implicit TLS handshake first.
  awaitable<ServerReply> Handshake() {
    if (target.client.implicit_tls) {
      StartTls();
      auto [hec] = co_await tls->async_handshake(ssl::stream_base::client, kUseAwaitable);
      if (hec) co_return TlsFailed(hec);
      tls_info = TlsInfo();
      co_return co_await Ready(*tls);
    }
    // (co_await is kept out of || and &&: GCC 12 miscompiles it there.)
    bool talked = co_await Exchange(plain);
    if (!talked || cs.status() == ClientSession::Status::kClosed) {
      co_await WriteRest(plain);
      co_return HandshakeFailure();
    }
    if (cs.status() == ClientSession::Status::kNeedTls) {
      StartTls();
      auto [hec] = co_await tls->async_handshake(ssl::stream_base::client, kUseAwaitable);
      if (hec) co_return TlsFailed(hec);
      cs.OnTlsStarted();
      tls_info = TlsInfo();
      co_return co_await Ready(*tls);
    }
    co_return co_await Ready(plain);
  }

  void StartTls() {
    tls.emplace(std::move(plain), tls_ctx);
    dog.Watch(&tls->next_layer());
    SSL_set_tlsext_host_name(tls->native_handle(), target.host.c_str());  // SNI
    if (target.verify) {
      tls->set_verify_mode(ssl::verify_peer);
      tls->set_verify_callback(ssl::host_name_verification(target.host));
    }
    dog.ExpireAfter(std::chrono::seconds(Wait()));
  }

  std::string TlsInfo() {
    return std::string(SSL_get_version(tls->native_handle())) + " " + SSL_get_cipher_name(tls->native_handle());
  }

  // From (possibly TLS) EHLO to ready for a message.
  template <typename Stream>
  awaitable<ServerReply> Ready(Stream& s) {
    if (cs.status() != ClientSession::Status::kReady) {
      bool talked = co_await Exchange(s);
      if (!talked || cs.status() != ClientSession::Status::kReady) {
        co_await WriteRest(s);
        co_return HandshakeFailure();
      }
    }
    opened = true;
    co_return ServerReply{};
  }

  // Writes what the session has to say and feeds it the server's replies until it waits for us.
  template <typename Stream>
  awaitable<bool> Exchange(Stream& s) {
    for (;;) {
      if (cs.HasOutput()) {
        std::string out = cs.TakeOutput();
        dog.ExpireAfter(std::chrono::seconds(Wait()));
        auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), kUseAwaitable);
        if (ec) {
          if (!opened) LostBeforeReady(ec);
          cs.OnConnectionLost(dog.timed_out() ? "timeout while sending" : "connection lost while sending: " + ec.message());
          co_return false;
        }
      }
      auto st = cs.status();
      if (st != ClientSession::Status::kHandshake && st != ClientSession::Status::kSending) co_return true;
      dog.ExpireAfter(std::chrono::seconds(Wait()));
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kUseAwaitable);
      if (ec) {
        if (!opened) LostBeforeReady(ec);
        cs.OnConnectionLost(dog.timed_out() ? "timeout waiting for the server's reply" : "connection lost: " + ec.message());
        co_return false;
      }
      cs.Feed(std::string_view(buf.data(), n));
    }
  }

  template <typename Stream>
  awaitable<void> WriteRest(Stream& s) {
    if (!cs.HasOutput()) co_return;
    std::string out = cs.TakeOutput();
    dog.ExpireAfter(std::chrono::seconds(10));
    (void)co_await asio::async_write(s, asio::buffer(out), kUseAwaitable);
  }
};

Connection::Connection(asio::any_io_executor ex, ssl::context& tls, Target target, Timeouts timeouts)
    : impl_(std::make_unique<Impl>(std::move(ex), tls, std::move(target), timeouts)) {}

Connection::~Connection() = default;

awaitable<ServerReply> Connection::Open() {
  Impl& c = *impl_;
  const Target& t = c.target;
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(t.addr, ec);
  if (ec) co_return LocalReply(ReplyId::kBadAddress, {t.addr});
  c.dog.Watch(&c.plain);
  c.dog.ExpireAfter(std::chrono::seconds(c.timeouts.connect));
  auto [cec] = co_await c.plain.async_connect(tcp::endpoint(ip, t.port), kUseAwaitable);
  if (cec) {
    std::string why = c.dog.timed_out() ? "connection timed out" : cec.message();
    spdlog::info("delivery: {} port {}: {}", t.label, t.port, why);
    c.unreachable = true;
    co_return LocalReply(ReplyId::kCannotConnect, {t.label, std::to_string(t.port), why});
  }
  co_return co_await c.Handshake();
}

awaitable<ServerReply> Connection::Open(tcp::socket connected) {
  impl_->plain = std::move(connected);
  impl_->dog.Watch(&impl_->plain);
  co_return co_await impl_->Handshake();
}

awaitable<std::vector<proto::RecipientResult>> Connection::Send(const proto::OutboundMessage& message) {
  Impl& c = *impl_;
  c.cs.StartMessage(message);
  if (c.tls)
    co_await c.Exchange(*c.tls);
  else
    co_await c.Exchange(c.plain);
  if (c.cs.status() != ClientSession::Status::kMessageDone) c.cs.OnConnectionLost("connection to " + c.target.label + " lost");
  co_return c.cs.TakeResults();
}

bool Connection::unreachable() const { return impl_->unreachable; }

bool Connection::resetting() const { return impl_->cs.status() == ClientSession::Status::kHandshake; }

awaitable<void> Connection::Reset() {
  if (impl_->tls)
    co_await impl_->Exchange(*impl_->tls);
  else
    co_await impl_->Exchange(impl_->plain);
}

bool Connection::ready() const { return impl_->cs.status() == ClientSession::Status::kReady; }

bool Connection::Quiet() const {
  int fd = impl_->tls ? impl_->tls->lowest_layer().native_handle() : impl_->plain.native_handle();
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

awaitable<void> Connection::Quit() {
  impl_->cs.Quit();
  if (impl_->tls)
    co_await impl_->WriteRest(*impl_->tls);
  else
    co_await impl_->WriteRest(impl_->plain);
}

const Target& Connection::target() const { return impl_->target; }
const std::string& Connection::tls_info() const { return impl_->tls_info; }

}  // namespace kurier::smtp::client
