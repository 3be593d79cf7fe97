// routing.cpp - routes and fail-over (moved out of delivery_manager.cpp): MX hosts and their addresses
// in turn, backup relays, the relays' health loop and the fail-over drill.
// STANDARDS: RFC 5321 (5.1 MX selection, implicit MX), RFC 7505 (null MX), RFC 7435 (opportunistic
// TLS), RFC 8314 (implicit TLS to relays), RFC 4954 (AUTH to relays).
#include "delivery/routing.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <optional>

#include "common/ids.hpp"
#include "smtp/proto/replies.hpp"

namespace kurier::delivery {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using smtp::client::Connection;
using smtp::client::Target;
using smtp::proto::LocalReply;
using smtp::proto::Outcome;
using smtp::proto::ReplyId;
using smtp::proto::ServerReply;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

namespace {
// A callback-style look-up as an awaitable whose completion comes back on the strand.
template <typename Sig, typename Init>
auto Await(Routing::Strand strand, Init init) {
  return asio::async_initiate<decltype(asio::use_awaitable), Sig>(
      [strand, init = std::move(init)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        init([h, ex = strand](auto result) {
          asio::dispatch(ex, [h, result = std::move(result)]() mutable { std::move(*h)(std::move(result)); });
        });
      },
      asio::use_awaitable);
}

std::string Serialize(boost::json::object data) { return boost::json::serialize(data); }
}  // namespace

Routing::Routing(const Config& config, Strand strand, Dns dns, EventSink events)
    : config_(config), strand_(std::move(strand)), dns_(std::move(dns)), events_(std::move(events)),
      tls_ctx_(ssl::context::tls_client), rng_(std::random_device{}()),
      relays_healthy_(config.delivery.backup_relays.size(), true) {
  // Not tls.ciphers: STARTTLS to other mail servers is opportunistic (RFC 7435), so any suite OpenSSL
  // accepts beats the plaintext a failed handshake would fall back to; the listeners and the webhook
  // client are the ones held to the policy (docs/security.md).
  tls_ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_compression);
  // Verification is chosen per connection (delivery.verify_certificates, per-domain overrides).
  boost::system::error_code ec;
  tls_ctx_.set_default_verify_paths(ec);
  tls_ctx_.set_verify_mode(ssl::verify_none);
}

std::string Routing::TlsModeFor(const std::string& d) const {
  auto it = config_.delivery.domains.find(d);
  const DomainPolicy* p = it == config_.delivery.domains.end() ? nullptr : &it->second;
  return p && p->tls ? *p->tls : config_.delivery.tls;
}

bool Routing::VerifyFor(const std::string& d) const {
  auto it = config_.delivery.domains.find(d);
  const DomainPolicy* p = it == config_.delivery.domains.end() ? nullptr : &it->second;
  return p && p->verify_certificates ? *p->verify_certificates : config_.delivery.verify_certificates;
}

Target Routing::MxTarget(const std::string& domain, const std::string& host, const std::string& addr) const {
  Target t;
  t.host = host;
  t.addr = addr;
  t.port = config_.delivery.port;
  t.client.helo_name = config_.delivery.helo_name;
  const std::string mode = TlsModeFor(domain);
  t.client.tls = mode == "none"       ? smtp::proto::TlsMode::kNone
                 : mode == "required" ? smtp::proto::TlsMode::kRequired
                                      : smtp::proto::TlsMode::kOpportunistic;
  t.verify = VerifyFor(domain);
  t.label = host + " [" + addr + "]";
  return t;
}

Target Routing::RelayTarget(const Relay& r, const std::string& addr) const {
  Target t;
  t.host = r.host;
  t.addr = addr;
  t.port = r.port;
  t.client.helo_name = config_.delivery.helo_name;
  t.client.tls = r.tls == Relay::Tls::kOpportunistic ? smtp::proto::TlsMode::kOpportunistic : smtp::proto::TlsMode::kRequired;
  t.client.implicit_tls = r.tls == Relay::Tls::kImplicit;
  t.client.auth_username = r.username;
  t.client.auth_password = r.password;
  t.verify = config_.delivery.verify_certificates;
  t.label = r.url;
  return t;
}

std::vector<size_t> Routing::RelayOrder() const {
  // Healthy relays first, in configured order; unhealthy ones only as a last resort.
  std::vector<size_t> order;
  for (size_t i = 0; i < relays_healthy_.size(); ++i)
    if (relays_healthy_[i]) order.push_back(i);
  for (size_t i = 0; i < relays_healthy_.size(); ++i)
    if (!relays_healthy_[i]) order.push_back(i);
  return order;
}

awaitable<dns::AddressAnswer> Routing::Addresses(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (!ec) co_return dns::AddressAnswer{dns::Rcode::kOk, {host}, ""};  // an address literal
  auto lookup = [this, host](auto done) {
    dns_.addresses(host, [done](dns::AddressAnswer a) { done(std::move(a)); });
  };
  co_return co_await Await<void(dns::AddressAnswer)>(strand_, std::move(lookup));
}

awaitable<dns::MxAnswer> Routing::Mx(const std::string& domain) {
  // Named callables, moved into Await: GCC 12 destroys lambda temporaries inside a co_await
  // expression twice.
  auto lookup_mx = [this, domain](auto done) {
    dns_.mx(domain, [done](dns::MxAnswer a) { done(std::move(a)); });
  };
  co_return co_await Await<void(dns::MxAnswer)>(strand_, std::move(lookup_mx));
}

// Connects to one target; code 0 when it talked SMTP and is ready (then `out.connection` holds it),
// otherwise why this target could not be used (the caller tries the next one); `unreachable` says
// the server was not reached or stayed silent (greeting timeout), as opposed to one that refused.
awaitable<ServerReply> Routing::TryTarget(const Target& t, Opened& out, bool& unreachable) {
  const auto& d = config_.delivery;
  auto c = std::make_unique<Connection>(strand_, tls_ctx_, t,
                                        smtp::client::Timeouts{d.connect_timeout, d.command_timeout,
                                                               d.data_timeout, d.greeting_timeout});
  ServerReply r = co_await c->Open();
  unreachable = r.code != 0 && c->unreachable();
  if (r.code == 0) out.connection = std::move(c);
  co_return r;
}

// Tries each address of a relay; code 0 when one is ready.
awaitable<ServerReply> Routing::UseRelay(const Relay& relay, Opened& out) {
  dns::AddressAnswer addrs = co_await Addresses(relay.host);
  if (addrs.rcode != dns::Rcode::kOk)
    co_return LocalReply(ReplyId::kRelayUnresolved,
                         {relay.url, addrs.error.empty() ? std::string_view("no address records") : addrs.error});
  ServerReply last;
  for (const auto& addr : addrs.addresses) {
    Target target = RelayTarget(relay, addr);  // named: no temporaries into a coroutine (GCC 12)
    bool unreachable = false;
    last = co_await TryTarget(target, out, unreachable);
    if (last.code == 0) break;
  }
  co_return last;
}

void Routing::FailBack(const std::string& domain, const std::string& mx, const char* found_by) {
  if (!failed_over_.erase(domain)) return;
  ++failbacks_;  // relay connections carrying the domain stop after their current message
  spdlog::warn("fail-back: {} is delivered directly again ({} took a connection; found by {})", domain, mx, found_by);
  RecordEvent("failback", Serialize({{"domain", domain}, {"mx", mx}, {"found_by", found_by}}));
}

namespace {
// One route tried in an attempt: a host or relay (`target`), or the domain's own DNS answer.
struct Tried {
  std::string label;
  ServerReply reply;
  bool target = true;
};

// "LABEL: why; LABEL: why", each route once, in the order tried. kurier's own texts name their target
// already ("cannot connect to mx.a [192.0.2.1] port 25: ..."); a server's reply gets its label in front.
std::string Flat(const std::vector<Tried>& tried) {
  std::string out;
  for (const auto& t : tried) {
    if (!out.empty()) out += "; ";
    std::string text = t.reply.local ? t.reply.Text() : t.reply.ToString();
    if (text.find(t.label) == std::string::npos) out += t.label + ": ";
    out += text;
  }
  return out;
}

std::string Labels(const std::vector<Tried>& tried) {
  std::string out;
  for (const auto& t : tried)
    if (t.target) out += (out.empty() ? "" : ", ") + t.label;
  return out;
}

// Why a destination could not be used: one route's reply as it was; several routes flat, under the
// code of the one that decides (the last MX host's, or 451 4.4.1 once backup relays failed too).
ServerReply Failure(const std::vector<Tried>& tried, const std::string& domain, bool relays_failed) {
  if (tried.empty()) return LocalReply(ReplyId::kNoServerReachable, {domain});
  if (tried.size() == 1) return tried.front().reply;
  if (relays_failed) return LocalReply(ReplyId::kEveryRouteFailed, {Flat(tried)});
  ServerReply out;
  out.code = tried.back().reply.code;
  out.enhanced = tried.back().reply.enhanced;
  out.lines.push_back(out.enhanced.empty() ? Flat(tried) : out.enhanced + " " + Flat(tried));
  out.local = true;
  return out;
}
}  // namespace

awaitable<Routing::Opened> Routing::Open(const std::string& domain) {
  Opened out;
  std::vector<Tried> tried;  // every route that failed, for the reasons and the events' `mx`
  bool eligible_for_backup = !config_.delivery.direct, relays_failed = false;
  if (config_.delivery.direct) {
    dns::MxAnswer mx = co_await Mx(domain);
    dns::Route route = dns::PlanRoute(domain, mx, rng_);
    switch (route.kind) {
      case dns::RouteKind::kNxDomain: tried.push_back({domain, LocalReply(ReplyId::kRouteNxDomain, {route.detail}), false}); break;
      case dns::RouteKind::kNullMx: tried.push_back({domain, LocalReply(ReplyId::kRouteNullMx, {route.detail}), false}); break;
      case dns::RouteKind::kTempFail: tried.push_back({domain, LocalReply(ReplyId::kRouteTempFail, {route.detail}), false}); break;
      default: break;
    }
    // Fail-over only when the MX hosts cannot be reached (refused, timed out, silent), never when one
    // of them answered.
    eligible_for_backup = route.kind == dns::RouteKind::kTempFail;
    bool answered = false;
    for (const auto& host : route.hosts) {
      if (stopping_ || out.connection) break;
      dns::AddressAnswer addrs = co_await Addresses(host);
      if (addrs.rcode != dns::Rcode::kOk) {
        auto why = addrs.rcode == dns::Rcode::kTempFail ? std::string_view(addrs.error) : "no address records";
        tried.push_back({host, LocalReply(ReplyId::kMxHostUnresolved, {host, why})});
        continue;
      }
      for (const auto& addr : addrs.addresses) {
        Target target = MxTarget(domain, host, addr);  // named: no temporaries into a coroutine (GCC 12)
        bool unreachable = false;
        auto r = co_await TryTarget(target, out, unreachable);
        if (r.code == 0) {
          // Recorded when the route is usable, not when the connection ends (it may stay open a while).
          FailBack(domain, target.label, "delivery");
          break;
        }
        answered = answered || !unreachable;  // it talked SMTP (greeting or EHLO refused)
        tried.push_back({target.label, r});
      }
    }
    if (!out.connection && !route.hosts.empty() && !answered) eligible_for_backup = true;
  }
  if (!out.connection && eligible_for_backup && !stopping_) {
    for (size_t i : RelayOrder()) {
      const Relay& relay = config_.delivery.backup_relays[i];
      auto r = co_await UseRelay(relay, out);
      if (r.code == 0) {
        if (config_.delivery.direct) {
          out.via_backup = true;
          out.failbacks_seen = failbacks_;
          auto [it, first] = failed_over_.try_emplace(domain);
          it->second = std::chrono::steady_clock::now();
          if (first) {
            const std::string reason = Flat(tried);
            spdlog::warn("fail-over: {} goes through backup relay {} ({})", domain, relay.url, reason);
            RecordEvent("failover", Serialize({{"domain", domain}, {"relay", relay.url}, {"reason", reason}}));
          }
        }
        break;
      }
      tried.push_back({relay.url, r});
      relays_failed = true;
    }
  }
  if (!out.connection) {
    out.failure = Failure(tried, domain, relays_failed);
    out.failed_at = Labels(tried);
  }
  co_return std::move(out);
}

awaitable<void> Routing::CheckFailedOver() {
  constexpr auto kForgetAfter = std::chrono::hours(1);
  std::vector<std::string> domains;
  for (auto it = failed_over_.begin(); it != failed_over_.end();) {
    if (std::chrono::steady_clock::now() - it->second > kForgetAfter) {
      it = failed_over_.erase(it);  // no mail for it lately: its next message tries the MX first anyway
    } else {
      domains.push_back(it->first);
      ++it;
    }
  }
  for (const auto& domain : domains) {
    dns::MxAnswer mx = co_await Mx(domain);
    dns::Route route = dns::PlanRoute(domain, mx, rng_);
    bool back = false;
    for (size_t h = 0; h < route.hosts.size() && !back && !stopping_ && failed_over_.count(domain); ++h) {
      dns::AddressAnswer addrs = co_await Addresses(route.hosts[h]);
      for (size_t a = 0; a < addrs.addresses.size() && !back && !stopping_; ++a) {
        Target target = MxTarget(domain, route.hosts[h], addrs.addresses[a]);
        Opened probe;
        bool unreachable = false;
        ServerReply r = co_await TryTarget(target, probe, unreachable);
        if (r.code != 0) continue;
        co_await probe.connection->Quit();
        FailBack(domain, target.label, "health check");
        back = true;
      }
    }
  }
}

// One probe through one relay: connect, TLS, AUTH and, with a probe recipient, a real message.
awaitable<Routing::DrillOutcome> Routing::Probe(size_t i, bool send_message) {
  const Relay& relay = config_.delivery.backup_relays[i];
  std::optional<smtp::proto::OutboundMessage> probe;
  std::string probe_data;
  if (send_message && !config_.failover.probe_recipient.empty()) {
    const int64_t now = NowMicros();
    probe_data = "From: <" + config_.failover.probe_sender + ">\r\nTo: <" + config_.failover.probe_recipient +
                 ">\r\nSubject: kurier fail-over drill via " + relay.url + "\r\nDate: " + FormatRfc5322Date(now) +
                 "\r\nMessage-ID: <drill." + NewQueueId() + "@" + config_.hostname +
                 ">\r\nAuto-Submitted: auto-generated\r\n\r\nThis message tests the backup relay " + relay.url +
                 ". It needs no action.\r\n";
    smtp::proto::OutboundMessage m;
    m.mail_from = config_.failover.probe_sender;
    m.recipients = {config_.failover.probe_recipient};
    m.data = probe_data;
    probe = m;
  }
  Opened opened;
  ServerReply r = co_await UseRelay(relay, opened);
  std::vector<smtp::proto::RecipientResult> probe_results;
  if (opened.connection) {
    if (probe) probe_results = co_await opened.connection->Send(*probe);
    co_await opened.connection->Quit();
    opened.connection.reset();
  }
  DrillOutcome out{relay.url, r.code == 0, ""};
  if (!out.ok) {
    out.detail = r.ToString();
  } else if (probe) {
    const auto& res = probe_results.at(0);
    out.ok = res.outcome == Outcome::kDelivered;
    out.detail = (out.ok ? "probe accepted: " : "probe refused: ") + res.reply.ToString();
  } else {
    out.detail = "connected, greeted" + std::string(relay.username.empty() ? "" : ", authenticated") +
                 " (set failover.probe_recipient to also send a probe message)";
  }
  co_return out;
}

awaitable<void> Routing::HealthLoop() {
  asio::steady_timer timer(strand_);
  while (!stopping_) {
    for (size_t i = 0; i < config_.delivery.backup_relays.size() && !stopping_; ++i) {
      DrillOutcome o = co_await Probe(i, false);
      if (o.ok != relays_healthy_[i]) {
        relays_healthy_[i] = o.ok;
        spdlog::warn("backup relay {} is {}: {}", o.relay, o.ok ? "healthy again" : "unhealthy", o.detail);
        RecordEvent("backup_health", Serialize({{"relay", o.relay}, {"healthy", o.ok}, {"detail", o.detail}}));
      }
    }
    if (!stopping_ && config_.delivery.direct) co_await CheckFailedOver();
    timer.expires_after(std::chrono::seconds(config_.delivery.backup_check_interval));
    co_await timer.async_wait(kUseAwaitable);
  }
}

awaitable<std::vector<Routing::DrillOutcome>> Routing::Drill(std::function<void(const DrillOutcome&)> each) {
  std::vector<DrillOutcome> out;
  for (size_t i = 0; i < config_.delivery.backup_relays.size(); ++i) {
    DrillOutcome o = co_await Probe(i, true);
    RecordEvent(o.ok ? "failover_test" : "failover_test_failed",
                Serialize({{"relay", o.relay}, {"ok", o.ok}, {"detail", o.detail}}));
    if (!o.ok) spdlog::error("fail-over drill: backup relay {} FAILED: {}", o.relay, o.detail);
    if (each) each(o);
    out.push_back(std::move(o));
  }
  co_return out;
}

awaitable<void> Routing::DrillLoop() {
  asio::steady_timer timer(strand_);
  while (!stopping_) {
    timer.expires_after(std::chrono::seconds(config_.failover.test_interval));
    (void)co_await timer.async_wait(kUseAwaitable);
    if (stopping_) break;
    (void)co_await Drill();
  }
}

}  // namespace kurier::delivery
