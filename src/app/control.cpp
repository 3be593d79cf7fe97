// control.cpp - control socket server and client.
// SECURITY: local only (a UNIX socket created 0600 in the data directory); one request line of at
// most 4 KiB per connection, answered within 10 s or dropped.
#include "app/control.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>

#include "common/config.hpp"
#include "common/ids.hpp"
#include "delivery/delivery_manager.hpp"

namespace kurier::app {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  Impl(asio::io_context& io, std::filesystem::path p, delivery::DeliveryManager& d)
      : ioc(io), path(std::move(p)), delivery(d), acceptor(io) {}
  asio::io_context& ioc;
  std::filesystem::path path;
  delivery::DeliveryManager& delivery;
  local::acceptor acceptor;
  std::map<std::string, std::function<ControlAnswer(const std::string&)>> handlers;
  bool delivery_running = true;


  asio::awaitable<void> Accept() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(kUseAwaitable);
      if (ec) co_return;
      asio::co_spawn(asio::make_strand(ioc), Serve(std::move(sock)), asio::detached);
    }
  }

  // "delete-many": a JSON array of queue ids, each deleted as by "delete"; answered once all are, with
  // how many were deleted ("N deleted").
  void DeleteMany(const std::string& argument, std::function<void(bool, std::string)> done) {
    boost::system::error_code ec;
    auto v = boost::json::parse(argument, ec);
    if (ec || !v.is_array() || v.as_array().empty()) return done(false, "delete-many takes a JSON array of queue ids");
    struct Tally {
      std::mutex mu;
      std::size_t left = 0, deleted = 0;
    };
    auto tally = std::make_shared<Tally>();
    std::vector<std::string> ids;
    for (const auto& id : v.as_array())
      if (id.is_string()) ids.emplace_back(id.as_string());
    if (ids.empty()) return done(false, "delete-many takes a JSON array of queue ids");
    tally->left = ids.size();
    for (const auto& id : ids)
      delivery.Delete(id, [tally, done](bool ok, std::string) {
        std::unique_lock lock(tally->mu);
        tally->deleted += ok ? 1 : 0;
        if (--tally->left > 0) return;
        const std::size_t n = tally->deleted;
        lock.unlock();
        done(true, std::to_string(n) + " deleted");
      });
  }

  asio::awaitable<void> Serve(local::socket sock) {
    auto self = shared_from_this();
    auto ex = co_await asio::this_coro::executor;  // a strand: timers and socket are touched only here
    asio::steady_timer deadline(ex, std::chrono::seconds(10));
    deadline.async_wait([&sock](boost::system::error_code ec) {
      if (!ec) sock.close();
    });
    std::string line;
    auto [ec, n] = co_await asio::async_read_until(sock, asio::dynamic_buffer(line, 4096), '\n', kUseAwaitable);
    if (ec) co_return;
    boost::system::error_code jec;
    auto req = boost::json::parse(line.substr(0, n), jec);
    std::string command, argument;
    if (!jec && req.is_object()) {
      if (auto* c = req.as_object().if_contains("command"); c && c->is_string()) command = c->as_string().c_str();
      if (auto* a = req.as_object().if_contains("argument"); a && a->is_string()) argument = a->as_string().c_str();
    }
    auto answer = std::make_shared<std::pair<bool, std::string>>();
    asio::steady_timer done_signal(ex, asio::steady_timer::time_point::max());
    // The delivery manager answers on its own strand; hop back to ours before touching the timer.
    auto done = [answer, ex, &done_signal](bool ok, std::string detail) {
      asio::post(ex, [answer, ok, detail = std::move(detail), &done_signal]() mutable {
        *answer = {ok, std::move(detail)};
        done_signal.cancel();
      });
    };
    bool unhandled = false;
    const bool queue_command = command == "retry" || command == "delete" || command == "delete-many" ||
                               command == "suspend" || command == "resume";
    if (auto h = handlers.find(command); h != handlers.end()) {
      ControlAnswer a;
      try {
        a = h->second(argument);
      } catch (const std::exception& e) {
        a = ControlAnswer{false, std::string("internal error: ") + e.what() + "; see the server's log"};
      }
      done(a.ok, std::move(a.detail));
    } else if (queue_command && !delivery_running) {
      unhandled = true;
      done(false, "delivery is not running in this server");
    } else if (command == "retry")
      delivery.Retry(argument, done);
    else if (command == "delete")
      delivery.Delete(argument, done);
    else if (command == "delete-many")
      DeleteMany(argument, done);
    else if (command == "suspend" || command == "resume")
      delivery.Suspend(argument, command == "suspend", done);
    else
      done(false, "unknown command '" + command + "'; use retry, delete, delete-many, suspend, resume, status, auth-status or auth-unblock");
    (void)co_await done_signal.async_wait(kUseAwaitable);
    boost::json::object res{{"ok", answer->first}, {"detail", answer->second}};
    if (unhandled) res["unhandled"] = true;
    std::string out = boost::json::serialize(res) + "\n";
    (void)co_await asio::async_write(sock, asio::buffer(out), kUseAwaitable);
    deadline.cancel();
  }
};

ControlServer::ControlServer(asio::io_context& ioc, std::filesystem::path path, delivery::DeliveryManager& delivery)
    : impl_(std::make_shared<Impl>(ioc, std::move(path), delivery)) {}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::AddHandler(std::string command, std::function<ControlAnswer(const std::string&)> handler) {
  impl_->handlers[std::move(command)] = std::move(handler);
}

void ControlServer::SetDeliveryRunning(bool running) { impl_->delivery_running = running; }

Result<void> ControlServer::Start() {
  std::error_code fec;
  std::filesystem::remove(impl_->path, fec);  // a stale socket from a killed server
  boost::system::error_code ec;
  local::endpoint ep(impl_->path.string());
  impl_->acceptor.open(ep.protocol(), ec);
  // The process umask (077, set in main) makes the socket owner-only as it is created; no umask change
  // here (it is process-wide, and other threads create files). Only its owner may connect (0600).
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec && ::chmod(impl_->path.c_str(), 0600) != 0)
    ec = boost::system::error_code(errno, boost::system::system_category());
  if (!ec) impl_->acceptor.listen(16, ec);
  if (ec)
    return MakeError(ErrorCode::kIo, "cannot create the control socket " + impl_->path.string() + ": " + ec.message());
  asio::co_spawn(impl_->ioc, impl_->Accept(), asio::detached);
  return {};
}

void ControlServer::Stop() {
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  std::error_code fec;
  std::filesystem::remove(impl_->path, fec);
}

std::string HostPort(const std::string& host, uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::vector<ListenerAddress> ConfiguredListeners(const Config& config) {
  std::vector<ListenerAddress> out;
  auto add = [&out](const char* name, bool enabled, const std::string& address) {
    if (enabled) out.push_back({name, address});
  };
  add("submission", config.submission.enabled, config.submission.listen);
  add("submissions", config.submissions.enabled, config.submissions.listen);
  add("relay", config.relay.enabled, config.relay.listen);
  add("inbound", config.inbound.enabled, config.inbound.listen);
  add("api", config.api.enabled, config.api.listen);
  add("public", config.api.enabled && !config.api.public_listen.empty(), config.api.public_listen);
  return out;
}

void AddStatusHandler(ControlServer& control, const Config& config, std::vector<ListenerAddress> bound) {
  boost::json::array listeners;
  for (const auto& l : bound) listeners.push_back(boost::json::object{{"name", l.name}, {"address", l.address}});
  const std::string answer = boost::json::serialize(boost::json::object{{"pid", static_cast<int64_t>(::getpid())},
                                                                        {"started_at", FormatTimeUtc(NowMicros())},
                                                                        {"hostname", config.hostname},
                                                                        {"listeners", std::move(listeners)},
                                                                        {"delivery", config.delivery.enabled}});
  control.AddHandler("status", [answer](const std::string&) { return ControlAnswer{true, answer}; });
}

std::optional<ControlAnswer> SendControl(const std::filesystem::path& path, const std::string& command,
                                         const std::string& argument) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string p = path.string();
  if (p.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return std::nullopt;
  }
  std::copy(p.begin(), p.end(), addr.sun_path);
  timeval tv{15, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string req = boost::json::serialize(boost::json::object{{"command", command}, {"argument", argument}}) + "\n";
  (void)!::write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    resp.append(buf, static_cast<size_t>(n));
    if (resp.find('\n') != std::string::npos || resp.size() > (size_t{4} << 20)) break;
  }
  ::close(fd);
  boost::system::error_code ec;
  auto v = boost::json::parse(resp, ec);
  if (ec || !v.is_object()) return ControlAnswer{false, "the server sent no answer; see its log"};
  auto& o = v.as_object();
  ControlAnswer a;
  if (auto* ok = o.if_contains("ok"); ok && ok->is_bool()) a.ok = ok->as_bool();
  if (auto* d = o.if_contains("detail"); d && d->is_string()) a.detail = d->as_string().c_str();
  if (auto* u = o.if_contains("unhandled"); u && u->is_bool() && u->as_bool()) return std::nullopt;
  return a;
}

}  // namespace kurier::app
