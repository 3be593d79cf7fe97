// scripted_server.hpp - tests only: the server side of an SMTP transcript. Each step waits until the
// bytes received since the previous step contain `expect` (empty: no wait), then writes `reply`;
// `close` ends the connection there (a server dropping it). Everything the client sent is kept in
// `received`. Works over any Asio stream socket (a socket pair end, or an accepted TCP socket).
#pragma once
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <vector>

namespace kurier::smtp::client::testing {

struct Step {
  std::string expect;
  std::string reply;
  bool close = false;
  int delay_ms = 0;  ///< waited before the reply (a server speaking up unprompted)
};

template <typename Socket>
boost::asio::awaitable<void> RunScript(Socket& sock, std::vector<Step> steps, std::string& received) {
  namespace asio = boost::asio;
  constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
  std::array<char, 4096> buf;
  size_t mark = 0;
  for (const Step& step : steps) {
    while (!step.expect.empty() && received.find(step.expect, mark) == std::string::npos) {
      auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), tuple);
      if (ec) co_return;
      received.append(buf.data(), n);
    }
    if (!step.expect.empty()) mark = received.find(step.expect, mark) + step.expect.size();
    if (step.delay_ms > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(step.delay_ms));
      (void)co_await t.async_wait(tuple);
    }
    if (!step.reply.empty()) (void)co_await asio::async_write(sock, asio::buffer(step.reply), tuple);
    if (step.close) {
      boost::system::error_code ignored;
      sock.close(ignored);
      co_return;
    }
  }
  for (;;) {  // the rest, until the client closes
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), tuple);
    if (ec) co_return;
    received.append(buf.data(), n);
  }
}

}  // namespace kurier::smtp::client::testing
