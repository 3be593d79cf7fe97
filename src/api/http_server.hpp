// http_server.hpp - the HTTP/1.1 listener of the JSON API (Boost.Beast on Asio coroutines): keep-alive,
// bounded request line, headers and body (413 names the limit), timeouts against slow clients, a
// connection limit. Requests go to a Router; Boost stays out of this header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"

namespace boost::asio {
class io_context;
}

namespace kurier::api {

class Router;

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8025";
  std::size_t max_body = 41943040;   ///< octets
  std::size_t max_header = 16384;    ///< request line and headers, octets
  int request_timeout = 30;          ///< seconds to receive one whole request once it starts
  int idle_timeout = 60;             ///< seconds a kept-alive connection may wait for the next request
  std::size_t max_connections = 1000;
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
