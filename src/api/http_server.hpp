// http_server.hpp - an HTTP/1.1 listener of the JSON API (Boost.Beast on Asio coroutines): keep-alive,
// bounded request line, headers and body (413 names the limit), requests admitted on their headers
// before any body is read, a server-wide budget of body octets in flight, timeouts against slow
// clients, connection limits overall and per client address. Requests go to a Router; Boost stays out
// of this header.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/router.hpp"
#include "common/cidr.hpp"
#include "common/result.hpp"

namespace boost::asio {
class io_context;
}

namespace kurier::api {

/// The octets of request bodies being received or handled at once, over every connection of every
/// listener that shares it (api.max_body_in_flight). Thread-safe.
class BodyBudget {
 public:
  explicit BodyBudget(std::size_t limit) : limit_(limit) {}
  /// Takes `n` octets when they fit; false (nothing taken) when they do not.
  bool TryReserve(std::size_t n);
  void Release(std::size_t n) { used_.fetch_sub(n); }
  std::size_t in_flight() const { return used_.load(); }
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8025";
  std::string listen_key = "api.listen";  ///< the configuration key `listen` comes from, named in errors
  std::size_t max_body = 41943040;        ///< octets, for routes that need an API key
  std::size_t max_public_body = 65536;    ///< octets, for routes anyone may call (Scope::kPublic)
  std::size_t max_header = 16384;         ///< request line and headers, octets
  int request_timeout = 30;  ///< seconds for a request's header from its first octet, and again for its body
  int idle_timeout = 60;     ///< seconds a connection may wait for the first octet of its next request
  int idle_timeout_under_pressure = 5;  ///< the same while more than 3/4 of max_connections are open
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 64;
  std::vector<Cidr> connection_limit_exempt;  ///< client networks max_connections_per_ip does not apply to
  RouteSet routes = RouteSet::kAll;           ///< which routes this listener serves
  std::shared_ptr<BodyBudget> budget;         ///< shared by the listeners; null: one of 256 MiB of its own
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Router& router, boost::asio::io_context& ioc);
  ~HttpServer();
  Result<void> Start();
  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kurier::api
