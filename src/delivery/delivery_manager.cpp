// delivery_manager.cpp - queue scheduling and SMTP delivery over Asio.
//
// SECURITY: connects out to servers chosen by DNS, i.e. by whoever controls a recipient domain.
// Every wait is bounded (connect, command and end-of-data timeouts through net::Watchdog); replies
// are parsed with bounds by proto::ReplyParser; the message leaves dot-stuffed and CRLF-normalised.
// A recipient's state changes only after the remote server answered for it, and is committed by
// the spool: a crash during delivery may repeat a delivery, never lose one.
// STANDARDS: RFC 5321 (4.5.4 retry strategy, 5.1 MX selection, 4.5.3.2 timeouts), RFC 7505 (null MX),
// RFC 3207 (STARTTLS), RFC 2920 (PIPELINING).
#include "delivery/delivery_manager.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <deque>
#include <poll.h>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "common/secret.hpp"
#include "bounce/classify.hpp"
#include "bounce/verp.hpp"
#include "delivery/dsn.hpp"
#include "dkim/arc.hpp"
#include "dkim/signer.hpp"
#include "delivery/retry_policy.hpp"
#include "dns/resolver.hpp"
#include "net/watchdog.hpp"
#include "smtp/proto/client_session.hpp"
#include "spool/spool.hpp"
#include "store/store.hpp"

namespace kurier::delivery {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using smtp::proto::ClientSession;
using smtp::proto::Outcome;
using smtp::proto::ServerReply;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

namespace {

// The recipients of one message for one domain: what one SMTP transaction delivers.
struct Job {
  std::string message_id;
  std::string domain;
  int64_t received_at = 0;
  struct Rcpt {
    int idx = 0;
    std::string address;
    int attempts = 0;
  };
  std::vector<Rcpt> rcpts;
  /// The message as just committed, kept for the first attempt so that delivery need not read it
  /// back; retries read it from the spool, so deferred mail costs no memory for its content.
  std::shared_ptr<const spool::SpoolMessage> message;
};

ServerReply Synthetic(int code, const std::string& enhanced, const std::string& text) {
  ServerReply r;
  r.code = code;
  r.enhanced = enhanced;
  r.lines.push_back(enhanced + " " + text);
  return r;
}

bool NeedsSmtpUtf8(const spool::SpoolMessage& m) {
  return m.smtputf8 || !IsAscii(m.mail_from) ||
         std::any_of(m.recipients.begin(), m.recipients.end(), [](const std::string& r) { return !IsAscii(r); });
}

bool HasEightBit(std::string_view data) { return !IsAscii(data); }

// The domain of the first address in the From: header field (DKIM d= aligns with it for DMARC).
std::string FromDomain(std::string_view message) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find("\r\n", pos);
    if (eol == std::string_view::npos || eol == pos) break;  // end of the header section
    std::string_view line = message.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.size() > 5 && IStartsWith(line, "from:")) {
      std::string_view v = line.substr(5);
      // unfold the continuation lines of this field
      std::string value(v);
      while (pos < message.size() && (message[pos] == ' ' || message[pos] == '\t')) {
        size_t e = message.find("\r\n", pos);
        if (e == std::string_view::npos) break;
        value += message.substr(pos, e - pos);
        pos = e + 2;
      }
      auto lt = value.find('<');
      std::string addr = lt == std::string::npos ? value : value.substr(lt + 1);
      auto at = addr.find('@');
      if (at == std::string::npos) return "";
      std::string d = addr.substr(at + 1);
      d = d.substr(0, d.find_first_of("> ,;\t()"));
      return ToLowerAscii(d);
    }
  }
  return "";
}

}  // namespace

// Tests only: with KURIER_TEST_THROW=TOKEN set, preparing a message that contains TOKEN throws where a
// bug would, so the e2e tests can show that it costs that message a retry, never the connection or the
// server (the same hook as smtp_server.cpp's).
static void MaybeThrowForTest(std::string_view where, std::string_view data) {
  static const std::string token = [] {
    const char* v = std::getenv("KURIER_TEST_THROW");
    return v && *v ? std::string(v) : std::string();
  }();
  if (!token.empty() && data.find(token) != std::string_view::npos)
    throw std::runtime_error("KURIER_TEST_THROW fault injected in " + std::string(where));
}

struct DeliveryManager::Impl : std::enable_shared_from_this<DeliveryManager::Impl> {
  Impl(const Config& c, store::Store& st, spool::Spool& s, dns::Resolver& r, asio::io_context& io)
      : config(c), store(st), spool(s), resolver(r), ioc(io), strand(asio::make_strand(io)), wake(strand),
        tls_ctx(ssl::context::tls_client), rng(std::random_device{}()),
        relays_healthy(c.delivery.backup_relays.size(), true) {
    // Not tls.ciphers: STARTTLS to other mail servers is opportunistic (RFC 7435), so any suite OpenSSL
    // accepts beats the plaintext a failed handshake would fall back to; the listeners and the webhook
    // client are the ones held to the policy (docs/security.md).
    tls_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_compression);
    // Verification is chosen per connection (delivery.verify_certificates, per-domain overrides).
    boost::system::error_code ec;
    tls_ctx.set_default_verify_paths(ec);
    tls_ctx.set_verify_mode(ssl::verify_none);
  }

  struct Domain {
    std::deque<Job> ready;
    int active = 0;
    int64_t next_send = 0;  // rate limit: no message to this domain before this time (µs)
    std::deque<asio::steady_timer*> idle;  // connections waiting for the next message (cancel: one is ready)
  };

  const Config& config;
  store::Store& store;
  spool::Spool& spool;
  dns::Resolver& resolver;
  asio::io_context& ioc;
  asio::strand<asio::io_context::executor_type> strand;  // owns all queue state below
  asio::steady_timer wake;
  ssl::context tls_ctx;
  std::mt19937 rng;
  std::map<std::string, Domain> domains;
  std::multimap<int64_t, Job> scheduled;  // due time (µs) -> job
  bool stopping = false;
  int64_t wake_at = 0;                     // when the wake timer fires (µs), 0: not armed
  std::vector<bool> relays_healthy;        // per delivery.backup_relays entry
  std::set<std::string> failed_over;       // domains currently sent through a backup relay
  std::set<std::string> suspended;         // domains an operator suspended: their jobs wait
  struct SigningKey {
    std::string selector;
    dkim::PrivateKey key;
  };
  std::map<std::string, std::vector<SigningKey>> dkim_keys;  // by domain, reloaded every minute
  int64_t dkim_loaded_at = 0;
  std::optional<dkim::PrivateKey> arc_key;  // arc.key_file, loaded by Start() when arc.enabled
  std::string secret;                       // server.secret_file: signs VERP return paths
  std::function<Transformed(const spool::SpoolMessage&, int)> transform;  // tracking as mail leaves

  // ---- per-destination policy ------------------------------------------------------------------

  const DomainPolicy* PolicyFor(const std::string& domain) const {
    auto it = config.delivery.domains.find(domain);
    return it == config.delivery.domains.end() ? nullptr : &it->second;
  }
  int MaxConnections(const std::string& d) const {
    auto* p = PolicyFor(d);
    return p && p->max_connections ? *p->max_connections : config.delivery.max_connections_per_domain;
  }
  int MessagesPerConnection(const std::string& d) const {
    auto* p = PolicyFor(d);
    return p && p->messages_per_connection ? *p->messages_per_connection : config.delivery.max_messages_per_connection;
  }
  std::string TlsModeFor(const std::string& d) const {
    auto* p = PolicyFor(d);
    return p && p->tls ? *p->tls : config.delivery.tls;
  }
  bool VerifyFor(const std::string& d) const {
    auto* p = PolicyFor(d);
    return p && p->verify_certificates ? *p->verify_certificates : config.delivery.verify_certificates;
  }
  // Microseconds between two messages to `d` (0: unlimited).
  int64_t SpacingFor(const std::string& d) const {
    auto* p = PolicyFor(d);
    return p && p->rate_per_minute && *p->rate_per_minute > 0 ? 60'000'000 / *p->rate_per_minute : 0;
  }

  // ---- queue ----------------------------------------------------------------------------------

  void Enqueue(std::vector<std::pair<int64_t, Job>> jobs) {
    asio::dispatch(strand, [self = shared_from_this(), jobs = std::move(jobs)]() mutable {
      for (auto& [due, job] : jobs) self->scheduled.emplace(due, std::move(job));
      self->Pump();
    });
  }

  void Pump() {
    if (stopping) return;
    const int64_t now = NowMicros();
    while (!scheduled.empty() && scheduled.begin()->first <= now) {
      Job job = std::move(scheduled.begin()->second);
      scheduled.erase(scheduled.begin());
      domains[job.domain].ready.push_back(std::move(job));
    }
    for (auto& [name, d] : domains) {
      if (suspended.count(name)) continue;
      // One connection per few ready jobs, up to the per-domain limit.
      if (d.next_send > now) {  // rate-limited: come back when the next message may go
        ArmWake(d.next_send);
        continue;
      }
      // Connections kept open for this destination take its ready jobs first.
      for (size_t woken = 0; woken < d.ready.size() && !d.idle.empty(); ++woken) {
        d.idle.front()->cancel();
        d.idle.pop_front();
      }
      while (!d.ready.empty() && d.active < MaxConnections(name) &&
             static_cast<size_t>(d.active) * 4 < d.ready.size() + 3) {
        ++d.active;
        // Connect ends by giving its slot back; if it is ended by an exception instead, this does it (and
        // logs), so that the destination is not left short of a connection for good.
        asio::co_spawn(strand, Connect(name), [self = shared_from_this(), name](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            spdlog::error("delivery: a connection to {} ended with an internal error: {}", name, x.what());
          } catch (...) {
            spdlog::error("delivery: a connection to {} ended with an internal error", name);
          }
          if (auto it = self->domains.find(name); it != self->domains.end() && it->second.active > 0) it->second.active--;
          self->Pump();
        });
      }
    }
    // Idle domains are forgotten, unless suspended or still inside their rate-limit spacing.
    std::erase_if(domains, [this, now](const auto& kv) {
      return kv.second.ready.empty() && kv.second.active == 0 && kv.second.next_send <= now &&
             !suspended.count(kv.first);
    });
    if (!scheduled.empty()) ArmWake(scheduled.begin()->first);
  }

  // Makes sure Pump runs again at `when` (µs since the epoch) or earlier.
  void ArmWake(int64_t when) {
    if (wake_at != 0 && wake_at <= when && wake_at > NowMicros()) return;
    wake_at = when;
    auto delay = std::chrono::microseconds(std::max<int64_t>(0, when - NowMicros()));
    wake.expires_after(delay + std::chrono::milliseconds(1));
    wake.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->wake_at = 0;
      self->Pump();
    });
  }

  std::optional<Job> TakeJob(const std::string& domain) {
    if (suspended.count(domain)) return std::nullopt;
    auto it = domains.find(domain);
    if (it == domains.end() || it->second.ready.empty()) return std::nullopt;
    if (int64_t spacing = SpacingFor(domain)) {
      const int64_t now = NowMicros();
      if (it->second.next_send > now) {
        ArmWake(it->second.next_send);
        return std::nullopt;
      }
      it->second.next_send = std::max(now, it->second.next_send) + spacing;
    }
    Job j = std::move(it->second.ready.front());
    it->second.ready.pop_front();
    return j;
  }

  // Applies one transaction's outcome: spool updates, events, and retries for the deferred.
  // `message` is the spooled message when the caller has it loaded (needed only for a DSN).
  void Record(const Job& job, const std::vector<smtp::proto::RecipientResult>& results, const std::string& mx,
              const std::string& tls, const spool::SpoolMessage* message,
              const std::vector<std::string>& dkim_selectors = {}) {
    const int64_t now = NowMicros();
    std::vector<spool::RecipientUpdate> updates;
    std::vector<store::Event> events;
    Job retry = job;
    retry.rcpts.clear();
    retry.message.reset();
    int64_t next_due = 0;
    std::vector<DsnRecipient> failed;
    for (size_t i = 0; i < job.rcpts.size(); ++i) {
      const auto& rc = job.rcpts[i];
      const auto& res = results[i];
      int attempts = rc.attempts + 1;
      std::string reply = res.reply.ToString();
      Outcome outcome = res.outcome;
      std::string type = outcome == Outcome::kDelivered ? "delivered" : outcome == Outcome::kBounced ? "bounced" : "deferred";
      bool expired = outcome == Outcome::kDeferred && Expired(config.queue, job.received_at, now);
      if (expired) {
        type = "bounced";
        reply = "expired after " + std::to_string(config.queue.max_lifetime) + " s in the queue; last reply: " + reply;
      }
      boost::json::object data{{"recipient", rc.address}, {"reply", reply}, {"mx", mx},
                               {"attempt", attempts}, {"tls", tls}};
      if (!dkim_selectors.empty()) {
        boost::json::array sels;
        for (const auto& sel : dkim_selectors) sels.emplace_back(sel);
        data["dkim"] = std::move(sels);
      }
      spool::RecipientUpdate u{job.message_id, rc.idx, type == "deferred" ? "queued" : type, attempts, 0, reply};
      if (type == "bounced") {
        // The reason vocabulary and hard/soft split are the bounce parser's, so synchronous replies and
        // bounces that come back later are counted alike; an expired recipient is a soft failure.
        auto c = bounce::ClassifyReply(res.reply.code, res.reply.enhanced, res.reply.ToString());
        data["classification"] = expired || !c.hard ? "soft" : "hard";
        data["reason"] = expired ? "expired" : c.reason;
        failed.push_back(DsnRecipient{rc.address, res.reply.enhanced.empty() ? (expired ? "4.4.7" : "5.0.0") : res.reply.enhanced,
                                      res.reply.ToString(), res.local ? "" : mx, expired});
      }
      if (type == "deferred") {
        u.next_attempt = now + RetryDelayMicros(config.queue, attempts, rng);
        next_due = next_due == 0 ? u.next_attempt : std::min(next_due, u.next_attempt);
        data["next_attempt"] = FormatTimeUtc(u.next_attempt);
        retry.rcpts.push_back(Job::Rcpt{rc.idx, rc.address, attempts});
      }
      spdlog::info("{} {} to=<{}> mx={} {}", job.message_id, type, rc.address, mx.empty() ? "-" : mx, reply);
      updates.push_back(std::move(u));
      events.push_back(store::Event{0, now, type, job.message_id, "", boost::json::serialize(data)});
    }
    // The DSN is built before the update is queued: once committed, a message whose recipients are
    // all final leaves the spool.
    if (!failed.empty()) SendDsn(job, failed, message, events);
    spool.Update(std::move(updates), std::move(events));
    if (!retry.rcpts.empty()) scheduled.emplace(next_due, std::move(retry));
  }

  // Recipients on the account's (or the global) suppression list are not attempted: each becomes final
  // as "suppressed" with its event. Mail submitted over SMTP meets the list here; the HTTP API checks it
  // already when accepting, and this also covers addresses suppressed while a message waited. Returns
  // false when no recipient is left.
  bool DropSuppressed(Job& job, const spool::SpoolMessage& message) {
    std::vector<std::string> addresses;
    for (const auto& r : job.rcpts) addresses.push_back(r.address);
    auto found = store.FindSuppressions(message.account, addresses);
    if (!found) {
      spdlog::error("delivery: cannot read suppressions ({}); sending {} anyway", found.error().message, job.message_id);
      return true;
    }
    if (found->empty()) return true;
    std::map<std::string, const store::Suppression*> gone;  // by lower-cased address
    for (const auto& s : found.value()) gone.emplace(s.address, &s);
    std::vector<spool::RecipientUpdate> updates;
    std::vector<store::Event> events;
    std::vector<Job::Rcpt> left;
    const int64_t now = NowMicros();
    for (const auto& r : job.rcpts) {
      auto it = gone.find(ToLowerAscii(r.address));
      if (it == gone.end()) {
        left.push_back(r);
        continue;
      }
      const store::Suppression* s = it->second;
      spdlog::info("{} suppressed to=<{}> ({})", job.message_id, r.address, s->reason);
      updates.push_back(spool::RecipientUpdate{job.message_id, r.idx, "suppressed", r.attempts, 0,
                                               "not attempted: the address is suppressed (" + s->reason + ")"});
      boost::json::object data{{"recipient", r.address}, {"reason", s->reason}, {"suppressed_at", FormatTimeUtc(s->created_at)},
                               {"scope", s->account.empty() ? "global" : "account"}};
      events.push_back(store::Event{0, now, "suppressed", job.message_id, "", boost::json::serialize(data)});
    }
    job.rcpts = std::move(left);
    spool.Update(std::move(updates), std::move(events));
    return !job.rcpts.empty();
  }

  // RFC 3464 report to the envelope sender: never for the null sender (a DSN never causes another),
  // and only when the account wants them.
  void SendDsn(const Job& job, const std::vector<DsnRecipient>& failed, const spool::SpoolMessage* message,
               std::vector<store::Event>& events) {
    std::optional<spool::SpoolMessage> loaded;
    if (!message) {
      auto m = spool.Get(job.message_id);
      if (!m || !*m) return;
      loaded = std::move(**m);
      message = &*loaded;
    }
    if (message->mail_from.empty()) return;
    auto account = store.FindAccount(message->account);
    if (account && *account && !(*account)->send_dsn) return;
    DsnInput in;
    in.reporting_mta = config.hostname;
    in.queue_id = job.message_id;
    in.original_sender = message->mail_from;
    in.arrival = message->received_at;
    in.recipients = failed;
    in.original_message = message->data;
    spool::SpoolMessage dsn;
    dsn.id = NewQueueId();
    dsn.received_at = NowMicros();
    dsn.account = message->account;
    dsn.client_ip = "127.0.0.1";
    dsn.helo = config.hostname;
    dsn.mail_from = "";  // RFC 5321 4.5.5: notifications use the null reverse-path
    dsn.recipients = {message->mail_from};
    dsn.data = BuildDsn(in, "kurier-dsn-" + dsn.id, dsn.received_at);
    dsn.body_type = HasEightBit(dsn.data) ? "8BITMIME" : "7BIT";
    dsn.size = dsn.data.size();
    boost::json::array rcpts;
    for (const auto& f : failed) rcpts.emplace_back(f.address);
    events.push_back(store::Event{0, dsn.received_at, "dsn", job.message_id, message->account,
                                  boost::json::serialize(boost::json::object{
                                      {"to", message->mail_from}, {"dsn_id", dsn.id}, {"recipients", rcpts}})});
    std::string id = dsn.id;
    spool.Submit(std::move(dsn), [id](Result<std::string> r) {
      if (!r) spdlog::error("DSN {} could not be queued: {}", id, r.error().message);
    });
  }

  void FailAll(const Job& job, const ServerReply& r, const std::string& mx) {
    std::vector<smtp::proto::RecipientResult> results(job.rcpts.size(),
                                                      smtp::proto::RecipientResult{smtp::proto::OutcomeOf(r), r, true});
    Record(job, results, mx, "", nullptr);
  }

  // ---- connections ----------------------------------------------------------------------------

  template <typename Sig, typename Init>
  auto Await(Init init) {
    return asio::async_initiate<decltype(asio::use_awaitable), Sig>(
        [this, init = std::move(init)](auto handler) mutable {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          init([h, ex = strand](auto result) {
            asio::dispatch(ex, [h, result = std::move(result)]() mutable { std::move(*h)(std::move(result)); });
          });
        },
        asio::use_awaitable);
  }

  // Where one connection goes, and how it talks.
  struct Target {
    std::string host;  ///< for SNI, logs and events
    std::string addr;
    uint16_t port = 25;
    smtp::proto::ClientConfig client;
    bool verify = false;  ///< verify the server certificate (against the host name)
    std::string label;    ///< "mx.example.com [192.0.2.1]" or the relay's masked URL
  };
  // What to do once a connection is ready.
  struct Errand {
    enum class Kind { kDeliver, kProbe } kind = Kind::kDeliver;
    std::string domain;                      ///< kDeliver: whose ready jobs to send
    std::optional<smtp::proto::OutboundMessage> probe;  ///< kProbe: a message to send, if any
    std::vector<smtp::proto::RecipientResult> probe_results;
    std::function<void()> on_ready;  ///< kDeliver: the server is ready for the first message (fail-over events)
  };

  Target MxTarget(const std::string& domain, const std::string& host, const std::string& addr) const {
    Target t;
    t.host = host;
    t.addr = addr;
    t.port = config.delivery.port;
    t.client.helo_name = config.delivery.helo_name;
    const std::string mode = TlsModeFor(domain);
    t.client.tls = mode == "none"       ? smtp::proto::TlsMode::kNone
                   : mode == "required" ? smtp::proto::TlsMode::kRequired
                                        : smtp::proto::TlsMode::kOpportunistic;
    t.verify = VerifyFor(domain);
    t.label = host + " [" + addr + "]";
    return t;
  }

  Target RelayTarget(const Relay& r, const std::string& addr) const {
    Target t;
    t.host = r.host;
    t.addr = addr;
    t.port = r.port;
    t.client.helo_name = config.delivery.helo_name;
    t.client.tls = r.tls == Relay::Tls::kOpportunistic ? smtp::proto::TlsMode::kOpportunistic : smtp::proto::TlsMode::kRequired;
    t.client.implicit_tls = r.tls == Relay::Tls::kImplicit;
    t.client.auth_username = r.username;
    t.client.auth_password = r.password;
    t.verify = config.delivery.verify_certificates;
    t.label = r.url;
    return t;
  }

  awaitable<dns::AddressAnswer> Addresses(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    if (!ec) co_return dns::AddressAnswer{dns::Rcode::kOk, {host}, ""};  // an address literal
    auto lookup = [this, host](auto done) {
      resolver.ResolveAddresses(host, [done](dns::AddressAnswer a) { done(std::move(a)); });
    };
    co_return co_await Await<void(dns::AddressAnswer)>(std::move(lookup));
  }

  // Tries each address of a relay; code 0 when one carried out the errand.
  awaitable<ServerReply> UseRelay(const Relay& relay, Errand& errand) {
    dns::AddressAnswer addrs = co_await Addresses(relay.host);
    if (addrs.rcode != dns::Rcode::kOk)
      co_return Synthetic(451, "4.4.4", "cannot resolve relay " + relay.url + ": " +
                                            (addrs.error.empty() ? std::string("no address records") : addrs.error));
    ServerReply last;
    for (const auto& addr : addrs.addresses) {
      Target target = RelayTarget(relay, addr);  // named: no temporaries into a coroutine (GCC 12)
      last = co_await Session(target, errand);
      if (last.code == 0) break;
    }
    co_return last;
  }

  void RecordEvent(const std::string& type, boost::json::object data) {
    (void)store.AppendEvents({store::Event{0, NowMicros(), type, "", "", boost::json::serialize(data)}});
  }

  awaitable<void> Connect(std::string domain) {
    auto self = shared_from_this();
    ServerReply failure;
    std::string failed_at;  // the host (or relay) that gave `failure`, for the events
    bool connected = false, eligible_for_backup = !config.delivery.direct;
    if (config.delivery.direct) {
      // Named callables, moved into Await: GCC 12 destroys lambda temporaries inside a co_await
      // expression twice.
      auto lookup_mx = [this, domain](auto done) {
        resolver.ResolveMx(domain, [done](dns::MxAnswer a) { done(std::move(a)); });
      };
      dns::MxAnswer mx = co_await Await<void(dns::MxAnswer)>(std::move(lookup_mx));
      dns::Route route = dns::PlanRoute(domain, mx, rng);
      switch (route.kind) {
        case dns::RouteKind::kNxDomain: failure = Synthetic(550, "5.1.2", route.detail); break;
        case dns::RouteKind::kNullMx: failure = Synthetic(556, "5.1.10", route.detail); break;
        case dns::RouteKind::kTempFail: failure = Synthetic(451, "4.4.3", route.detail); break;
        default: break;
      }
      // Fail-over only when the MX hosts cannot be reached, never when one of them answered.
      eligible_for_backup = route.kind == dns::RouteKind::kTempFail;
      bool answered = false;
      for (const auto& host : route.hosts) {
        if (stopping) break;
        dns::AddressAnswer addrs = co_await Addresses(host);
        if (addrs.rcode != dns::Rcode::kOk) {
          failure = Synthetic(451, "4.4.4", "cannot resolve MX host " + host + ": " +
                                                (addrs.rcode == dns::Rcode::kTempFail ? addrs.error : "no address records"));
          continue;
        }
        for (const auto& addr : addrs.addresses) {
          Errand errand{Errand::Kind::kDeliver, domain, std::nullopt, {}};
          // Recorded when the route is usable, not when the connection ends (it may stay open a while).
          errand.on_ready = [this, domain] {
            if (failed_over.erase(domain)) {
              spdlog::warn("fail-back: {} is delivered directly again", domain);
              RecordEvent("failback", {{"domain", domain}});
            }
          };
          Target target = MxTarget(domain, host, addr);  // named: no temporaries into a coroutine (GCC 12)
          auto r = co_await Session(target, errand);
          failed_at = target.label;
          if (r.code == 0) {
            connected = true;
            break;
          }
          if (!r.lines.empty() && r.lines.front().find("cannot connect") == std::string::npos &&
              r.lines.front().find("timed out") == std::string::npos)
            answered = true;  // it talked SMTP (greeting or EHLO refused): not a reachability problem
          failure = r;
        }
        if (connected) break;
      }
      if (!connected && !route.hosts.empty() && !answered) eligible_for_backup = true;
    }
    if (!connected && eligible_for_backup && !stopping) {
      // Healthy relays first, in configured order; unhealthy ones only as a last resort.
      std::vector<size_t> order;
      for (size_t i = 0; i < relays_healthy.size(); ++i)
        if (relays_healthy[i]) order.push_back(i);
      for (size_t i = 0; i < relays_healthy.size(); ++i)
        if (!relays_healthy[i]) order.push_back(i);
      for (size_t i : order) {
        const Relay& relay = config.delivery.backup_relays[i];
        Errand errand{Errand::Kind::kDeliver, domain, std::nullopt, {}};
        errand.on_ready = [this, domain, &relay, &failure] {
          if (config.delivery.direct && failed_over.insert(domain).second) {
            spdlog::warn("fail-over: {} goes through backup relay {} ({})", domain, relay.url, failure.ToString());
            RecordEvent("failover", {{"domain", domain}, {"relay", relay.url}, {"reason", failure.ToString()}});
          }
        };
        auto r = co_await UseRelay(relay, errand);
        if (r.code == 0) {
          connected = true;
          break;
        }
        failure = Synthetic(451, "4.4.1", "direct delivery failed (" + failure.ToString() + ") and backup relay " +
                                              relay.url + " failed: " + r.ToString());
        failed_at = relay.url;
      }
    }
    if (!connected) {
      if (failure.code == 0) failure = Synthetic(451, "4.4.1", "no mail server of " + domain + " could be reached");
      // Every ready job of this domain shares the route's fate.
      while (auto job = TakeJob(domain)) FailAll(*job, failure, failed_at);
    }
    domains[domain].active--;
    Pump();
  }

  // Connects to one target and carries out the errand. Returns code 0 when it connected and talked
  // SMTP; otherwise why this target could not be used (the caller tries the next one).
  awaitable<ServerReply> Session(const Target& t, Errand& errand) {
    auto ex = co_await asio::this_coro::executor;
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(t.addr, ec);
    if (ec) co_return Synthetic(451, "4.4.0", "bad address " + t.addr);
    tcp::socket sock(ex);
    net::Watchdog dog(ex);
    dog.Watch(&sock);
    dog.ExpireAfter(std::chrono::seconds(config.delivery.connect_timeout));
    auto [cec] = co_await sock.async_connect(tcp::endpoint(ip, t.port), kUseAwaitable);
    if (cec) {
      std::string why = dog.timed_out() ? "connection timed out" : cec.message();
      spdlog::info("delivery: {} port {}: {}", t.label, t.port, why);
      co_return Synthetic(451, "4.4.1", "cannot connect to " + t.label + " port " + std::to_string(t.port) + ": " + why);
    }
    ClientSession cs(t.client);
    if (t.client.implicit_tls) {
      ssl::stream<tcp::socket> tls(std::move(sock), tls_ctx);
      dog.Watch(&tls.next_layer());
      PrepareTls(tls, t);
      dog.ExpireAfter(std::chrono::seconds(config.delivery.command_timeout));
      auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, kUseAwaitable);
      if (hec) co_return Synthetic(451, "4.7.5", "TLS handshake with " + t.label + " failed: " + hec.message());
      std::string info = TlsInfo(tls);
      co_return co_await Converse(tls, cs, dog, t, errand, info);
    }
    // Greeting, EHLO and perhaps STARTTLS in plaintext. (co_await is kept out of || and &&:
    // GCC 12 miscompiles it there.)
    bool talked = co_await Exchange(sock, cs, dog);
    if (!talked || cs.status() == ClientSession::Status::kClosed) {
      co_await WriteRest(sock, cs, dog);
      co_return cs.failure().code ? cs.failure() : Synthetic(451, "4.4.2", "connection to " + t.label + " failed");
    }
    if (cs.status() == ClientSession::Status::kNeedTls) {
      ssl::stream<tcp::socket> tls(std::move(sock), tls_ctx);
      dog.Watch(&tls.next_layer());
      PrepareTls(tls, t);
      dog.ExpireAfter(std::chrono::seconds(config.delivery.command_timeout));
      auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, kUseAwaitable);
      if (hec) {
        spdlog::info("delivery: TLS with {} failed: {}", t.label, hec.message());
        co_return Synthetic(451, "4.7.5", "TLS handshake with " + t.label + " failed: " + hec.message());
      }
      cs.OnTlsStarted();
      std::string info = TlsInfo(tls);
      co_return co_await Converse(tls, cs, dog, t, errand, info);
    }
    std::string no_tls;
    co_return co_await Converse(sock, cs, dog, t, errand, no_tls);
  }

  static void PrepareTls(ssl::stream<tcp::socket>& tls, const Target& t) {
    SSL_set_tlsext_host_name(tls.native_handle(), t.host.c_str());  // SNI
    if (t.verify) {
      tls.set_verify_mode(ssl::verify_peer);
      tls.set_verify_callback(ssl::host_name_verification(t.host));
    }
  }

  static std::string TlsInfo(ssl::stream<tcp::socket>& tls) {
    return std::string(SSL_get_version(tls.native_handle())) + " " + SSL_get_cipher_name(tls.native_handle());
  }

  // From (possibly TLS) EHLO to QUIT.
  template <typename Stream>
  awaitable<ServerReply> Converse(Stream& s, ClientSession& cs, net::Watchdog& dog, const Target& t, Errand& errand,
                                  const std::string& tls) {
    if (cs.status() != ClientSession::Status::kReady) {
      bool talked = co_await Exchange(s, cs, dog);
      if (!talked || cs.status() != ClientSession::Status::kReady) {
        co_await WriteRest(s, cs, dog);
        co_return cs.failure().code ? cs.failure() : Synthetic(451, "4.4.2", "connection to " + t.label + " failed");
      }
    }
    if (errand.kind == Errand::Kind::kDeliver) {
      if (errand.on_ready) errand.on_ready();
      co_await Deliver(s, cs, dog, errand.domain, t.label, tls);
      co_return ServerReply{};
    }
    if (errand.probe) {
      cs.StartMessage(*errand.probe);
      co_await Exchange(s, cs, dog);
      if (cs.status() != ClientSession::Status::kMessageDone) cs.OnConnectionLost("connection to " + t.label + " lost");
      errand.probe_results = cs.TakeResults();
    }
    cs.Quit();
    co_await WriteRest(s, cs, dog);
    co_return ServerReply{};
  }

  // ---- backup relays: health checks and drills --------------------------------------------------

  struct DrillOutcome {
    std::string relay;
    bool ok = false;
    std::string detail;
  };

  // One probe through one relay: connect, TLS, AUTH and, with a probe recipient, a real message.
  awaitable<DrillOutcome> Probe(size_t i, bool send_message) {
    const Relay& relay = config.delivery.backup_relays[i];
    Errand errand{Errand::Kind::kProbe, "", std::nullopt, {}};
    std::string probe_data;
    if (send_message && !config.failover.probe_recipient.empty()) {
      const int64_t now = NowMicros();
      probe_data = "From: <" + config.failover.probe_sender + ">\r\nTo: <" + config.failover.probe_recipient +
                   ">\r\nSubject: kurier fail-over drill via " + relay.url + "\r\nDate: " + FormatRfc5322Date(now) +
                   "\r\nMessage-ID: <drill." + NewQueueId() + "@" + config.hostname +
                   ">\r\nAuto-Submitted: auto-generated\r\n\r\nThis message tests the backup relay " + relay.url +
                   ". It needs no action.\r\n";
      smtp::proto::OutboundMessage m;
      m.mail_from = config.failover.probe_sender;
      m.recipients = {config.failover.probe_recipient};
      m.data = probe_data;
      errand.probe = m;
    }
    ServerReply r = co_await UseRelay(relay, errand);
    DrillOutcome out{relay.url, r.code == 0, ""};
    if (!out.ok) {
      out.detail = r.ToString();
    } else if (errand.probe) {
      const auto& res = errand.probe_results.at(0);
      out.ok = res.outcome == Outcome::kDelivered;
      out.detail = (out.ok ? "probe accepted: " : "probe refused: ") + res.reply.ToString();
    } else {
      out.detail = "connected, greeted" + std::string(relay.username.empty() ? "" : ", authenticated") +
                   " (set failover.probe_recipient to also send a probe message)";
    }
    co_return out;
  }

  awaitable<void> HealthLoop() {
    auto self = shared_from_this();
    asio::steady_timer timer(strand);
    while (!stopping) {
      for (size_t i = 0; i < config.delivery.backup_relays.size() && !stopping; ++i) {
        DrillOutcome o = co_await Probe(i, false);
        if (o.ok != relays_healthy[i]) {
          relays_healthy[i] = o.ok;
          spdlog::warn("backup relay {} is {}: {}", o.relay, o.ok ? "healthy again" : "unhealthy", o.detail);
          RecordEvent("backup_health", {{"relay", o.relay}, {"healthy", o.ok}, {"detail", o.detail}});
        }
      }
      timer.expires_after(std::chrono::seconds(config.delivery.backup_check_interval));
      co_await timer.async_wait(kUseAwaitable);
    }
  }

  awaitable<std::vector<DrillOutcome>> Drill() {
    std::vector<DrillOutcome> out;
    for (size_t i = 0; i < config.delivery.backup_relays.size(); ++i) {
      DrillOutcome o = co_await Probe(i, true);
      RecordEvent(o.ok ? "failover_test" : "failover_test_failed", {{"relay", o.relay}, {"ok", o.ok}, {"detail", o.detail}});
      if (!o.ok) spdlog::error("fail-over drill: backup relay {} FAILED: {}", o.relay, o.detail);
      out.push_back(std::move(o));
    }
    co_return out;
  }

  awaitable<void> DrillLoop() {
    auto self = shared_from_this();
    asio::steady_timer timer(strand);
    while (!stopping) {
      timer.expires_after(std::chrono::seconds(config.failover.test_interval));
      (void)co_await timer.async_wait(kUseAwaitable);
      if (stopping) break;
      (void)co_await Drill();
    }
  }

  const std::vector<SigningKey>* KeysFor(const std::string& domain) {
    const int64_t now = NowMicros();
    if (now - dkim_loaded_at > 60'000'000) {
      dkim_loaded_at = now;
      dkim_keys.clear();
      auto keys = store.ListDkimKeys("");
      if (!keys) spdlog::error("dkim: cannot list keys: {}", keys.error().message);
      for (const auto& k : keys ? keys.value() : std::vector<store::DkimKey>{}) {
        if (k.state != "active") continue;  // pending keys wait for DNS; retiring ones stopped signing
        auto key = dkim::PrivateKey::FromPemFile(k.key_path);
        if (!key) {
          spdlog::error("dkim: key of {} unusable ({}): mail from {} goes unsigned by it", k.domain,
                        key.error().message, k.domain);
          continue;
        }
        dkim_keys[k.domain].push_back(SigningKey{k.selector, std::move(key.value())});
      }
    }
    auto it = dkim_keys.find(domain);
    return it == dkim_keys.end() ? nullptr : &it->second;
  }

  // The envelope sender used on the wire: for mail from a sending domain (one with DKIM keys), a signed
  // VERP address at its return-path domain, so that later bounces and complaints name the message;
  // otherwise the sender as given. The stored sender stays as it was (DSNs kurier writes go there).
  std::string ReturnPath(const spool::SpoolMessage& m) {
    if (!config.domains.verp || m.mail_from.empty() || secret.empty()) return m.mail_from;
    auto at = m.mail_from.rfind('@');
    if (at == std::string::npos) return m.mail_from;
    std::string domain = ToLowerAscii(m.mail_from.substr(at + 1));
    if (!KeysFor(domain)) return m.mail_from;
    return bounce::VerpLocalPart(secret, m.id, config.domains.return_path_prefix) + "@" + config.domains.return_path_prefix +
           "." + domain;
  }

  // DKIM signatures (RSA and Ed25519, RFC 6376 / RFC 8463) for the From: domain, prepended; empty
  // when the domain has no keys. `selectors` says which keys signed.
  std::string SignatureHeaders(std::string_view data, std::vector<std::string>& selectors) {
    std::string domain = FromDomain(data);
    const auto* keys = domain.empty() ? nullptr : KeysFor(domain);
    if (!keys) return "";
    dkim::SignOptions o;
    o.domain = domain;
    o.timestamp = NowMicros() / 1000000;
    o.headers = dkim::DefaultSignedHeaders(data);
    std::string out;
    for (const auto& k : *keys) {  // each new header goes on top; verifiers find all of them
      o.selector = k.selector;
      auto sig = dkim::Sign(data, k.key, o);
      if (!sig) {
        spdlog::error("dkim: signing for {} with {} failed: {}", domain, k.selector, sig.error().message);
        continue;
      }
      out = sig.value() + out;
      selectors.push_back(k.selector);
    }
    return out;
  }

  // The ARC set (RFC 8617) for mail relayed on behalf of others: received on the relay listener (no SMTP
  // credential) and not a DSN kurier wrote itself (null sender, HELO and address of its own). Empty when
  // sealing is off or the message carries an ARC chain already (kurier cannot validate it; arc.hpp).
  std::string ArcHeaders(const spool::SpoolMessage& m, std::string_view data) {
    if (!arc_key || !m.credential.empty()) return "";
    if (m.mail_from.empty() && m.helo == config.hostname && m.client_ip == "127.0.0.1") return "";
    dkim::ArcSealOptions o;
    o.domain = config.arc.domain;
    o.selector = config.arc.selector;
    o.authserv_id = config.arc.authserv_id;
    o.timestamp = NowMicros() / 1000000;
    // RFC 8601 pvalue: an IPv6 address is not a token, so it is quoted.
    const bool token = m.client_ip.find(':') == std::string::npos;
    o.results = "arc=none smtp.remote-ip=" + (token ? m.client_ip : "\"" + m.client_ip + "\"");
    auto set = dkim::Seal(data, *arc_key, o);
    if (!set) {
      spdlog::warn("arc: {} goes without an ARC seal: {}", m.id, set.error().message);
      return "";
    }
    return set->Headers();
  }

  template <typename Stream>
  awaitable<void> Deliver(Stream& s, ClientSession& cs, net::Watchdog& dog, const std::string& domain,
                          const std::string& mx, const std::string& tls) {
    for (int sent = 0, most = MessagesPerConnection(domain); sent < most && !stopping; ++sent) {
      if (cs.status() != ClientSession::Status::kReady) break;
      auto job = TakeJob(domain);
      if (!job && config.delivery.connection_idle_ms > 0 && !suspended.count(domain)) {
        // Nothing more for now: stay open a little for the next message (a steady trickle, one client
        // sending one message at a time, then pays for one connection instead of one per message).
        asio::steady_timer idle(strand);
        idle.expires_after(std::chrono::milliseconds(config.delivery.connection_idle_ms));
        domains[domain].idle.push_back(&idle);
        boost::system::error_code ignored;
        co_await idle.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        auto& waiting = domains[domain].idle;
        waiting.erase(std::remove(waiting.begin(), waiting.end(), &idle), waiting.end());
        if (stopping || !Quiet(s.lowest_layer().native_handle())) break;  // a closed or closing peer: a new connection takes the job
        job = TakeJob(domain);
      }
      if (!job) break;
      std::shared_ptr<const spool::SpoolMessage> message = job->message;
      if (!message) {
        auto msg = spool.Get(job->message_id);
        if (!msg || !*msg) {  // deleted meanwhile (or unreadable): nothing to deliver
          if (!msg) spdlog::error("delivery: cannot read {}: {}", job->message_id, msg.error().message);
          continue;
        }
        message = std::make_shared<const spool::SpoolMessage>(std::move(**msg));
      }
      if (!DropSuppressed(*job, *message)) continue;
      Transformed changed;
      smtp::proto::OutboundMessage om;
      std::vector<std::string> selectors;
      std::string signed_data;
      // Preparing a message (tracking, DKIM, ARC) must not take the connection and its other jobs down
      // with it: a message whose preparation throws is deferred (retried, logged) and the next one goes.
      try {
        MaybeThrowForTest("preparing a message for delivery", message->data);
        if (transform) changed = transform(*message, job->rcpts.front().idx);
        if (changed.per_recipient && job->rcpts.size() > 1) {
          // This copy's links name its first recipient: the others wait for copies of their own, next
          // in line for this connection.
          Job rest = *job;
          rest.rcpts.erase(rest.rcpts.begin());
          job->rcpts.resize(1);
          domains[domain].ready.push_front(std::move(rest));
        }
        om.mail_from = ReturnPath(*message);
        for (const auto& r : job->rcpts) om.recipients.push_back(r.address);
        om.smtputf8 = NeedsSmtpUtf8(*message);
        om.eight_bit = message->body_type == "8BITMIME" || HasEightBit(message->data);
        const std::string& data = changed.data.empty() ? message->data : changed.data;
        signed_data = SignatureHeaders(data, selectors);
        if (!signed_data.empty()) signed_data += data;
        if (std::string arc = ArcHeaders(*message, signed_data.empty() ? data : signed_data); !arc.empty())
          signed_data = arc + (signed_data.empty() ? data : signed_data);
        om.data = signed_data.empty() ? std::string_view(data) : std::string_view(signed_data);
      } catch (const std::exception& x) {
        spdlog::error("delivery: preparing {} failed with an internal error ({}); it is deferred and retried",
                      job->message_id, x.what());
        FailAll(*job, Synthetic(451, "4.3.0", std::string("internal error while preparing the message (") + x.what() +
                                                  "); it is retried"),
                "-");
        continue;
      }
      cs.StartMessage(om);
      co_await Exchange(s, cs, dog);
      if (cs.status() != ClientSession::Status::kMessageDone) cs.OnConnectionLost("connection to " + mx + " lost");
      Record(*job, cs.TakeResults(), mx, tls, message.get(), selectors);
      if (cs.status() == ClientSession::Status::kHandshake) co_await Exchange(s, cs, dog);  // RSET
    }
    cs.Quit();
    co_await WriteRest(s, cs, dog);
  }

  // Whether an idle connection is still usable: the server has neither closed it nor said anything
  // (a server says only 421 before closing when nobody asked).
  static bool Quiet(int fd) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  // Writes what the session has to say and feeds it the server's replies until it waits for us.
  template <typename Stream>
  awaitable<bool> Exchange(Stream& s, ClientSession& cs, net::Watchdog& dog) {
    std::array<char, 8192> buf;
    for (;;) {
      if (cs.HasOutput()) {
        std::string out = cs.TakeOutput();
        dog.ExpireAfter(std::chrono::seconds(config.delivery.command_timeout));
        auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), kUseAwaitable);
        if (ec) {
          cs.OnConnectionLost(dog.timed_out() ? "timeout while sending" : "connection lost while sending: " + ec.message());
          co_return false;
        }
      }
      auto st = cs.status();
      if (st != ClientSession::Status::kHandshake && st != ClientSession::Status::kSending) co_return true;
      int wait = cs.phase() == ClientSession::Phase::kDataTermination ? config.delivery.data_timeout
                                                                        : config.delivery.command_timeout;
      dog.ExpireAfter(std::chrono::seconds(wait));
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kUseAwaitable);
      if (ec) {
        cs.OnConnectionLost(dog.timed_out() ? "timeout waiting for the server's reply" : "connection lost: " + ec.message());
        co_return false;
      }
      cs.Feed(std::string_view(buf.data(), n));
    }
  }

  template <typename Stream>
  awaitable<void> WriteRest(Stream& s, ClientSession& cs, net::Watchdog& dog) {
    if (!cs.HasOutput()) co_return;
    std::string out = cs.TakeOutput();
    dog.ExpireAfter(std::chrono::seconds(10));
    (void)co_await asio::async_write(s, asio::buffer(out), kUseAwaitable);
  }
};

DeliveryManager::DeliveryManager(const Config& config, store::Store& store, spool::Spool& spool,
                                 dns::Resolver& resolver, asio::io_context& ioc)
    : impl_(std::make_shared<Impl>(config, store, spool, resolver, ioc)) {}

DeliveryManager::~DeliveryManager() = default;

Result<void> DeliveryManager::Start() {
  if (impl_->config.domains.verp) {
    auto secret = LoadOrCreateSecret(impl_->config.secret_file);
    if (!secret) return MakeError(ErrorCode::kConfig, "server.secret_file: " + secret.error().message);
    impl_->secret = std::move(secret.value());
  }
  if (const auto& arc = impl_->config.arc; arc.enabled) {
    auto key = dkim::PrivateKey::FromPemFile(arc.key_file.string());
    if (key && key->algorithm() != dkim::Algorithm::kRsaSha256)
      key = MakeError(ErrorCode::kConfig, arc.key_file.string() + ": an ARC key must be RSA (ARC verifiers accept rsa-sha256 only)");
    if (!key)
      return MakeError(ErrorCode::kConfig, "arc.key_file: " + key.error().message + "; create it with 'kurier dkim keygen --algorithm rsa --out " +
                                               arc.key_file.string() + "' and publish the record it prints");
    impl_->arc_key = std::move(key.value());
  }
  auto pending = impl_->spool.PendingRecipients();
  if (!pending) return pending.error();
  // Group by (message, domain): one transaction each.
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, Job>> jobs;
  for (const auto& r : pending.value()) {
    auto& [due, job] = jobs[{r.message_id, r.domain}];
    job.message_id = r.message_id;
    job.domain = r.domain;
    job.received_at = r.received_at;
    job.rcpts.push_back(Job::Rcpt{r.idx, r.address, r.attempts});
    due = std::max(due, r.next_attempt);
  }
  std::vector<std::pair<int64_t, Job>> list;
  for (auto& [k, v] : jobs) list.push_back(std::move(v));
  spdlog::info("queue: {} recipient(s) of {} delivery job(s) rebuilt from the spool", pending->size(), list.size());
  for (const auto& [d, p] : impl_->config.delivery.domains)
    spdlog::info("delivery policy for {}: {} connection(s), {} message(s) per connection, {} per minute, TLS {}{}", d,
                 impl_->MaxConnections(d), impl_->MessagesPerConnection(d),
                 p.rate_per_minute && *p.rate_per_minute ? std::to_string(*p.rate_per_minute) : std::string("unlimited"),
                 impl_->TlsModeFor(d), impl_->VerifyFor(d) ? " (verified)" : "");
  if (auto s = impl_->spool.SuspendedDomains(); s) {
    for (auto& d : s.value()) spdlog::warn("delivery to {} is suspended ('kurier queue resume {}' resumes it)", d, d);
    asio::dispatch(impl_->strand, [self = impl_, list = s.value()] { self->suspended.insert(list.begin(), list.end()); });
  }
  impl_->Enqueue(std::move(list));
  if (!impl_->config.delivery.backup_relays.empty() && impl_->config.delivery.backup_check_interval > 0)
    asio::co_spawn(impl_->strand, impl_->HealthLoop(), asio::detached);
  if (!impl_->config.delivery.backup_relays.empty() && impl_->config.failover.test_interval > 0)
    asio::co_spawn(impl_->strand, impl_->DrillLoop(), asio::detached);
  std::weak_ptr<Impl> weak = impl_;
  impl_->spool.SetCommitListener([weak](const std::vector<const spool::SpoolMessage*>& committed) {
    auto self = weak.lock();
    if (!self) return;
    std::vector<std::pair<int64_t, Job>> list;
    for (const auto* m : committed) {
      auto copy = std::make_shared<const spool::SpoolMessage>(*m);
      std::map<std::string, Job> by_domain;
      for (size_t i = 0; i < m->recipients.size(); ++i) {
        const std::string& a = m->recipients[i];
        std::string d = spool::RecipientDomain(a);
        Job& j = by_domain[d];
        j.message = copy;
        j.message_id = m->id;
        j.domain = d;
        j.received_at = m->received_at;
        j.rcpts.push_back(Job::Rcpt{static_cast<int>(i), a, 0});
      }
      for (auto& [d, j] : by_domain) list.emplace_back(std::max(m->received_at, m->not_before), std::move(j));
    }
    self->Enqueue(std::move(list));
  });
  return {};
}

void DeliveryManager::Drill(std::function<void(std::vector<DrillResult>)> done) {
  asio::co_spawn(
      impl_->strand,
      [self = impl_, done = std::move(done)]() -> awaitable<void> {
        auto outcomes = co_await self->Drill();
        std::vector<DrillResult> results;
        for (auto& o : outcomes) results.push_back(DrillResult{o.relay, o.ok, o.detail});
        done(std::move(results));
      },
      asio::detached);
}

void DeliveryManager::Retry(const std::string& id, std::function<void(bool, std::string)> done) {
  asio::dispatch(impl_->strand, [self = impl_, id, done = std::move(done)] {
    int moved = 0;
    const int64_t now = NowMicros();
    std::vector<Job> jobs;
    for (auto it = self->scheduled.begin(); it != self->scheduled.end();) {
      if (it->second.message_id == id) {
        jobs.push_back(std::move(it->second));
        it = self->scheduled.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& j : jobs) {
      moved += static_cast<int>(j.rcpts.size());
      self->scheduled.emplace(now, std::move(j));
    }
    self->Pump();
    if (moved == 0) return done(false, "no deferred recipient of " + id + " is waiting (see 'kurier queue show " + id + "')");
    done(true, std::to_string(moved) + " recipient(s) of " + id + " will be tried now");
  });
}

void DeliveryManager::Delete(const std::string& id, std::function<void(bool, std::string)> done) {
  asio::dispatch(impl_->strand, [self = impl_, id, done = std::move(done)] {
    auto msg = self->spool.Get(id);
    if (!msg || !*msg) return done(false, "no message with id " + id + " in the queue");
    std::erase_if(self->scheduled, [&](const auto& kv) { return kv.second.message_id == id; });
    for (auto& [name, d] : self->domains)
      std::erase_if(d.ready, [&](const Job& j) { return j.message_id == id; });
    boost::json::array rcpts;
    for (const auto& st : (*msg)->states)
      if (st.status == "queued") rcpts.emplace_back(st.address);
    self->spool.Delete(id, {store::Event{0, NowMicros(), "deleted", id, (*msg)->account,
                                         boost::json::serialize(boost::json::object{{"recipients", rcpts}})}});
    done(true, "message " + id + " deleted; its " + std::to_string(rcpts.size()) + " undelivered recipient(s) will not be tried");
  });
}

void DeliveryManager::Suspend(const std::string& domain, bool on, std::function<void(bool, std::string)> done) {
  asio::dispatch(impl_->strand, [self = impl_, domain, on, done = std::move(done)] {
    bool changed = on ? self->suspended.insert(domain).second : self->suspended.erase(domain) > 0;
    self->spool.SetSuspended(domain, on);
    (void)self->store.AppendEvents({store::Event{0, NowMicros(), on ? "suspended" : "resumed", "", "",
                                                 boost::json::serialize(boost::json::object{{"domain", domain}})}});
    self->Pump();
    done(true, "delivery to " + domain + (on ? " suspended" : " resumed") + (changed ? "" : " (it already was)"));
  });
}

void DeliveryManager::SetMessageTransform(std::function<Transformed(const spool::SpoolMessage&, int)> transform) {
  asio::dispatch(impl_->strand, [self = impl_, transform = std::move(transform)]() mutable {
    self->transform = std::move(transform);
  });
}

void DeliveryManager::Stop() {
  impl_->spool.SetCommitListener(nullptr);
  asio::dispatch(impl_->strand, [self = impl_] {
    self->stopping = true;
    self->wake.cancel();
    for (auto& [name, d] : self->domains) {  // idle connections say QUIT now
      for (auto* t : d.idle) t->cancel();
      d.idle.clear();
    }
  });
}

}  // namespace kurier::delivery
