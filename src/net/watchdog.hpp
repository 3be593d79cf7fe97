// watchdog.hpp - one timer per connection that cancels the socket's pending operations when the
// current deadline passes, so every read and write of a coroutine is bounded in time without
// wrapping each operation. All calls must come from the connection's strand.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace kurier::net {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Watchdog(boost::asio::any_io_executor ex);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// The socket whose operations are cancelled on expiry (the lowest layer of a TLS stream).
  void Watch(boost::asio::ip::tcp::socket* socket);
  void ExpireAt(Clock::time_point t);
  void ExpireAfter(Clock::duration d) { ExpireAt(Clock::now() + d); }
  /// True once the deadline passed and the socket was cancelled; cleared by Reset().
  bool timed_out() const;
  void Reset();

  struct State;  ///< shared with the timer coroutine, which may outlive the Watchdog briefly

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kurier::net
