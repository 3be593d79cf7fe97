// http_server.cpp - Beast HTTP/1.1 server for the JSON API (RFC 9110, RFC 9112): persistent
// connections, Expect: 100-continue, request limits and timeouts.
// SECURITY: every connection is bounded in header size (431), body size (413 naming the limit), time
// (idle and per-request timeouts) and count (503 past server-wide max_connections).
#include "api/http_server.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/router.hpp"
#include "common/config.hpp"
#include "net/watchdog.hpp"

namespace kurier::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  Router& router;
  asio::io_context& ioc;
  tcp::acceptor acceptor;
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};
  uint16_t bound_port = 0;

  Impl(HttpServerOptions o, Router& r, asio::io_context& io) : options(std::move(o)), router(r), ioc(io), acceptor(io) {}

  awaitable<void> Accept() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(asio::make_strand(ioc), kTuple);
      if (stopping) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        spdlog::warn("http: accept failed: {}", ec.message());
        continue;
      }
      auto self = shared_from_this();
      auto ex = sock.get_executor();
      asio::co_spawn(ex, self->Session(std::move(sock)), asio::detached);
    }
  }

  template <class Body>
  static void Fill(http::response<Body>& res, const HttpResponse& r) {
    res.result(static_cast<unsigned>(r.status));
    res.set(http::field::server, "kurier");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.set(k, v);
  }

  awaitable<void> WriteAndClose(tcp::socket& stream, net::Watchdog& dog, HttpResponse r, unsigned version) {
    http::response<http::string_body> res;
    res.version(version ? version : 11);
    Fill(res, r);
    res.body() = std::move(r.body);
    res.keep_alive(false);
    res.prepare_payload();
    dog.Reset();
    dog.ExpireAfter(std::chrono::seconds(5));
    (void)co_await http::async_write(stream, res, kTuple);
    beast::error_code ignored;
    stream.shutdown(tcp::socket::shutdown_send, ignored);
  }

  awaitable<HttpResponse> Dispatch(const HttpRequest& req) {
    auto initiate = [this, &req](auto handler) {
      auto h = std::make_shared<decltype(handler)>(std::move(handler));
      router.Dispatch(req, [h](HttpResponse r) {
        auto ex = asio::get_associated_executor(*h);
        asio::dispatch(ex, [h, r = std::move(r)]() mutable { std::move(*h)(std::move(r)); });
      });
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(HttpResponse)>(initiate, asio::use_awaitable);
  }

  awaitable<void> Session(tcp::socket sock) {
    struct Count {
      std::atomic<std::size_t>& n;
      ~Count() { --n; }
    } count{connections};
    tcp::socket stream(std::move(sock));
    net::Watchdog dog(stream.get_executor());
    dog.Watch(&stream);
    std::string ip;
    {
      beast::error_code ec;
      auto ep = stream.remote_endpoint(ec);
      if (!ec) ip = ep.address().to_string();
    }
    if (++connections > options.max_connections) {
      HttpResponse busy = Problem(503, "Service Unavailable", "too many connections (api.max_connections); retry shortly");
      co_await WriteAndClose(stream, dog, std::move(busy), 11);
      co_return;
    }
    const std::string too_large = "the body exceeds the limit of " + std::to_string(options.max_body) +
                                  " octets (api.max_body); send less, e.g. smaller attachments";
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header));
      parser.body_limit(options.max_body);
      dog.ExpireAfter(std::chrono::seconds(options.idle_timeout));
      auto [hec, hn] = co_await http::async_read_header(stream, buf, parser, kTuple);
      if (hec) {
        if (hec == http::error::end_of_stream || dog.timed_out() || hec == asio::error::connection_reset ||
            hec == asio::error::eof || hec == asio::error::operation_aborted)
          co_return;
        HttpResponse err =
            hec == http::error::header_limit
                ? Problem(431, "Request Header Fields Too Large",
                          "the request line and headers exceed " + std::to_string(options.max_header) + " octets")
            : hec == http::error::body_limit ? Problem(413, "Content Too Large", too_large)
                                             : Problem(400, "Bad Request", "malformed HTTP request: " + hec.message());
        co_await WriteAndClose(stream, dog, std::move(err), 11);
        co_return;
      }
      auto& head = parser.get();
      if (beast::iequals(head[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, head.version()};
        (void)co_await http::async_write(stream, cont, kTuple);
      }
      dog.ExpireAfter(std::chrono::seconds(options.request_timeout));
      auto [bec, bn] = co_await http::async_read(stream, buf, parser, kTuple);
      if (bec) {
        const bool timed_out = dog.timed_out();
        if (!timed_out && (bec == http::error::end_of_stream || bec == asio::error::eof ||
                           bec == asio::error::connection_reset || bec == asio::error::operation_aborted))
          co_return;
        HttpResponse err =
            bec == http::error::body_limit ? Problem(413, "Content Too Large", too_large)
            : timed_out
                ? Problem(408, "Request Timeout",
                          "the request did not arrive within " + std::to_string(options.request_timeout) + " s")
                : Problem(400, "Bad Request", "malformed HTTP request: " + bec.message());
        unsigned version = parser.get().version();
        co_await WriteAndClose(stream, dog, std::move(err), version);
        co_return;
      }
      auto msg = parser.release();
      HttpRequest req;
      req.method = std::string(msg.method_string());
      std::string target(msg.target());
      auto qpos = target.find('?');
      bool ok = PercentDecode(target.substr(0, qpos), req.path, false);
      if (ok && qpos != std::string::npos) ok = ParseQuery(target.substr(qpos + 1), req.query);
      if (!ok) {
        HttpResponse err = Problem(400, "Bad Request", "the request target has a malformed %-escape");
        co_await WriteAndClose(stream, dog, std::move(err), msg.version());
        co_return;
      }
      for (const auto& f : msg) {
        std::string name(f.name_string());
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        req.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      req.body = std::move(msg.body());
      req.client_ip = ip;
      dog.ExpireAfter(std::chrono::hours(24 * 365));  // the handler's time is not the client's
      HttpResponse r = co_await Dispatch(req);
      http::response<http::string_body> res;
      res.version(msg.version());
      Fill(res, r);
      res.body() = std::move(r.body);
      const bool keep = msg.keep_alive() && !stopping;
      res.keep_alive(keep);
      res.prepare_payload();
      dog.ExpireAfter(std::chrono::seconds(options.request_timeout));
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !keep) break;
    }
    beast::error_code ignored;
    stream.shutdown(tcp::socket::shutdown_send, ignored);
  }
};

HttpServer::HttpServer(HttpServerOptions options, Router& router, asio::io_context& ioc)
    : impl_(std::make_shared<Impl>(std::move(options), router, ioc)) {}

HttpServer::~HttpServer() { Stop(); }

Result<void> HttpServer::Start() {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(impl_->options.listen, host, port))
    return MakeError(ErrorCode::kConfig, "api.listen: \"" + impl_->options.listen + "\" is not host:port, e.g. \"127.0.0.1:8025\"");
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return MakeError(ErrorCode::kConfig, "api.listen: \"" + host + "\" is not an IP address");
  tcp::endpoint ep(addr, port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return MakeError(ErrorCode::kIo, "api.listen: cannot listen on " + impl_->options.listen + ": " + ec.message() +
                                         " (is another process using the port? change api.listen)");
  impl_->bound_port = a.local_endpoint().port();
  spdlog::info("http api listening on {}:{}", host, impl_->bound_port);
  asio::co_spawn(impl_->ioc, impl_->Accept(), asio::detached);
  return {};
}

void HttpServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->ioc, [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

}  // namespace kurier::api
