// watchdog.cpp - per-connection deadline enforcement (see watchdog.hpp).
#include "net/watchdog.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kurier::net {

struct Watchdog::State {
  explicit State(boost::asio::any_io_executor ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  boost::asio::ip::tcp::socket* socket = nullptr;
  Clock::time_point deadline = Clock::time_point::max();
  bool timed_out = false, done = false;
};

namespace {
boost::asio::awaitable<void> Run(std::shared_ptr<Watchdog::State> s);
}

Watchdog::Watchdog(boost::asio::any_io_executor ex) : state_(std::make_shared<State>(ex)) {
  boost::asio::co_spawn(ex, Run(state_), boost::asio::detached);
}

Watchdog::~Watchdog() {
  state_->done = true;
  state_->socket = nullptr;
  state_->timer.cancel();
}

void Watchdog::Watch(boost::asio::ip::tcp::socket* socket) { state_->socket = socket; }

void Watchdog::ExpireAt(Clock::time_point t) {
  bool earlier = t < state_->deadline;
  state_->deadline = t;
  if (earlier) state_->timer.cancel();  // the loop re-arms for the earlier deadline
}

bool Watchdog::timed_out() const { return state_->timed_out; }
void Watchdog::Reset() { state_->timed_out = false; }

namespace {
boost::asio::awaitable<void> Run(std::shared_ptr<Watchdog::State> s) {
  while (!s->done) {
    s->timer.expires_at(s->deadline);
    co_await s->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (s->done) co_return;
    if (Watchdog::Clock::now() >= s->deadline) {
      s->timed_out = true;
      s->deadline = Watchdog::Clock::time_point::max();
      boost::system::error_code ec;
      if (s->socket) s->socket->cancel(ec);
    }
  }
}
}  // namespace

}  // namespace kurier::net
