// HttpServer with a real socket: a handler that throws, or loses its reply, gets its request a 500
// problem and the server goes on serving the next connection.
#include "api/http_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>
#include <thread>

#include "api/router.hpp"

namespace kurier::api {
namespace {

// One request over a fresh connection; everything the server sends until it closes (or 5 s pass).
std::string Exchange(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// A port that was free a moment ago.
uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(HttpServer, AnExceptionInAHandlerAnswers500AndTheServerGoesOn) {
  Router router([](const std::string&) { return std::optional<Principal>(); }, RouterOptions{});
  router.Add(Route{"GET", "/throws", Scope::kPublic,
                   [](const HttpRequest&, const RouteContext&, Reply) { throw std::runtime_error("boom"); }});
  router.Add(Route{"GET", "/drops", Scope::kPublic, [](const HttpRequest&, const RouteContext&, Reply) {}});
  router.Add(Route{"GET", "/ok", Scope::kPublic,
                   [](const HttpRequest&, const RouteContext&, Reply r) { r(Json(200, "{\"ok\":true}")); }});
  boost::asio::io_context ioc;
  HttpServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(FreePort());
  HttpServer server(o, router, ioc);
  ASSERT_TRUE(server.Start());
  std::thread t([&] { ioc.run(); });
  const std::string close = " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (const char* path : {"/throws", "/drops"}) {
    std::string res = Exchange(server.port(), std::string("GET ") + path + close);
    EXPECT_EQ(res.rfind("HTTP/1.1 500", 0), 0u) << path << ": " << res;
    EXPECT_NE(res.find("application/problem+json"), std::string::npos) << res;
    EXPECT_NE(res.find("internal error"), std::string::npos) << res;
  }
  std::string ok = Exchange(server.port(), "GET /ok" + close);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  server.Stop();
  ioc.stop();
  t.join();
}

}  // namespace
}  // namespace kurier::api
