// serve.cpp - `kurier serve`: open the store and the spool (recovering it), start the listeners and
// the delivery manager on one io_context, reload the TLS certificate on SIGHUP, stop cleanly on SIGTERM/SIGINT.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

#include "api/api_service.hpp"
#include "api/campaigns.hpp"
#include "api/http_server.hpp"
#include "api/router.hpp"
#include "app/app.hpp"
#include "app/cluster_member.hpp"
#include "spool/spool_storage.hpp"
#include "app/control.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "common/log.hpp"
#include "delivery/delivery_manager.hpp"
#include "metrics/metrics.hpp"
#include "dns/resolver.hpp"
#include "domains/check.hpp"
#include "common/secret.hpp"
#include "events/event_json.hpp"
#include "bounce/intake.hpp"
#include "webhooks/dispatcher.hpp"
#include "store/store.hpp"
#include "tracking/outbound.hpp"
#include "tracking/token.hpp"
#include "smtp/server/auth_service.hpp"
#include "smtp/server/smtp_server.hpp"
#include "spool/spool.hpp"

namespace kurier::app {

namespace {

// DKIM rotations advance without an operator: every domains.check_interval, domains with a pending or
// retiring key are checked (domain check's logic) and their keys switched or retired.
class RotationKeeper {
 public:
  RotationKeeper(const Config& c, store::Store& store, dns::Resolver& resolver, const ClusterMember& member)
      : c_(c), store_(store), resolver_(resolver), member_(member) {
    if (c.domains.check_interval > 0) thread_ = std::thread([this] { Run(); });
  }
  ~RotationKeeper() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock l(mu_);
    while (!cv_.wait_for(l, std::chrono::seconds(c_.domains.check_interval), [this] { return stop_; })) {
      l.unlock();
      Once();
      l.lock();
    }
  }
  void Once() {
    if (!member_.Leading()) return;  // another node of the cluster checks the rotations
    auto keys = store_.ListDkimKeys("");
    if (!keys) return spdlog::error("dkim rotation: {}", keys.error().message);
    std::set<std::string> due;
    for (const auto& k : keys.value())
      if (k.state == "pending" || k.state == "retiring") due.insert(k.domain);
    for (const auto& d : due) {
      domains::CheckReport rep;
      auto changes = domains::RefreshDomain(c_, store_, domains::ResolverDns(resolver_), d, rep, NowMicros());
      for (const auto& ch : changes) spdlog::info("dkim rotation: {} key {} is now {}", d, ch.id, ch.state);
    }
  }
  const Config& c_;
  store::Store& store_;
  dns::Resolver& resolver_;
  const ClusterMember& member_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The event log and the spool, opened for serving (the spool's recovered messages are counted).
struct Stores {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<spool::Spool> spool;
};

Stores OpenStores(const Config& config) {
  auto store = OpenStoreOrExit(config, /*create_secret=*/true);
  // Opens and clicks are appended to a journal file and imported into the event log in bulk.
  if (auto r = store->OpenEventJournal(config.sqlite_path.parent_path() / "events.journal", config.event_journal_delay_ms); !r) Fail(r.error().message);
  auto spool = OpenConfiguredSpool(config, store.get());
  if (!spool) Fail(spool.error().message);
  auto count = spool.value()->Count();
  spdlog::info("spool {}: {} message(s) recovered",
               config.store_backend == "postgresql" ? "in PostgreSQL" : config.spool_path.string(), count ? count.value() : -1);
  if (!config.spool_fsync) spdlog::warn("spool.fsync is off: acknowledged mail can be lost on power failure");
  return Stores{std::move(store), std::move(spool.value())};
}

// The bounce listener: reports about our messages become bounced/complained events. Null when
// smtp.inbound is off.
std::unique_ptr<bounce::FeedbackIntake> StartBounceIntake(const Config& config, store::Store& store, const std::string& secret,
                                                          smtp::server::SmtpServer& server) {
  std::unique_ptr<bounce::FeedbackIntake> intake;
  if (config.inbound.enabled) {
    intake = std::make_unique<bounce::FeedbackIntake>(config, store, secret);
    server.SetBounceIntake(intake.get());
  }
  return intake;
}

// `kurier auth status|unblock`: the AUTH throttling state lives in this process's memory.
void AddAuthHandlers(ControlServer& control, smtp::server::SmtpServer& server) {
  control.AddHandler("auth-status", [&server](const std::string&) {
    return ControlAnswer{true, server.auth_service().StatusJson()};
  });
  control.AddHandler("auth-unblock", [&server](const std::string& argument) {
    boost::system::error_code ec;
    auto v = boost::json::parse(argument, ec);
    std::optional<std::string> ip, user;
    if (!ec && v.is_object()) {
      if (auto* i = v.as_object().if_contains("ip"); i && i->is_string()) ip = std::string(i->as_string());
      if (auto* u = v.as_object().if_contains("user"); u && u->is_string()) user = std::string(u->as_string());
    }
    if (!ip && !user) return ControlAnswer{false, "give --ip ADDRESS, --user USERNAME or both"};
    std::size_t n = server.auth_service().Unblock(ip, user);
    return ControlAnswer{true, std::to_string(n) + " throttling entr" + (n == 1 ? "y" : "ies") + " removed"};
  });
}

// Starts delivery (unless delivery.enabled is false), the control socket and the SMTP listeners.
void StartSmtpSide(const Config& config, delivery::DeliveryManager& delivery, ControlServer& control,
                   smtp::server::SmtpServer& server) {
  control.SetDeliveryRunning(config.delivery.enabled);
  if (config.delivery.enabled) {
    if (auto r = delivery.Start(); !r) Fail(r.error().message);
  } else {
    spdlog::warn("delivery.enabled is false: mail is accepted and kept in the queue");
  }
  if (auto r = control.Start(); !r) Fail(r.error().message);
  if (auto r = server.Start(); !r) Fail(r.error().message);
}

// The HTTP API's router: keys are looked up by hash in the store.
std::unique_ptr<api::Router> MakeRouter(const Config& config, store::Store* st) {
  api::RouterOptions ro;
  ro.rate_per_second = config.api.rate_per_second;
  ro.burst = config.api.burst;
  return std::make_unique<api::Router>(
      [st](const std::string& hash) -> Result<std::optional<api::Principal>> {
        auto k = st->FindApiKeyByHash(hash);
        if (!k) {
          spdlog::error("api: cannot look up an API key: {}", k.error().message);
          return k.error();
        }
        if (!k.value()) return std::optional<api::Principal>();
        return std::optional<api::Principal>(api::Principal{k.value()->id, k.value()->account, k.value()->scopes});
      },
      ro);
}

// Webhooks: the outbox is filled by the store with each event; the dispatcher sends it.
webhooks::WebhookClient MakeWebhookClient(const Config& config, boost::asio::io_context& ioc) {
  webhooks::WebhookClientOptions wo;
  wo.ca_file = config.events.webhook_ca_file;
  wo.allow_private_addresses = config.events.webhook_allow_private_addresses;
  wo.tls_ciphers = config.tls_ciphers;
  auto webhook_client = webhooks::WebhookClient::Create(ioc, wo);
  if (!webhook_client) Fail(webhook_client.error().message);
  return std::move(webhook_client.value());
}

// What the API's handlers use: the store and spool, delivery (cancelling), webhooks (tests), the bounce
// listener (mailto: unsubscribe addresses) and the tracking key. Delivery tracks mail as it leaves with
// the same inputs (api::OutboundOf).
std::shared_ptr<api::ApiContext> MakeApiContext(const Config& config, store::Store* st, spool::Spool& spool,
                                                delivery::DeliveryManager& delivery, webhooks::WebhookDispatcher& webhooks,
                                                const std::string& secret, bounce::FeedbackIntake* intake) {
  auto api_ctx = std::make_shared<api::ApiContext>(api::ApiContext{config, *st, spool, &delivery, &webhooks, intake});
  if (auto key = tracking::Key::FromSecret(secret); key)
    api_ctx->tracking_key = std::make_shared<const tracking::Key>(std::move(key.value()));
  else
    Fail("server.secret_file: " + key.error().message);
  // Tracking and List-Unsubscribe as mail leaves (before DKIM): SMTP submissions, and API sends with
  // several recipients (each recipient's copy names it).
  delivery.SetTracking(api::OutboundOf(*api_ctx));
  return api_ctx;
}

// The HTTP listeners' options: the API's (api.listen) and the public one's (public.listen).
struct HttpListeners {
  api::HttpServerOptions api;
  api::HttpServerOptions recipients;
  bool public_listener = false;
};

HttpListeners HttpOptions(const Config& config) {
  api::HttpServerOptions ho;
  ho.listen = config.api.listen;
  ho.max_body = config.api.max_body;
  ho.max_public_body = config.api.max_public_body;
  ho.request_timeout = config.api.request_timeout;
  ho.idle_timeout = config.api.idle_timeout;
  ho.idle_timeout_under_pressure = config.api.idle_timeout_under_pressure;
  ho.max_connections = config.api.max_connections;
  ho.max_connections_per_ip = config.api.max_connections_per_ip;
  ho.connection_limit_exempt = config.api.connection_limit_exempt;
  ho.budget = std::make_shared<api::BodyBudget>(config.api.max_body_in_flight);  // shared by both listeners
  // public.listen: the endpoints recipients reach (tracking, unsubscribe) get a listener of their own,
  // so that a flood of them cannot fill the applications' API listener, and the API stops serving them.
  const bool public_listener = config.api.enabled && !config.api.public_listen.empty();
  ho.routes = public_listener ? api::RouteSet::kApplications : api::RouteSet::kAll;
  api::HttpServerOptions po = ho;
  po.listen = config.api.public_listen;
  po.listen_key = "public.listen";
  po.routes = api::RouteSet::kRecipients;
  return HttpListeners{std::move(ho), std::move(po), public_listener};
}

// The listeners as bound (`kurier status`): the SMTP ones, then the API's and the public one (nullptr: none).
std::vector<ListenerAddress> BoundListeners(const Config& config, const smtp::server::SmtpServer& server,
                                            const api::HttpServer& http, const api::HttpServer* public_http) {
  std::vector<ListenerAddress> out;
  for (const auto& l : server.bound()) out.push_back({l.name, HostPort(l.host, l.port)});
  auto add_http = [&out](const char* name, const std::string& listen, const api::HttpServer& h) {
    std::string host;
    uint16_t port = 0;
    SplitHostPort(listen, host, port);
    out.push_back({name, HostPort(host, h.port())});
  };
  if (config.api.enabled) add_http("api", config.api.listen, http);
  if (public_http) add_http("public", config.api.public_listen, *public_http);
  return out;
}

// Event retention: purges what is older than events.retention every hour (and once at start).
class EventPurger {
 public:
  EventPurger(const Config& config, store::Store& store, boost::asio::io_context& ioc, const ClusterMember& member)
      : config_(config), store_(store), timer_(ioc), member_(member) {}
  void Run() {
    auto n = member_.Leading() ? store_.PurgeEvents(NowMicros() - config_.events.retention * 1'000'000) : Result<int64_t>(0);
    if (!n) spdlog::error("events: cannot purge old events: {}", n.error().message);
    else if (n.value() > 0) spdlog::info("events: purged {} event(s) older than {} s", n.value(), config_.events.retention);
    timer_.expires_after(std::chrono::hours(1));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) Run();
    });
  }
  void Cancel() { timer_.cancel(); }

 private:
  const Config& config_;
  store::Store& store_;
  boost::asio::steady_timer timer_;
  const ClusterMember& member_;
};

// Runs the io_context on config.threads threads (one per core by default) until it stops.
void RunThreads(const Config& config, boost::asio::io_context& ioc) {
  int n = config.threads > 0 ? config.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The last line of defence (issue 12): a handler that throws ends only its own operation. Asio lets
  // the exception out of run(), which may then be called again without restart().
  auto run = [&ioc] {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& x) {
        spdlog::error("internal error in a handler, which was abandoned ({}); the server goes on", x.what());
      } catch (...) {
        spdlog::error("internal error in a handler, which was abandoned (not a std::exception); the server goes on");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < n; ++t) threads.emplace_back(run);
  run();
  for (auto& t : threads) t.join();
}

void LogSpoolStats(const spool::Spool& spool) {
  auto st = spool.stats();
  if (st.commits > 0)
    spdlog::info("spool: {} messages in {} group commits (average {:.1f}, largest {}), {:.2f} ms per commit",
                 st.messages, st.commits, double(st.messages) / st.commits, st.largest_batch,
                 st.commit_micros / 1000.0 / st.commits);
}

// SIGHUP: the certificate files again (after a renewal; they are also watched every tls.reload_interval).
void ReloadOnSighup(boost::asio::signal_set& hup, smtp::server::SmtpServer& server) {
  hup.async_wait([&hup, &server](auto ec, int) {
    if (ec) return;
    (void)server.ReloadTls("SIGHUP");
    ReloadOnSighup(hup, server);
  });
}

// The gauges of GET /metrics read when it is scraped: the queue by state and its oldest message, the
// database pool, the webhook backlog, whether the node drains and, on several nodes, the messages each holds.
metrics::Registry::Handle CollectNodeGauges(const Config& config, store::Store& store, spool::Spool& spool,
                                            const std::atomic<bool>& draining) {
  const int64_t lease = static_cast<int64_t>(config.lease_timeout) * 1'000'000;
  return metrics::Registry::Global().AddCollector([&store, &spool, &draining, lease](metrics::Registry& m) {
    const int64_t now = NowMicros();
    if (auto q = spool.CountByState(now); q) {
      for (const auto& [state, n] : q->by_state) m.Set("kurier_queue_messages", {{"state", state}}, static_cast<double>(n));
      m.Set("kurier_queue_oldest_age_seconds", {}, q->oldest ? static_cast<double>(now - q->oldest) / 1e6 : 0);
    }
    if (auto use = store.ConnectionUse()) {
      m.Set("kurier_db_connections", {{"state", "open"}}, static_cast<double>(use->open));
      m.Set("kurier_db_connections", {{"state", "in_use"}}, static_cast<double>(use->in_use));
      m.Set("kurier_db_connections", {{"state", "size"}}, static_cast<double>(use->size));
      m.Set("kurier_db_pool_waits_total", {}, static_cast<double>(use->waited));
    }
    if (auto backlog = store.WebhookBacklog(); backlog) m.Set("kurier_webhook_backlog", {}, static_cast<double>(*backlog));
    m.Set("kurier_draining", {}, draining.load() ? 1 : 0);
    if (auto nodes = spool.Storage().Nodes(lease); nodes && !nodes->empty()) {
      double alive = 0;
      for (const auto& n : nodes.value()) {
        alive += n.alive ? 1 : 0;
        m.Set("kurier_cluster_node_messages", {{"node", n.name}}, static_cast<double>(n.messages));
      }
      m.Set("kurier_cluster_nodes", {{"state", "alive"}}, alive);
      m.Set("kurier_cluster_nodes", {{"state", "stopped"}}, static_cast<double>(nodes->size()) - alive);
    }
  });
}

// `kurier serve --drain`: asks the running server to drain and waits until it has stopped.
void DrainRunningServer(const Config& config) {
  auto answer = SendControl(config.control_socket, "drain", "");
  if (!answer) Fail("no kurier server runs with " + config.file.string() + " (no control socket at " +
                    config.control_socket.string() + "); nothing to drain");
  if (!answer->ok) Fail("the server refused to drain: " + answer->detail);
  std::cerr << "draining: " << answer->detail << std::endl;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.drain_delay + 120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!SendControl(config.control_socket, "status", "")) {
      std::cerr << "stopped" << std::endl;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Fail("the server still runs two minutes after cluster.drain_delay; see its log");
}

// `kurier serve`: opens the stores, starts delivery, the SMTP and HTTP listeners, webhooks and the
// timers, runs until SIGINT or SIGTERM, then stops them in order.
void Serve(const std::string& config_path) {
  Config config = LoadConfigOrExit(config_path);
  // Before anything is opened: a missing or wrong data directory is said so, and nothing is created in it.
  if (auto problem = InstallProblem(config); !problem.empty())
    Fail("cannot serve: " + problem + ".\nkurier serve creates nothing; 'kurier init --dir DIR' creates a complete data "
         "directory (a self-signed certificate, or yours with --tls-cert FILE --tls-key FILE), then run "
         "'kurier serve --config DIR/kurier.toml'");
  InitLogging(config.log_level, config.log_format);
  TightenFileModes(config);  // an install made before umask 077 (files 0644)
  auto [store, spool] = OpenStores(config);
  auto resolver = dns::Resolver::Create(dns::ResolverConfig{config.dns_forward});
  if (!resolver) Fail(resolver.error().message);
  auto draining = std::make_shared<std::atomic<bool>>(false);
  ClusterMember member(config, *spool, *draining);  // before anything is delivered: refuses a duplicate node name
  RotationKeeper keeper(config, *store, *resolver.value(), member);
  {
    boost::asio::io_context ioc;
    smtp::server::SmtpServer server(config, *store, *spool, ioc);
    // The node's secret signs VERP return paths (checked by the bounce listener) and tracking links.
    auto secret = LoadOrCreateSecret(config.secret_file);
    if (!secret) Fail("server.secret_file: " + secret.error().message);
    std::unique_ptr<bounce::FeedbackIntake> intake = StartBounceIntake(config, *store, secret.value(), server);
    delivery::DeliveryManager delivery(config, *store, *spool, *resolver.value(), ioc);
    // Delivery first: a configuration it refuses (an unreadable ARC key, ...) stops serve before any
    // listener has accepted mail it could not deliver.
    ControlServer control(ioc, config.control_socket, delivery);
    AddAuthHandlers(control, server);
    StartSmtpSide(config, delivery, control, server);
    // The HTTP API: keys are looked up by hash in the store; sends go through the same spool.
    std::unique_ptr<api::Router> router = MakeRouter(config, store.get());
    webhooks::WebhookDispatcher webhooks(config, *store, ioc, MakeWebhookClient(config, ioc));
    auto api_ctx = MakeApiContext(config, store.get(), *spool, delivery, webhooks, secret.value(), intake.get());
    api_ctx->draining = draining;
    api::AddAllRoutes(*router, api_ctx);
    HttpListeners listen = HttpOptions(config);
    api::HttpServer http(listen.api, *router, ioc);
    api::HttpServer public_http(listen.recipients, *router, ioc);
    if (config.api.enabled)
      if (auto r = http.Start(); !r) Fail(r.error().message);
    if (listen.public_listener)
      if (auto r = public_http.Start(); !r) Fail(r.error().message);
    AddStatusHandler(control, config, BoundListeners(config, server, http, listen.public_listener ? &public_http : nullptr));
    webhooks.Start();
    if (config.delivery.enabled) member.SetDelivery(&delivery);
    EventPurger purger(config, *store, ioc, member);
    purger.Run();
    // Campaigns run on the housekeeping leader only (one node at a time sends each campaign's batches).
    api::CampaignRunner campaigns(api_ctx, [&member, draining] { return member.Leading() && !draining->load(); });
    campaigns.Start();
    auto gauges = CollectNodeGauges(config, *store, *spool, *api_ctx->draining);
    spdlog::info("kurier ready (hostname {})", config.hostname);
    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
    boost::asio::steady_timer grace(ioc);
    boost::asio::signal_set hup(ioc, SIGHUP);
    ReloadOnSighup(hup, server);
    control.AddHandler("drain", [](const std::string&) {
      ::kill(::getpid(), SIGTERM);  // the same path as a service manager's stop
      return ControlAnswer{true, "stopping after cluster.drain_delay; /readyz answers 503 meanwhile"};
    });
    auto stop_serving = [&] {
      spdlog::info("stopping");
      hup.cancel();
      server.Stop();
      http.Stop();
      public_http.Stop();
      webhooks.Stop();
      campaigns.Stop();
      purger.Cancel();
      delivery.Stop();
      control.Stop();
      // Give sessions a moment to finish the reply in flight, then stop.
      grace.expires_after(std::chrono::milliseconds(500));
      grace.async_wait([&](auto) { ioc.stop(); });
    };
    signals.async_wait([&](auto ec, int sig) {
      if (ec) return;
      // Draining: GET /readyz answers 503 at once, so that load balancers stop sending new connections;
      // after cluster.drain_delay the listeners close and delivery stops; what is still queued stays in the
      // spool, and on several nodes goes to the other nodes once the spool's last commit is done (Leave).
      api_ctx->draining->store(true);
      spdlog::info("signal {}: draining; stopping in {} s (cluster.drain_delay)", sig, config.drain_delay);
      grace.expires_after(std::chrono::seconds(config.drain_delay));
      grace.async_wait([&, stop_serving](auto) { stop_serving(); });
    });
    RunThreads(config, ioc);
    member.SetDelivery(nullptr);
    spool->Stop();  // commit what is queued while the executors still exist
    member.Leave();  // then hand what is left of this node's queue to the other nodes
  }
  LogSpoolStats(*spool);
  spdlog::info("stopped");
}

}  // namespace

void AddServeCommand(CLI::App& app, std::string& config_path) {
  auto* cmd = app.add_subcommand("serve", "Run the server in the foreground (SIGTERM or SIGINT stops it, SIGHUP reloads "
                                          "the TLS certificate)");
  cmd->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  static bool drain = false;
  cmd->add_flag("--drain", drain,
                "Drain the server running with this configuration (as SIGTERM does: /readyz answers 503, then after "
                "cluster.drain_delay it stops) and wait until it has stopped");
  cmd->callback([&] {
    if (drain) return DrainRunningServer(LoadConfigOrExit(config_path));
    Serve(config_path);
  });
}

}  // namespace kurier::app
