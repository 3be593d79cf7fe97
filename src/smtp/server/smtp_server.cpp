// smtp_server.cpp - Asio glue between sockets and proto::ServerSession.
//
// SECURITY: listens on the network. The session core bounds all input; this layer bounds time
// (command and session timeouts through a per-connection watchdog, TLS handshake timeout) and
// connections (in total and per client address), refuses relay-listener clients outside
// smtp.relay.networks, and runs Argon2id checks on a worker pool so slow hashing cannot stall I/O.
// A message is acknowledged only after spool::Spool reports it durable.
// STANDARDS: RFC 5321 4.5.3.2 (timeouts), RFC 3207 (STARTTLS), RFC 8314 (implicit TLS).
#include "smtp/server/smtp_server.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <exception>
#include <map>
#include <stdexcept>

#include "bounce/intake.hpp"
#include "common/ids.hpp"
#include "net/watchdog.hpp"
#include "smtp/proto/server_session.hpp"
#include "smtp/server/auth_service.hpp"
#include "smtp/server/tls_context.hpp"
#include "ingress/ingress.hpp"
#include "spool/spool.hpp"
#include "store/store.hpp"

namespace kurier::smtp::server {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

namespace {

enum class ListenerKind { kSubmission, kSubmissions, kRelay, kInbound };

const char* KindName(ListenerKind k) {
  switch (k) {
    case ListenerKind::kSubmission: return "submission";
    case ListenerKind::kSubmissions: return "submissions";
    case ListenerKind::kRelay: return "relay";
    case ListenerKind::kInbound: return "inbound";
  }
  return "?";
}

std::string AddressString(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

// Counts connections in total and per client address.
class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(const SmtpLimits& limits) : limits_(limits) {}
  // 0: admitted; 1: over the total; 2: over the per-address limit.
  int Admit(const std::string& ip) {
    std::lock_guard lock(mu_);
    if (total_ >= limits_.max_connections) return 1;
    auto& n = per_ip_[ip];
    if (n >= limits_.max_connections_per_ip) {
      if (n == 0) per_ip_.erase(ip);
      return 2;
    }
    ++n;
    ++total_;
    return 0;
  }
  void Release(const std::string& ip) {
    std::lock_guard lock(mu_);
    --total_;
    if (--per_ip_[ip] == 0) per_ip_.erase(ip);
  }

 private:
  const SmtpLimits& limits_;
  std::mutex mu_;
  std::size_t total_ = 0;
  std::map<std::string, std::size_t> per_ip_;
};

// Runs `f` on the worker pool; the returned awaitable resumes the caller on its own executor.
// Deliberately not a coroutine itself: GCC 12 mishandles by-value temporaries passed to coroutines
// inside a co_await expression (they were destroyed twice), so the callable is held in a shared_ptr.
// An exception thrown by `f` never escapes the pool's thread (that would end the process): it is
// rethrown in the awaiting coroutine, whose session answers 451 (see Drive).
template <typename F>
auto RunOnPool(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  auto fn = std::make_shared<F>(std::move(f));
  return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, R)>(
      [&pool, fn](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        asio::post(pool, [fn, h] {
          R r{};
          std::exception_ptr error;
          try {
            r = (*fn)();
          } catch (...) {
            error = std::current_exception();
          }
          auto ex = asio::get_associated_executor(*h);
          asio::dispatch(ex, [h, error, r = std::move(r)]() mutable { std::move(*h)(error, std::move(r)); });
        });
      },
      asio::use_awaitable);
}

std::string ExceptionText(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

// Tests only: KURIER_TEST_THROW=TOKEN makes the server throw where a bug would (a message that contains
// TOKEN, in the store step and in the bounce listener's worker; an AUTH whose username is TOKEN, on the
// auth worker), so the e2e tests can prove that such an exception ends one session, never the server.
std::string TestThrowToken() {
  const char* v = std::getenv("KURIER_TEST_THROW");
  return v && *v ? std::string(v) : std::string();
}

void MaybeThrowForTest(const std::string& token, std::string_view where, std::string_view data) {
  if (!token.empty() && data.find(token) != std::string_view::npos)
    throw std::runtime_error("KURIER_TEST_THROW fault injected in " + std::string(where));
}

}  // namespace

struct SmtpServer::Impl {
  Impl(const Config& c, store::Store& s, spool::Spool& sp, asio::io_context& io)
      : config(c), store(s), spool(sp), ioc(io), server_tls(c), tls_poll(io), auth(s, c.auth), limiter(c.limits), auth_pool(2) {}

  struct Listener {
    ListenerKind kind;
    std::unique_ptr<tcp::acceptor> acceptor;
  };

  // Per-connection state; everything runs on the connection's strand.
  struct Connection {
    explicit Connection(asio::any_io_executor ex) : watchdog(ex) {}
    net::Watchdog watchdog;
    std::string ip, tls_version, tls_cipher;
    std::string auth_failure;  ///< keyed hash of this connection's last failed credentials
  };

  const Config& config;
  store::Store& store;
  spool::Spool& spool;
  ingress::Ingress ingress{store, spool};
  asio::io_context& ioc;
  ServerTlsContext server_tls;    ///< the certificate new connections get, reloaded when its files change
  asio::steady_timer tls_poll;    ///< every tls.reload_interval
  AuthService auth;
  ConnectionLimiter limiter;
  asio::thread_pool auth_pool;  ///< Argon2id checks, and bounce processing on the inbound listener
  bounce::FeedbackIntake* intake = nullptr;  // the bounce listener's work
  std::vector<Listener> listeners;
  std::atomic<bool> stopping{false};
  const std::string test_throw = TestThrowToken();

  // A new certificate for new connections (SIGHUP, or its files changed); a bad one is logged and the
  // certificate in use kept.
  Result<void> ReloadTls(std::string_view why) {
    auto r = server_tls.Reload();
    if (!r) {
      spdlog::error("tls: {}: the certificate was not reloaded, connections keep getting the previous one: {}", why,
                    r.error().message);
      return r.error();
    }
    spdlog::info("tls: {}: loaded {} ({}, valid until {}) with {}", why, config.tls_certificate.string(), r->subject,
                 r->not_after, config.tls_private_key.string());
    if (r->expired) spdlog::warn("tls: the certificate in {} has expired ({}); renew it", config.tls_certificate.string(), r->not_after);
    return {};
  }

  void PollTls() {
    tls_poll.expires_after(std::chrono::seconds(config.tls_reload_interval));
    tls_poll.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping) return;
      if (server_tls.Poll()) (void)ReloadTls("the certificate files changed");
      PollTls();
    });
  }

  Result<void> Bind(ListenerKind kind, const ListenerConfig& lc) {
    std::string host;
    uint16_t port = 0;
    SplitHostPort(lc.listen, host, port);
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return MakeError(ErrorCode::kConfig, std::string("smtp.") + KindName(kind) + ".listen: '" + host + "' is not an IP address");
    tcp::endpoint ep(addr, port);
    auto acc = std::make_unique<tcp::acceptor>(ioc);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return MakeError(ErrorCode::kIo, std::string("cannot listen on ") + lc.listen + " (smtp." + KindName(kind) +
                                           ".listen): " + ec.message() +
                                           "; stop the other process using it or choose another port");
    listeners.push_back(Listener{kind, std::move(acc)});
    return {};
  }

  awaitable<void> AcceptLoop(Listener& l) {
    for (;;) {
      auto [ec, sock] = co_await l.acceptor->async_accept(kUseAwaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) co_return;
        spdlog::warn("accept on {}: {}", KindName(l.kind), ec.message());
        continue;
      }
      sock.set_option(tcp::no_delay(true), ec);
      auto strand = asio::make_strand(ioc);
      // Drive answers 451 to an exception inside a session; anything that still escapes the connection's
      // coroutine (TLS set-up, ...) ends that connection only, with a log line, never the server.
      asio::co_spawn(strand, HandleConnection(std::move(sock), l.kind), [kind = l.kind](std::exception_ptr e) {
        if (e) spdlog::error("{}: connection ended by an internal error: {}", KindName(kind), ExceptionText(e));
      });
    }
  }

  // The relay account's refuse_suppressed, read at most every 5 s (sessions are many, changes rare).
  mutable std::mutex relay_flag_mu;
  mutable std::pair<bool, int64_t> relay_flag{false, 0};  // value, read at (µs)
  bool RelayRefusesSuppressed() const {
    std::lock_guard lock(relay_flag_mu);
    const int64_t now = NowMicros();
    if (now - relay_flag.second > 5'000'000) {
      auto a = store.FindAccount(config.relay_account);
      relay_flag = {a && a.value() && a.value()->refuse_suppressed.value_or(false), now};
    }
    return relay_flag.first;
  }

  proto::SessionConfig SessionConfigFor(ListenerKind kind) const {
    proto::SessionConfig sc;
    sc.hostname = config.hostname;
    sc.mode = kind == ListenerKind::kRelay     ? proto::ListenerMode::kRelay
              : kind == ListenerKind::kInbound ? proto::ListenerMode::kInbound
                                               : proto::ListenerMode::kSubmission;
    if (kind == ListenerKind::kInbound)
      sc.accepted_domain = [intake = intake](const std::string& domain) { return intake->Accepts(domain); };
    else  // only for an account that refuses suppressed recipients: an index probe per RCPT then
      sc.recipient_refusal = [this, kind](const std::string& account, const std::string& recipient) {
        return ingress.RecipientRefusal(kind == ListenerKind::kRelay ? config.relay_account : account, recipient)
            .value_or(std::string());
      };
    if (kind == ListenerKind::kRelay) sc.refuse_suppressed = RelayRefusesSuppressed();
    sc.tls_active = kind == ListenerKind::kSubmissions;
    sc.tls_offered = true;
    sc.limits = config.limits;
    return sc;
  }

  awaitable<void> HandleConnection(tcp::socket sock, ListenerKind kind) {
    auto ex = co_await asio::this_coro::executor;
    auto conn = std::make_unique<Connection>(ex);
    boost::system::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    if (ec) co_return;
    conn->ip = AddressString(remote);
    const auto session_end = Clock::now() + std::chrono::seconds(config.limits.session_timeout);
    proto::ServerSession session(SessionConfigFor(kind));

    int admit = limiter.Admit(conn->ip);
    struct Release {
      ConnectionLimiter* l;
      std::string ip;
      ~Release() { if (l) l->Release(ip); }
    } release{admit == 0 ? &limiter : nullptr, conn->ip};

    conn->watchdog.Watch(&sock);
    conn->watchdog.ExpireAfter(std::chrono::seconds(config.limits.tls_handshake_timeout));

    std::string refusal;
    if (admit == 1)
      refusal = proto::FormatReply(proto::ReplyId::kTooManyConnections, config.hostname);
    else if (admit == 2)
      refusal = proto::FormatReply(proto::ReplyId::kTooManyConnectionsFromIp, conn->ip);
    else if (kind == ListenerKind::kRelay && !AnyContains(config.relay_networks, conn->ip))
      refusal = proto::FormatReply(proto::ReplyId::kClientNotAllowed, conn->ip);
    if (!refusal.empty()) spdlog::info("{}: refused {}: {}", KindName(kind), conn->ip, refusal.substr(0, refusal.size() - 2));

    if (kind == ListenerKind::kSubmissions) {
      auto ctx = server_tls.Current();  // outlives the stream below
      ssl::stream<tcp::socket> tls(std::move(sock), *ctx);
      conn->watchdog.Watch(&tls.next_layer());
      if (!co_await Handshake(tls, *conn)) co_return;
      conn->watchdog.ExpireAfter(std::chrono::seconds(config.limits.command_timeout));
      if (!refusal.empty()) session.Refuse(refusal); else session.Greet();
      co_await Drive(tls, session, *conn, kind, session_end);
      co_return;
    }
    if (!refusal.empty()) session.Refuse(refusal); else session.Greet();
    conn->watchdog.ExpireAfter(std::chrono::seconds(config.limits.command_timeout));
    bool starttls = co_await Drive(sock, session, *conn, kind, session_end);
    if (!starttls) co_return;
    auto ctx = server_tls.Current();  // outlives the stream below
    ssl::stream<tcp::socket> tls(std::move(sock), *ctx);
    conn->watchdog.Watch(&tls.next_layer());
    conn->watchdog.ExpireAfter(std::chrono::seconds(config.limits.tls_handshake_timeout));
    if (!co_await Handshake(tls, *conn)) co_return;
    session.OnTlsStarted();
    co_await Drive(tls, session, *conn, kind, session_end);
  }

  awaitable<bool> Handshake(ssl::stream<tcp::socket>& tls, Connection& c) {
    auto [ec] = co_await tls.async_handshake(ssl::stream_base::server, kUseAwaitable);
    if (ec) {
      spdlog::info("TLS handshake with {} failed: {}", c.ip, c.watchdog.timed_out() ? "timeout" : ec.message());
      co_return false;
    }
    c.tls_version = SSL_get_version(tls.native_handle());
    c.tls_cipher = SSL_get_cipher_name(tls.native_handle());
    co_return true;
  }

  // Moves bytes between the socket and the session until it closes (false) or asks for STARTTLS (true).
  // An exception (a bug in kurier, or work on another thread that failed) ends this session only: the
  // client gets 451 4.3.0 when a reply can still be written, the log one error line, and the server
  // goes on.
  template <typename Stream>
  awaitable<bool> Drive(Stream& stream, proto::ServerSession& s, Connection& c, ListenerKind kind,
                        Clock::time_point session_end) {
    std::string internal_error;
    try {
      co_return co_await DriveLoop(stream, s, c, kind, session_end);
    } catch (const std::exception& e) {
      internal_error = e.what();
    } catch (...) {
      internal_error = "an exception that is not a std::exception";
    }
    spdlog::error("{}: session with {} ended by an internal error: {}", KindName(kind), c.ip, internal_error);
    std::string reply = proto::FormatReply(proto::ReplyId::kInternalError);
    c.watchdog.Reset();
    c.watchdog.ExpireAfter(std::chrono::seconds(5));
    (void)co_await asio::async_write(stream, asio::buffer(reply), kUseAwaitable);
    co_return false;
  }

  template <typename Stream>
  awaitable<bool> DriveLoop(Stream& stream, proto::ServerSession& s, Connection& c, ListenerKind kind,
                            Clock::time_point session_end) {
    constexpr bool kIsTls = !std::is_same_v<Stream, tcp::socket>;
    std::array<char, 16384> buf;
    const auto command_timeout = std::chrono::seconds(config.limits.command_timeout);
    Clock::time_point line_deadline = Clock::now() + command_timeout;
    uint64_t seen_progress = s.progress();
    DataRate rate;
    for (;;) {
      if (s.HasOutput()) {
        std::string out = s.TakeOutput();
        c.watchdog.ExpireAfter(std::chrono::seconds(config.limits.command_timeout));
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kUseAwaitable);
        if (ec) co_return false;
      }
      if (s.closed()) {
        if constexpr (kIsTls) {
          c.watchdog.ExpireAfter(std::chrono::seconds(2));
          (void)co_await stream.async_shutdown(kUseAwaitable);
        }
        co_return false;  // the socket closes when the connection's coroutine ends
      }
      switch (s.pending()) {
        case proto::Request::kStartTls:
          if constexpr (!kIsTls) co_return true;
          co_return false;  // not reachable: the session refuses STARTTLS under TLS
        case proto::Request::kAuthenticate: {
          // The connection is suspended while the worker runs: it alone touches auth_failure meanwhile.
          auto check = [this, ip = c.ip, req = s.auth_request(), failure = &c.auth_failure] {
            // A failure of the check (the store, a bug) fails this AUTH with 454, nothing more.
            try {
              MaybeThrowForTest(test_throw, "the auth worker", req.username);
              return auth.Authenticate(ip, req, *failure);
            } catch (const std::exception& e) {
              spdlog::error("auth: checking the credentials of {:?} from {} failed: {}", req.username, ip, e.what());
              return AuthOutcome{proto::AuthResult{proto::AuthResult::Status::kTempFail, "", "", {}}, {}};
            }
          };
          AuthOutcome r = co_await RunOnPool(auth_pool, std::move(check));
          if (r.delay.count() > 0) {
            // Throttling: the answer waits on a timer of this connection, never on a worker thread.
            c.watchdog.ExpireAfter(r.delay + std::chrono::seconds(config.limits.command_timeout));
            asio::steady_timer wait(co_await asio::this_coro::executor, r.delay);
            (void)co_await wait.async_wait(kUseAwaitable);
          }
          s.OnAuthResult(r.result);
          continue;
        }
        case proto::Request::kStore:
          s.OnStored(co_await Store(s, c, kind));
          continue;
        case proto::Request::kNone: break;
      }
      if (stopping) {
        s.OnShutdown();
        continue;
      }
      auto now = Clock::now();
      if (now >= session_end) {
        c.watchdog.Reset();
        s.OnTimeout(proto::TimeoutKind::kSession);
        continue;
      }
      if (c.watchdog.timed_out()) {
        c.watchdog.Reset();
        s.OnTimeout(!s.in_data() ? proto::TimeoutKind::kCommand
                    : now >= rate.deadline ? proto::TimeoutKind::kDataRate
                                           : proto::TimeoutKind::kData);
        continue;
      }
      // Slowloris: a command line's time counts from its start (the end of the previous reply, or the
      // previous line when pipelined), not from its last byte; message data must arrive at each read
      // within command_timeout and keep up data_min_rate.
      if (s.in_data()) {
        if (!rate.active) rate.Start(now, config.limits);
        line_deadline = now + command_timeout;
      } else {
        rate.active = false;
        if (s.progress() != seen_progress || !s.partial_input()) {
          seen_progress = s.progress();
          line_deadline = now + command_timeout;
        }
      }
      c.watchdog.ExpireAt(std::min({session_end, line_deadline, rate.active ? rate.deadline : Clock::time_point::max()}));
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf), kUseAwaitable);
      if (ec) {
        if (c.watchdog.timed_out()) continue;  // the watchdog cancelled the read: answer 421 and close
        co_return false;
      }
      if (rate.active && !rate.Add(Clock::now(), n)) {
        c.watchdog.Reset();
        s.OnTimeout(proto::TimeoutKind::kDataRate);
        continue;
      }
      s.Feed(std::string_view(buf.data(), n));
    }
  }

  // The minimum transfer rate of message data: each window of data_rate_window seconds (the first one
  // is the grace period) must bring data_min_rate x data_rate_window octets; octets beyond that count
  // toward the next window (up to one window's worth), so a burst followed by a pause is not cut.
  struct DataRate {
    bool active = false;
    Clock::time_point window_end{}, deadline = Clock::time_point::max();
    uint64_t bytes = 0, quota = 0;
    Clock::duration window{};
    void Start(Clock::time_point now, const SmtpLimits& L) {
      active = true;
      window = std::chrono::seconds(L.data_rate_window);
      quota = static_cast<uint64_t>(L.data_min_rate) * static_cast<uint64_t>(L.data_rate_window);
      window_end = now + window;
      bytes = 0;
      Rearm();
    }
    // The watchdog's deadline: the end of the first window that has not had its octets yet.
    void Rearm() {
      deadline = quota == 0 ? Clock::time_point::max() : bytes < quota ? window_end : window_end + window;
    }
    // Counts `n` octets read at `now`; false when a window ended short of its octets.
    bool Add(Clock::time_point now, std::size_t n) {
      if (quota == 0) return true;
      while (now >= window_end) {
        if (bytes < quota) return false;
        bytes = std::min(bytes - quota, quota);
        window_end += window;
      }
      bytes += n;
      Rearm();
      return true;
    }
  };

  awaitable<proto::StoreResult> Store(proto::ServerSession& s, Connection& c, ListenerKind kind) {
    const proto::Envelope& env = s.envelope();
    if (kind == ListenerKind::kInbound) {
      std::vector<std::string> rcpts;
      for (const auto& r : env.forward_paths) rcpts.push_back(r.ToString());
      auto work = [this, from = env.reverse_path.ToString(), rcpts = std::move(rcpts), ip = c.ip,
                   msg = s.TakeMessage()]() mutable -> std::string {
        // A failure of the hook is a failure of this message (451, the sender retries), not of the server.
        try {
          MaybeThrowForTest(test_throw, "the bounce listener's worker", msg);
          return intake->Process(from, rcpts, ip, msg);
        } catch (const std::exception& e) {
          spdlog::error("inbound: processing a message from {} failed: {}", ip, e.what());
          return "internal error while processing the message";
        }
      };
      std::string error = co_await RunOnPool(auth_pool, std::move(work));
      if (!error.empty()) co_return proto::StoreResult{false, "", error};
      co_return proto::StoreResult{true, NewQueueId(), ""};
    }
    ingress::Origin o;
    o.account = kind == ListenerKind::kRelay ? config.relay_account : s.account();
    o.credential = s.auth_username();
    o.client_ip = c.ip;
    o.helo = s.helo_name();
    o.tls_version = c.tls_version;
    o.tls_cipher = c.tls_cipher;
    o.esmtp = s.esmtp();
    o.tls = s.tls_active();
    o.authenticated = s.authenticated();
    o.test_mode = s.test_mode();
    ingress::Envelope e;
    e.mail_from = env.reverse_path.ToString();
    for (const auto& r : env.forward_paths) e.recipients.push_back(r.ToString());
    e.body_type = env.body_type == proto::BodyType::k8BitMime ? "8BITMIME" : "7BIT";
    e.smtputf8 = env.smtputf8;
    std::string raw = s.TakeMessage();
    MaybeThrowForTest(test_throw, "the store step", raw);
    // An authenticated submission may set its tags, metadata and tracking (X-Kurier-* fields).
    const bool read_options = !o.credential.empty();
    auto prepared = ingress::Prepare(o, std::move(e), raw, config.hostname, read_options, NowMicros());
    raw = {};
    if (!prepared.error.empty()) co_return proto::StoreResult{false, "", prepared.error, true};
    // Suppressed recipients are taken out (and recorded) here, as for the API; when none is left, the
    // message is acknowledged and not sent.
    std::vector<spool::SpoolMessage> one;
    one.push_back(std::move(prepared.message));
    if (auto dropped = ingress.DropSuppressed(one); !dropped)
      co_return proto::StoreResult{false, "", "the suppression list could not be read (" + dropped.error().message + ")"};
    // The completion arrives on the committer thread; hop back to this connection's strand.
    auto r = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result<std::string>)>(
        [this](auto handler, spool::SpoolMessage msg) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          ingress.Submit(std::move(msg), [h](Result<std::string> res) {
            auto ex = asio::get_associated_executor(*h);
            asio::dispatch(ex, [h, res = std::move(res)]() mutable { std::move (*h)(std::move(res)); });
          });
        },
        asio::use_awaitable, std::move(one.front()));
    if (!r) co_return proto::StoreResult{false, "", r.error().message};
    co_return proto::StoreResult{true, r.value(), ""};
  }
};

SmtpServer::SmtpServer(const Config& config, store::Store& store, spool::Spool& spool, asio::io_context& ioc)
    : impl_(std::make_unique<Impl>(config, store, spool, ioc)) {}

SmtpServer::~SmtpServer() {
  impl_->auth_pool.join();
}

Result<void> SmtpServer::Start() {
  auto& i = *impl_;
  auto cert = i.server_tls.Reload();
  if (!cert) return cert.error();
  spdlog::info("tls: {} ({}, valid until {}{}){}", i.config.tls_certificate.string(), cert->subject, cert->not_after,
               cert->self_signed ? ", self-signed" : "",
               i.config.tls_reload_interval > 0 ? "; reloaded when it changes or on SIGHUP" : "; reloaded on SIGHUP");
  if (cert->expired) spdlog::warn("tls: the certificate in {} has expired ({}); renew it", i.config.tls_certificate.string(), cert->not_after);
  if (i.config.tls_reload_interval > 0) i.PollTls();
  if (i.config.submission.enabled)
    if (auto r = i.Bind(ListenerKind::kSubmission, i.config.submission); !r) return r;
  if (i.config.submissions.enabled)
    if (auto r = i.Bind(ListenerKind::kSubmissions, i.config.submissions); !r) return r;
  if (i.config.relay.enabled)
    if (auto r = i.Bind(ListenerKind::kRelay, i.config.relay); !r) return r;
  if (i.config.inbound.enabled) {
    if (!i.intake)
      return MakeError(ErrorCode::kConfig, "smtp.inbound is enabled but nothing processes bounces in this process");
    if (auto r = i.Bind(ListenerKind::kInbound, i.config.inbound); !r) return r;
  }
  if (i.listeners.empty())
    return MakeError(ErrorCode::kConfig, "no listener is enabled; set smtp.submission.enabled = true");
  for (auto& l : i.listeners) {
    spdlog::info("listening: {} on {}", KindName(l.kind), l.acceptor->local_endpoint().address().to_string() + ":" +
                                                              std::to_string(l.acceptor->local_endpoint().port()));
    asio::co_spawn(i.ioc, i.AcceptLoop(l), asio::detached);
  }
  return {};
}

Result<void> SmtpServer::ReloadTls(std::string_view why) { return impl_->ReloadTls(why); }

AuthService& SmtpServer::auth_service() { return impl_->auth; }

std::vector<SmtpServer::BoundListener> SmtpServer::bound() const {
  std::vector<BoundListener> out;
  for (const auto& l : impl_->listeners) {
    boost::system::error_code ec;
    auto ep = l.acceptor->local_endpoint(ec);
    if (!ec) out.push_back(BoundListener{KindName(l.kind), ep.address().to_string(), ep.port()});
  }
  return out;
}

void SmtpServer::SetBounceIntake(bounce::FeedbackIntake* intake) { impl_->intake = intake; }

void SmtpServer::Stop() {
  auto& i = *impl_;
  asio::post(i.ioc, [&i] {
    if (i.stopping.exchange(true)) return;
    i.tls_poll.cancel();
    for (auto& l : i.listeners) {
      boost::system::error_code ec;
      l.acceptor->close(ec);
    }
  });
}

}  // namespace kurier::smtp::server
