// routing.hpp - where a destination's mail goes and fail-over: the MX hosts (RFC 5321 5.1, each host's
// addresses in turn), then the backup relays (delivery.backup_relays) when the MX hosts cannot be
// reached or delivery.direct is off; the relays' health loop and the fail-over drill. Open() returns a
// connection ready for mail (smtp::client::Connection) or why none could be had; it records failover /
// failback events when a route becomes usable. Runs on the delivery strand.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "dns/mx_route.hpp"
#include "dns/resolver.hpp"
#include "smtp/client/connection.hpp"

namespace kurier::delivery {

class Routing {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  /// DNS look-ups (dns::Resolver's in production); callbacks may come on any thread.
  struct Dns {
    std::function<void(const std::string& domain, std::function<void(dns::MxAnswer)>)> mx;
    std::function<void(const std::string& host, std::function<void(dns::AddressAnswer)>)> addresses;
  };
  /// Records an event without a message (type, JSON object text).
  using EventSink = std::function<void(const std::string& type, const std::string& data)>;

  Routing(const Config& config, Strand strand, Dns dns, EventSink events);

  struct Opened {
    std::unique_ptr<smtp::client::Connection> connection;  ///< null when no target could be used
    /// Why not (for every ready job of the domain): one target's reply as it was, or, when several were
    /// tried, each named once, flat ("every route failed: mx.a [192.0.2.1]: ...; smtp://relay:25: ...").
    smtp::proto::ServerReply failure;
    std::string failed_at;     ///< the hosts and relays tried, ", "-separated (the events' `mx`)
    bool via_backup = false;   ///< a backup relay carries a domain that failed over (delivery.direct)
    uint64_t failbacks_seen = 0;  ///< for StillFailedOver
  };
  /// MX hosts first (when delivery.direct), then backup relays, healthy ones first.
  boost::asio::awaitable<Opened> Open(const std::string& domain);
  /// Whether a relay connection opened for a failed-over domain (Opened::via_backup) still takes that
  /// domain's jobs: false once the direct route works again (found by the health check or by another
  /// connection), so the relay stops after its current message. An integer compare until a fail-back.
  bool StillFailedOver(const std::string& domain, uint64_t failbacks_seen) const {
    return failbacks_seen == failbacks_ || failed_over_.count(domain) > 0;
  }
  /// The health check of the direct route: each failed-over domain whose MX hosts take a connection
  /// again fails back (a `failback` event); one without a relay connection for an hour is forgotten
  /// unprobed. Run by HealthLoop after the relays' probes.
  boost::asio::awaitable<void> CheckFailedOver();

  struct DrillOutcome {
    std::string relay;
    bool ok = false;
    std::string detail;
  };
  /// One probe through relay `i`: connect, TLS, AUTH and, with a probe recipient, a real message.
  boost::asio::awaitable<DrillOutcome> Probe(size_t i, bool send_message);
  /// Every relay probed with a message; each outcome is an event (failover_test / failover_test_failed).
  /// `each`, when given, gets every outcome as soon as it is known (the CLI prints it then).
  boost::asio::awaitable<std::vector<DrillOutcome>> Drill(std::function<void(const DrillOutcome&)> each = {});
  boost::asio::awaitable<void> HealthLoop();  ///< every delivery.backup_check_interval
  boost::asio::awaitable<void> DrillLoop();   ///< every failover.test_interval
  void Stop() { stopping_ = true; }

  smtp::client::Target MxTarget(const std::string& domain, const std::string& host, const std::string& addr) const;
  smtp::client::Target RelayTarget(const Relay& r, const std::string& addr) const;
  /// Relay indexes to try: healthy ones in configured order, then the unhealthy ones.
  std::vector<size_t> RelayOrder() const;
  std::string TlsModeFor(const std::string& domain) const;
  bool VerifyFor(const std::string& domain) const;

 private:
  boost::asio::awaitable<dns::AddressAnswer> Addresses(const std::string& host);
  boost::asio::awaitable<dns::MxAnswer> Mx(const std::string& domain);
  boost::asio::awaitable<smtp::proto::ServerReply> TryTarget(const smtp::client::Target& t, Opened& out,
                                                             bool& unreachable);
  boost::asio::awaitable<smtp::proto::ServerReply> UseRelay(const Relay& relay, Opened& out);
  void FailBack(const std::string& domain, const std::string& mx, const char* found_by);
  void RecordEvent(const std::string& type, const std::string& json) { events_(type, json); }

  const Config& config_;
  Strand strand_;
  Dns dns_;
  EventSink events_;
  boost::asio::ssl::context tls_ctx_;
  std::mt19937 rng_;
  std::vector<bool> relays_healthy_;   // per delivery.backup_relays entry
  // Domains currently sent through a backup relay, with when a relay connection was last opened for each
  // (steady clock); the health check forgets one unused for an hour instead of probing its MX for ever.
  std::map<std::string, std::chrono::steady_clock::time_point> failed_over_;
  uint64_t failbacks_ = 0;             // fail-backs so far (StillFailedOver)
  bool stopping_ = false;
};

}  // namespace kurier::delivery
