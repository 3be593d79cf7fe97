// http_server.cpp - Beast HTTP/1.1 server for the JSON API (RFC 9110, RFC 9112): persistent
// connections, Expect: 100-continue, request limits and timeouts.
// SECURITY:
// - A request is admitted on its request line and headers (Router::Admit: route, API key, scope, rate,
//   media type) before a single body octet is read; a refused request with a body is answered and the
//   connection closed, its body never read (and no 100 Continue sent). Routes anyone may call take
//   bodies of at most max_public_body octets; every body counts against a server-wide BodyBudget (503
//   with Retry-After when it does not fit) until its request is done.
// - Framing (RFC 9112 6): a Transfer-Encoding other than exactly "chunked" on HTTP/1.1, any
//   Transfer-Encoding on HTTP/1.0, Transfer-Encoding together with Content-Length, and an HTTP/1.1
//   request without exactly one Host (RFC 9112 3.2) are answered 400 and the connection closed, so no
//   body can be taken for the next request (smuggling).
// - Time: the idle timeout covers only the wait for the first octet of a request; its header must then
//   arrive within request_timeout (408 after), its body within request_timeout more. Idle connections
//   wait idle_timeout_under_pressure only while more than 3/4 of max_connections are open.
// - Count: 503 past max_connections, and past max_connections_per_ip from one client address.
// - No exception leaves a connection: one that escapes the handling of a request is logged and
//   answered 500, the connection closed, and the server goes on.
#include "api/http_server.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>

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

bool BodyBudget::TryReserve(std::size_t n) {
  std::size_t used = used_.load();
  do {
    if (n > limit_ || used > limit_ - n) return false;
  } while (!used_.compare_exchange_weak(used, used + n));
  return true;
}

namespace {

// Gives back a body reservation when the request is done (or its coroutine unwinds).
struct Reservation {
  BodyBudget* budget = nullptr;
  std::size_t octets = 0;
  Reservation() = default;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() {
    if (budget && octets) budget->Release(octets);
  }
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  Router& router;
  asio::io_context& ioc;
  tcp::acceptor acceptor;
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};
  uint16_t bound_port = 0;
  std::mutex per_ip_mu;
  std::unordered_map<std::string, std::size_t> per_ip;

  Impl(HttpServerOptions o, Router& r, asio::io_context& io) : options(std::move(o)), router(r), ioc(io), acceptor(io) {
    if (!options.budget) options.budget = std::make_shared<BodyBudget>(std::size_t{256} << 20);
  }

  bool UnderPressure() const { return connections.load() * 4 > options.max_connections * 3; }

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
      // Session catches what its requests throw; this handler logs anything left (it must not rethrow:
      // that would leave io_context::run and end the process).
      asio::co_spawn(ex, self->Session(std::move(sock)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          spdlog::error("http: a connection ended with an exception: {}", x.what());
        } catch (...) {
          spdlog::error("http: a connection ended with an exception");
        }
      });
    }
  }

  template <class Body>
  static void Fill(http::response<Body>& res, const HttpResponse& r) {
    res.result(static_cast<unsigned>(r.status));
    res.set(http::field::server, "kurier");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.set(k, v);
  }

  static void Arm(net::Watchdog& dog, std::chrono::steady_clock::duration d) {
    dog.Reset();
    dog.ExpireAfter(d);
  }

  // Answers `r` and closes. What the client still sends (a body that was not read) is read and dropped
  // for at most `drain`, at most 1 MiB, so that the answer is not lost to a reset; it is never parsed.
  awaitable<void> WriteAndClose(tcp::socket& stream, net::Watchdog& dog, HttpResponse r, unsigned version,
                                std::chrono::milliseconds drain = std::chrono::seconds(2)) {
    http::response<http::string_body> res;
    res.version(version ? version : 11);
    Fill(res, r);
    res.body() = std::move(r.body);
    res.keep_alive(false);
    res.prepare_payload();
    Arm(dog, std::chrono::seconds(5));
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    beast::error_code ignored;
    stream.shutdown(tcp::socket::shutdown_send, ignored);
    if (wec) co_return;
    Arm(dog, drain);
    std::array<char, 16384> scratch;
    for (std::size_t drained = 0; drained < (std::size_t{1} << 20);) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
      if (ec) break;
      drained += n;
    }
  }

  awaitable<HttpResponse> Dispatch(const Admission& admitted, const HttpRequest& req) {
    auto initiate = [this, &admitted, &req](auto handler) {
      auto h = std::make_shared<decltype(handler)>(std::move(handler));
      router.Handle(admitted, req, [h](HttpResponse r) {
        auto ex = asio::get_associated_executor(*h);
        asio::dispatch(ex, [h, r = std::move(r)]() mutable { std::move(*h)(std::move(r)); });
      });
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(HttpResponse)>(initiate, asio::use_awaitable);
  }

  // Waits for the first octet of the next request: idle_timeout, or idle_timeout_under_pressure while
  // the server is under pressure (checked again at least that often). False: close quietly.
  awaitable<bool> AwaitRequest(tcp::socket& stream, net::Watchdog& dog, beast::flat_buffer& buf) {
    if (buf.size() > 0) co_return true;
    const auto start = std::chrono::steady_clock::now();
    const auto idle = std::chrono::seconds(options.idle_timeout);
    const auto short_idle = std::chrono::seconds(std::min(options.idle_timeout_under_pressure, options.idle_timeout));
    for (;;) {
      const auto now = std::chrono::steady_clock::now();
      const auto deadline = start + (UnderPressure() ? short_idle : idle);
      if (now >= deadline || stopping) co_return false;
      dog.Reset();
      dog.ExpireAt(std::min(deadline, now + short_idle));
      auto [ec, n] = co_await stream.async_read_some(buf.prepare(4096), kTuple);
      if (!ec) {
        buf.commit(n);
        co_return true;
      }
      if (!dog.timed_out()) co_return false;  // closed or reset by the client
    }
  }

  awaitable<void> Session(tcp::socket sock) {
    struct Count {
      std::atomic<std::size_t>& n;
      ~Count() { --n; }
    } count{connections};
    ++connections;
    tcp::socket stream(std::move(sock));
    net::Watchdog dog(stream.get_executor());
    dog.Watch(&stream);
    std::string ip;
    {
      beast::error_code ec;
      auto ep = stream.remote_endpoint(ec);
      if (!ec) ip = ep.address().to_string();
    }
    if (connections.load() > options.max_connections) {
      HttpResponse busy = Problem(503, "Service Unavailable",
                                  "too many connections (api.max_connections = " + std::to_string(options.max_connections) +
                                      "); retry shortly");
      busy.headers.emplace_back("Retry-After", "1");
      co_await WriteAndClose(stream, dog, std::move(busy), 11, std::chrono::milliseconds(200));
      co_return;
    }
    struct PerIp {
      Impl& impl;
      std::string ip;
      bool counted = false;
      ~PerIp() {
        if (!counted) return;
        std::lock_guard lock(impl.per_ip_mu);
        auto it = impl.per_ip.find(ip);
        if (it != impl.per_ip.end() && --it->second == 0) impl.per_ip.erase(it);
      }
    } per_ip_count{*this, ip};
    if (options.max_connections_per_ip > 0 && !AnyContains(options.connection_limit_exempt, ip)) {
      std::size_t mine;
      {
        std::lock_guard lock(per_ip_mu);
        mine = ++per_ip[ip];
        per_ip_count.counted = true;
      }
      if (mine > options.max_connections_per_ip) {
        HttpResponse busy = Problem(
            503, "Service Unavailable",
            "too many connections from " + ip + " (api.max_connections_per_ip = " +
                std::to_string(options.max_connections_per_ip) +
                "); reuse kept-alive connections, or exempt this client's network with api.connection_limit_exempt");
        busy.headers.emplace_back("Retry-After", "1");
        co_await WriteAndClose(stream, dog, std::move(busy), 11, std::chrono::milliseconds(200));
        co_return;
      }
    }
    bool responding = false;  // a response of the current request has started: no 500 can follow it
    std::string failure;
    try {
      co_await Serve(stream, dog, ip, responding);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "an exception that is not a std::exception";
    }
    if (!failure.empty()) {
      spdlog::error("http: handling a request from {} failed with an exception: {}", ip, failure);
      if (!responding) co_await WriteAndClose(stream, dog, InternalError(), 11);
    }
    beast::error_code ignored;
    stream.shutdown(tcp::socket::shutdown_send, ignored);
  }

  awaitable<void> Serve(tcp::socket& stream, net::Watchdog& dog, const std::string& ip, bool& responding) {
    beast::flat_buffer buf;
    for (;;) {
      responding = false;
      if (!co_await AwaitRequest(stream, dog, buf)) co_return;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header));
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // checked once the route is known
      Arm(dog, std::chrono::seconds(options.request_timeout));
      auto [hec, hn] = co_await http::async_read_header(stream, buf, parser, kTuple);
      if (hec) {
        if (dog.timed_out()) {
          co_await WriteAndClose(stream, dog,
                                 Problem(408, "Request Timeout",
                                         "the request header did not arrive within " +
                                             std::to_string(options.request_timeout) +
                                             " s of its first octet (api.request_timeout)"),
                                 11);
          co_return;
        }
        if (hec == http::error::end_of_stream || hec == asio::error::connection_reset || hec == asio::error::eof ||
            hec == asio::error::operation_aborted || hec == http::error::partial_message)
          co_return;
        co_await WriteAndClose(stream, dog, HeaderError(hec), 11);
        co_return;
      }
      auto& head = parser.get();
      const unsigned version = head.version();
      HttpRequest req = RequestHead(head);
      if (auto bad = FramingProblem(version, req.headers); !bad.empty()) {
        co_await WriteAndClose(stream, dog, Problem(400, "Bad Request", bad), version);
        co_return;
      }
      if (!ParseTarget(std::string(head.target()), req.path, req.query)) {
        co_await WriteAndClose(stream, dog, Problem(400, "Bad Request", "the request target has a malformed %-escape"),
                               version);
        co_return;
      }
      req.client_ip = ip;
      const bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;

      // Admission on the head alone: nothing of a refused request's body is read.
      Admission admitted = router.Admit(req, options.routes);
      if (admitted.refusal) {
        if (has_body) {
          co_await WriteAndClose(stream, dog, std::move(*admitted.refusal), version);
          co_return;
        }
        responding = true;
        if (!co_await Respond(stream, dog, std::move(*admitted.refusal), version, parser.keep_alive())) co_return;
        continue;
      }
      const bool is_public = admitted.route->scope == Scope::kPublic;
      const std::size_t limit = is_public ? options.max_public_body : options.max_body;
      const char* limit_key = is_public ? "api.max_public_body" : "api.max_body";
      const std::string too_large = "the body exceeds the limit of " + std::to_string(limit) + " octets (" + limit_key +
                                    ") of " + req.method + " " + admitted.route->pattern +
                                    (is_public ? "" : "; send less, e.g. smaller attachments");
      if (parser.content_length() && *parser.content_length() > limit) {
        co_await WriteAndClose(stream, dog, Problem(413, "Content Too Large", too_large), version);
        co_return;
      }
      parser.body_limit(limit);
      Reservation reserved;
      if (has_body) {
        if (auto busy = ReserveBody(parser, limit, reserved)) {
          co_await WriteAndClose(stream, dog, std::move(*busy), version);
          co_return;
        }
      }
      if (beast::iequals(head[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, version};
        Arm(dog, std::chrono::seconds(options.request_timeout));
        auto [cec, cn] = co_await http::async_write(stream, cont, kTuple);
        if (cec) co_return;
      }
      Arm(dog, std::chrono::seconds(options.request_timeout));
      auto [bec, bn] = co_await http::async_read(stream, buf, parser, kTuple);
      if (bec) {
        const bool timed_out = dog.timed_out();
        if (!timed_out && (bec == http::error::end_of_stream || bec == asio::error::eof ||
                           bec == asio::error::connection_reset || bec == asio::error::operation_aborted))
          co_return;
        co_await WriteAndClose(stream, dog, BodyError(bec, timed_out, too_large), version);
        co_return;
      }
      const bool keep_alive = parser.keep_alive();
      req.body = std::move(parser.get().body());
      dog.Reset();
      dog.ExpireAfter(std::chrono::hours(24 * 365));  // the handler's time is not the client's
      HttpResponse r = co_await Dispatch(admitted, req);
      req.body.clear();
      req.body.shrink_to_fit();
      responding = true;
      if (!co_await Respond(stream, dog, std::move(r), version, keep_alive)) co_return;
    }
  }

  // The answer to a request header that could not be read (not a timeout, not a closed connection).
  HttpResponse HeaderError(const beast::error_code& hec) const {
    return hec == http::error::header_limit
               ? Problem(431, "Request Header Fields Too Large",
                         "the request line and headers exceed " + std::to_string(options.max_header) + " octets")
               : Problem(400, "Bad Request", "malformed HTTP request: " + hec.message());
  }

  // The method and the header fields (names lower-cased) of a request head.
  static HttpRequest RequestHead(const http::request_parser<http::string_body>::value_type& head) {
    HttpRequest req;
    req.method = std::string(head.method_string());
    for (const auto& f : head) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    return req;
  }

  // Reserves the body's octets (a chunked body counts as its limit) in the server-wide budget; the 503
  // to send when they do not fit.
  std::optional<HttpResponse> ReserveBody(const http::request_parser<http::string_body>& parser, std::size_t limit,
                                          Reservation& reserved) {
    const std::size_t want = parser.chunked() ? limit : static_cast<std::size_t>(*parser.content_length());
    if (!options.budget->TryReserve(want)) {
      HttpResponse busy = Problem(
          503, "Service Unavailable",
          "the server is receiving too many request bodies at once (api.max_body_in_flight = " +
              std::to_string(options.budget->limit()) + " octets); retry in a few seconds" +
              (parser.chunked() ? " (a chunked body counts as its limit; sending Content-Length needs less)" : ""));
      busy.headers.emplace_back("Retry-After", "2");
      return busy;
    }
    reserved.budget = options.budget.get();
    reserved.octets = want;
    return std::nullopt;
  }

  // The answer to a request body that could not be read (too large, too slow or malformed).
  HttpResponse BodyError(const beast::error_code& bec, bool timed_out, const std::string& too_large) const {
    return bec == http::error::body_limit ? Problem(413, "Content Too Large", too_large)
           : timed_out
               ? Problem(408, "Request Timeout",
                         "the request body did not arrive within " + std::to_string(options.request_timeout) +
                             " s of its header (api.request_timeout)")
               : Problem(400, "Bad Request", "malformed HTTP request: " + bec.message());
  }

  // Writes a response; true when the connection stays open for the next request.
  awaitable<bool> Respond(tcp::socket& stream, net::Watchdog& dog, HttpResponse r, unsigned version, bool keep_alive) {
    http::response<http::string_body> res;
    res.version(version);
    Fill(res, r);
    res.body() = std::move(r.body);
    const bool keep = keep_alive && !stopping;
    res.keep_alive(keep);
    res.prepare_payload();
    Arm(dog, std::chrono::seconds(options.request_timeout));
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    co_return !wec && keep;
  }
};

HttpServer::HttpServer(HttpServerOptions options, Router& router, asio::io_context& ioc)
    : impl_(std::make_shared<Impl>(std::move(options), router, ioc)) {}

HttpServer::~HttpServer() { Stop(); }

Result<void> HttpServer::Start() {
  const std::string& key = impl_->options.listen_key;
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(impl_->options.listen, host, port))
    return MakeError(ErrorCode::kConfig, key + ": \"" + impl_->options.listen + "\" is not host:port, e.g. \"127.0.0.1:8025\"");
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return MakeError(ErrorCode::kConfig, key + ": \"" + host + "\" is not an IP address");
  tcp::endpoint ep(addr, port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return MakeError(ErrorCode::kIo, key + ": cannot listen on " + impl_->options.listen + ": " + ec.message() +
                                         " (is another process using the port? change " + key + ")");
  impl_->bound_port = a.local_endpoint().port();
  spdlog::info("http {} listening on {}:{}",
               impl_->options.routes == RouteSet::kRecipients ? "public endpoints" : "api", host, impl_->bound_port);
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
