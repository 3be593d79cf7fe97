// delivery_manager.cpp - the outbound side wired together: the queue (dispatcher.hpp) opens connections
// through routing and fail-over (routing.hpp), each connection (smtp/client/connection.hpp) carries the
// destination's ready jobs, prepared by the outgoing transforms (transforms.hpp), and each result is
// applied by the outcome rules (outcome.hpp). Everything runs on one strand.
//
// SECURITY: connects out to servers chosen by DNS, i.e. by whoever controls a recipient domain.
// Every wait is bounded (connect, command and end-of-data timeouts through net::Watchdog); replies
// are parsed with bounds by proto::ReplyParser; the message leaves dot-stuffed and CRLF-normalised.
// A recipient's state changes only after the remote server answered for it, and is committed by
// the spool: a crash during delivery may repeat a delivery, never lose one.
// STANDARDS: RFC 5321 (4.5.4 retry strategy, 5.1 MX selection, 4.5.3.2 timeouts), RFC 7505 (null MX),
// RFC 3207 (STARTTLS), RFC 2920 (PIPELINING).
#include "delivery/delivery_manager.hpp"

#include <atomic>
#include <future>

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>

#include "common/ids.hpp"
#include "delivery/dispatcher.hpp"
#include "delivery/outcome.hpp"
#include "delivery/routing.hpp"
#include "delivery/transforms.hpp"
#include "dns/resolver.hpp"
#include "smtp/client/connection.hpp"
#include "smtp/proto/replies.hpp"
#include "spool/spool.hpp"
#include "spool/spool_storage.hpp"
#include "store/store.hpp"

namespace kurier::delivery {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

// The queue's destination for mail of accounts in test mode (no domain can have this name), and the mx
// its delivered events name.
constexpr std::string_view kTestModeDestination = "(test mode)";
const std::string kTestModeMx = "test-mode";
Routing::Dns ResolverDns(dns::Resolver& resolver) {
  return Routing::Dns{
      [&resolver](const std::string& domain, std::function<void(dns::MxAnswer)> done) {
        resolver.ResolveMx(domain, std::move(done));
      },
      [&resolver](const std::string& host, std::function<void(dns::AddressAnswer)> done) {
        resolver.ResolveAddresses(host, std::move(done));
      }};
}
}  // namespace

struct DeliveryManager::Impl : std::enable_shared_from_this<DeliveryManager::Impl> {
  Impl(const Config& c, store::Store& st, spool::Spool& s, dns::Resolver& r, asio::io_context& io)
      : config(c), store(st), spool(s), strand(asio::make_strand(io)), wake(strand),
        dispatcher(NowMicros,
                   [&c, this](const DestinationKey& d) { return ShareOf(ConfiguredPolicy(c.delivery, d), nodes.load()); },
                   Dispatcher::Hooks{[this](const DestinationKey& d) { OpenConnection(d); },
                                     [this](int64_t when) { WakeAt(when); }}),
        routing(c, strand, ResolverDns(r), [this](const std::string& type, const std::string& data) { RecordEvent(type, data); }),
        transforms(c, [&st] { return st.ListDkimKeys(""); }, NowMicros),
        outcomes(c, st, s, NowMicros) {}

  const Config& config;
  store::Store& store;
  spool::Spool& spool;
  std::atomic<int> nodes{1};  // live nodes sharing the destinations' limits (SetLiveNodes)
  asio::strand<asio::io_context::executor_type> strand;  // owns all state below
  asio::steady_timer wake;                                // the dispatcher's wake-up
  Dispatcher dispatcher;
  std::map<std::string, int64_t> suspended_here;  // destination -> when this node last suspended or resumed it
  Routing routing;
  Transforms transforms;
  Outcomes outcomes;

  void Enqueue(std::vector<std::pair<int64_t, Job>> jobs) {
    asio::dispatch(strand, [self = shared_from_this(), jobs = std::move(jobs)]() mutable {
      for (auto& [due, job] : jobs) self->dispatcher.Schedule(due, std::move(job));
      self->dispatcher.Pump();
    });
  }

  void Schedule(std::optional<Outcomes::Retry> retry) {
    if (retry) dispatcher.Schedule(retry->due, std::move(retry->job));
  }

  // The dispatcher's hook: a connection for `domain`, its slot taken already.
  void OpenConnection(const DestinationKey& name) {
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
      self->dispatcher.ConnectionFailed(name);
    });
  }

  // The dispatcher's other hook: Pump again at `when` (µs since the epoch).
  void WakeAt(int64_t when) {
    auto delay = std::chrono::microseconds(std::max<int64_t>(0, when - NowMicros()));
    wake.expires_after(delay + std::chrono::milliseconds(1));
    wake.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->dispatcher.OnWake();
    });
  }

  void RecordEvent(const std::string& type, const std::string& data) {
    (void)store.AppendEvents({store::Event{0, NowMicros(), type, "", "", data}});
  }

  // The job's message: as committed (its first attempt), else read back from the spool; null when it was
  // deleted meanwhile (or cannot be read): nothing to deliver.
  std::shared_ptr<const spool::SpoolMessage> MessageOf(const Job& job) {
    if (job.message) return job.message;
    auto msg = spool.Get(job.message_id);
    if (!msg || !*msg) {
      if (!msg) spdlog::error("delivery: cannot read {}: {}", job.message_id, msg.error().message);
      return nullptr;
    }
    return std::make_shared<const spool::SpoolMessage>(std::move(**msg));
  }

  // Test mode (SendOptions::test): the message is prepared as for sending (tracking, DKIM, ARC) and its
  // recipients recorded as delivered by "test-mode" (a local 250), with no route and no connection.
  void DeliverTestMode(Job& job) {
    std::shared_ptr<const spool::SpoolMessage> message = MessageOf(job);
    if (!message) return;
    if (!outcomes.DropSuppressed(job, *message)) return;
    Transforms::Prepared prepared;
    smtp::proto::OutboundMessage om;
    try {
      transforms.Track(*message, job.rcpts.front().idx, prepared);
      transforms.Seal(*message, prepared, om);
    } catch (const std::exception& x) {
      spdlog::error("delivery: preparing {} (test mode) failed: {}", job.message_id, x.what());
      Schedule(outcomes.FailAll(job, smtp::proto::LocalReply(smtp::proto::ReplyId::kPrepareFailed, {x.what()}), "-"));
      return;
    }
    const smtp::proto::RecipientResult sent{smtp::proto::Outcome::kDelivered,
                                            smtp::proto::LocalReply(smtp::proto::ReplyId::kTestModeNotSent, {}), true};
    Schedule(outcomes.Record(job, std::vector(job.rcpts.size(), sent), kTestModeMx, "", message.get(), prepared.selectors));
  }

  awaitable<void> Connect(std::string domain) {
    auto self = shared_from_this();
    if (domain == kTestModeDestination) {
      // Not inside the dispatcher's Pump that opened this "connection" (it walks its destinations).
      co_await asio::post(strand, asio::use_awaitable);
      while (auto job = dispatcher.Take(domain)) DeliverTestMode(*job);
      dispatcher.ConnectionEnded(domain);
      co_return;
    }
    Routing::Opened route = co_await routing.Open(domain);
    if (route.connection) {
      co_await Deliver(*route.connection, domain, route);
      route.connection.reset();  // closed before the slot is given back
    } else if (route.failure.code != 0) {
      // Every ready job of this domain shares the route's fate.
      while (auto job = dispatcher.Take(domain)) Schedule(outcomes.FailAll(*job, route.failure, route.failed_at));
    }
    dispatcher.ConnectionEnded(domain);
  }

  // A connection waiting, open, for the next job of its destination.
  struct IdleTimer final : IdleConnection {
    explicit IdleTimer(asio::strand<asio::io_context::executor_type>& s) : timer(s) {}
    void Wake() override { timer.cancel(); }
    asio::steady_timer timer;
  };

  // The destination's ready jobs over one connection, one transaction each, until none is left (after
  // an idle wait), the connection's message limit or the server's end.
  // A relay carrying a failed-over domain stops after its current message once the direct route is back
  // (Routing::StillFailedOver: the health check found it, or another connection used it).
  awaitable<void> Deliver(smtp::client::Connection& conn, const std::string& domain, const Routing::Opened& route) {
    const std::string& mx = conn.target().label;
    const std::string& tls = conn.tls_info();
    auto wanted = [&] { return !route.via_backup || routing.StillFailedOver(domain, route.failbacks_seen); };
    for (int sent = 0, most = dispatcher.PolicyOf(domain).messages_per_connection; sent < most && !dispatcher.stopping(); ++sent) {
      if (!conn.ready() || !wanted()) break;
      auto job = dispatcher.Take(domain);
      if (!job && config.delivery.connection_idle_ms > 0 && !dispatcher.suspended(domain)) {
        // Nothing more for now: stay open a little for the next message (a steady trickle, one client
        // sending one message at a time, then pays for one connection instead of one per message).
        IdleTimer idle(strand);
        idle.timer.expires_after(std::chrono::milliseconds(config.delivery.connection_idle_ms));
        dispatcher.AddIdle(domain, &idle);
        boost::system::error_code ignored;
        co_await idle.timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        dispatcher.RemoveIdle(domain, &idle);
        if (dispatcher.stopping() || !conn.Quiet() || !wanted()) break;  // a closed or closing peer: a new connection takes the job
        job = dispatcher.Take(domain);
      }
      if (!job) break;
      std::shared_ptr<const spool::SpoolMessage> message = MessageOf(*job);
      if (!message) continue;
      if (message->options.test) {  // rebuilt from the spool after a restart: still not sent
        job->message = message;
        DeliverTestMode(*job);
        continue;
      }
      if (!outcomes.DropSuppressed(*job, *message)) continue;
      Transforms::Prepared prepared;  // owns the data `om` points at; stays on this frame until sent
      smtp::proto::OutboundMessage om;
      // Preparing a message (tracking, DKIM, ARC) must not take the connection and its other jobs down
      // with it: a message whose preparation throws is deferred (retried, logged) and the next one goes.
      try {
        transforms.Track(*message, job->rcpts.front().idx, prepared);
        if (prepared.changed.per_recipient && job->rcpts.size() > 1) {
          // This copy's links name its first recipient: the others wait for copies of their own, next
          // in line for this connection.
          Job rest = *job;
          rest.rcpts.erase(rest.rcpts.begin());
          job->rcpts.resize(1);
          dispatcher.PushFront(std::move(rest));
        }
        for (const auto& r : job->rcpts) om.recipients.push_back(r.address);
        transforms.Seal(*message, prepared, om);
      } catch (const std::exception& x) {
        spdlog::error("delivery: preparing {} failed with an internal error ({}); it is deferred and retried",
                      job->message_id, x.what());
        Schedule(outcomes.FailAll(*job, smtp::proto::LocalReply(smtp::proto::ReplyId::kPrepareFailed, {x.what()}), "-"));
        continue;
      }
      if (dispatcher.fenced()) {
        // The reads above (the spool, suppressions, the account) took this node past its fence: another node
        // may own the message by now. It waits in line; the node's next renewed heartbeat decides.
        dispatcher.PushFront(std::move(*job));
        break;
      }
      // Several nodes: the message may have been deleted or cancelled through another node since this node
      // queued it (its job holds the text), or taken over. Asked of the database: one indexed read.
      if (auto owned = spool.Storage().Owns(job->message_id); !owned || !*owned) {
        if (!owned) {  // the database does not answer: nothing could record the result either
          spdlog::warn("delivery: {}; {} is tried again in 5 s", owned.error().message, job->message_id);
          dispatcher.Schedule(NowMicros() + 5'000'000, std::move(*job));
          continue;
        }
        spdlog::info("delivery: {} is no longer this node's (deleted, cancelled or taken over through another node): "
                     "not sent", job->message_id);
        continue;
      }
      auto results = co_await conn.Send(om);
      Schedule(outcomes.Record(*job, results, mx, tls, message.get(), prepared.selectors));
      if (conn.resetting()) co_await conn.Reset();  // RSET after a failed transaction
    }
    co_await conn.Quit();
  }
};

DeliveryManager::DeliveryManager(const Config& config, store::Store& store, spool::Spool& spool,
                                 dns::Resolver& resolver, asio::io_context& ioc)
    : impl_(std::make_shared<Impl>(config, store, spool, resolver, ioc)) {}

DeliveryManager::~DeliveryManager() = default;

namespace {

// Pending recipients grouped by (message, domain): one transaction each, due when its last one is.
std::vector<std::pair<int64_t, Job>> JobsOf(const std::vector<spool::RecipientState>& pending) {
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, Job>> jobs;
  for (const auto& r : pending) {
    auto& [due, job] = jobs[{r.message_id, r.domain}];
    job.message_id = r.message_id;
    job.domain = r.domain;
    job.received_at = r.received_at;
    job.rcpts.push_back(Job::Rcpt{r.idx, r.address, r.attempts});
    due = std::max(due, r.next_attempt);
  }
  std::vector<std::pair<int64_t, Job>> list;
  for (auto& [k, v] : jobs) list.push_back(std::move(v));
  return list;
}

}  // namespace

void DeliveryManager::SetLiveNodes(int nodes) {
  const int before = impl_->nodes.exchange(std::max(1, nodes));
  if (before != impl_->nodes.load())
    spdlog::info("delivery: {} live node(s) share each destination's connection and rate limits", impl_->nodes.load());
}

void DeliveryManager::FenceAt(int64_t until) {
  asio::dispatch(impl_->strand, [self = impl_, until] {
    const bool was = self->dispatcher.fenced();
    self->dispatcher.FenceAt(until);
    if (was != self->dispatcher.fenced())
      spdlog::warn("delivery: {}", was ? "this node's heartbeat is renewed: delivering again"
                                       : "no delivery starts until this node renews its heartbeat in the database");
  });
}

std::optional<std::vector<std::string>> DeliveryManager::QueuedMessages(std::chrono::milliseconds wait) {
  auto answer = std::make_shared<std::promise<std::vector<std::string>>>();
  auto ids = answer->get_future();
  asio::dispatch(impl_->strand, [self = impl_, answer] { answer->set_value(self->dispatcher.MessageIds()); });
  if (ids.wait_for(wait) != std::future_status::ready) return std::nullopt;
  return ids.get();
}

void DeliveryManager::Forget(std::vector<std::string> message_ids) {
  asio::dispatch(impl_->strand, [self = impl_, ids = std::move(message_ids)] {
    for (const auto& id : ids) self->dispatcher.Forget(id);
  });
}

void DeliveryManager::Adopt(const std::vector<spool::RecipientState>& pending) {
  auto list = JobsOf(pending);
  spdlog::info("queue: took over {} recipient(s) of {} delivery job(s) from stopped nodes", pending.size(), list.size());
  impl_->Enqueue(std::move(list));
}

Result<void> DeliveryManager::Start() {
  if (auto loaded = impl_->transforms.Load(); !loaded) return loaded.error();
  auto pending = impl_->spool.PendingRecipients();
  if (!pending) return pending.error();
  std::vector<std::pair<int64_t, Job>> list = JobsOf(pending.value());
  spdlog::info("queue: {} recipient(s) of {} delivery job(s) rebuilt from the spool", pending->size(), list.size());
  for (const auto& [d, p] : impl_->config.delivery.domains) {
    DestinationPolicy policy = ConfiguredPolicy(impl_->config.delivery, d);
    spdlog::info("delivery policy for {}: {} connection(s), {} message(s) per connection, {} per minute, TLS {}{}", d,
                 policy.max_connections, policy.messages_per_connection,
                 p.rate_per_minute && *p.rate_per_minute ? std::to_string(*p.rate_per_minute) : std::string("unlimited"),
                 impl_->routing.TlsModeFor(d), impl_->routing.VerifyFor(d) ? " (verified)" : "");
  }
  for (const Relay& r : impl_->config.delivery.backup_relays)
    if (!r.port_given && r.port != impl_->config.delivery.port)
      spdlog::warn("backup relay {} has no port in its URL and uses {}, its scheme's default; delivery.port ({}) is for "
                   "MX hosts only. Write the port in the URL if the relay listens elsewhere",
                   r.url, r.port, impl_->config.delivery.port);
  if (auto s = impl_->spool.SuspendedDomains(); s) {
    for (auto& d : s.value()) spdlog::warn("delivery to {} is suspended ('kurier queue resume {}' resumes it)", d, d);
    asio::dispatch(impl_->strand, [self = impl_, list = s.value()] {
      for (const auto& d : list) self->dispatcher.Suspend(d, true);
    });
  }
  impl_->Enqueue(std::move(list));
  if (!impl_->config.delivery.backup_relays.empty() && impl_->config.delivery.backup_check_interval > 0)
    asio::co_spawn(
        impl_->strand, [self = impl_]() -> awaitable<void> { co_await self->routing.HealthLoop(); }, asio::detached);
  if (!impl_->config.delivery.backup_relays.empty() && impl_->config.failover.test_interval > 0)
    asio::co_spawn(
        impl_->strand, [self = impl_]() -> awaitable<void> { co_await self->routing.DrillLoop(); }, asio::detached);
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
        std::string d = m->options.test ? std::string(kTestModeDestination) : spool::RecipientDomain(a);
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

void DeliveryManager::Drill(std::function<void(std::vector<DrillResult>)> done,
                            std::function<void(const DrillResult&)> each) {
  asio::co_spawn(
      impl_->strand,
      [self = impl_, done = std::move(done), each = std::move(each)]() -> awaitable<void> {
        std::function<void(const Routing::DrillOutcome&)> report;
        if (each) report = [&each](const Routing::DrillOutcome& o) { each(DrillResult{o.relay, o.ok, o.detail}); };
        auto outcomes = co_await self->routing.Drill(std::move(report));
        std::vector<DrillResult> results;
        for (auto& o : outcomes) results.push_back(DrillResult{o.relay, o.ok, o.detail});
        done(std::move(results));
      },
      asio::detached);
}

void DeliveryManager::Retry(const std::string& id, std::function<void(bool, std::string)> done) {
  asio::dispatch(impl_->strand, [self = impl_, id, done = std::move(done)] {
    int moved = self->dispatcher.RetryNow(id);
    self->dispatcher.Pump();
    if (moved > 0) return done(true, std::to_string(moved) + " recipient(s) of " + id + " will be tried now");
    // Not in this node's queue: another node of the cluster may own it.
    auto owner = self->spool.Storage().RequestRetry(id);
    if (!owner) return done(false, owner.error().message);
    if (owner->has_value() && !(*owner)->empty())
      return done(true, "message " + id + " belongs to node " + **owner +
                            "; its deferred recipients will be tried there at that node's next heartbeat");
    done(false, "no deferred recipient of " + id + " is waiting (see 'kurier queue show " + id + "')");
  });
}

void DeliveryManager::RetryRequested(std::vector<std::string> ids) {
  asio::dispatch(impl_->strand, [self = impl_, ids = std::move(ids)] {
    int moved = 0;
    for (const auto& id : ids) moved += self->dispatcher.RetryNow(id);
    if (moved > 0) spdlog::info("{} recipient(s) of {} message(s) tried now, asked through another node", moved, ids.size());
    self->dispatcher.Pump();
  });
}

void DeliveryManager::Delete(const std::string& id, std::function<void(bool, std::string)> done) {
  asio::dispatch(impl_->strand, [self = impl_, id, done = std::move(done)] {
    auto msg = self->spool.Get(id);
    if (!msg || !*msg) return done(false, "no message with id " + id + " in the queue");
    self->dispatcher.Forget(id);
    boost::json::array rcpts;
    for (const auto& st : (*msg)->states)
      if (st.status == "queued") rcpts.emplace_back(st.address);
    self->spool.Delete(id, {store::Event{0, NowMicros(), "deleted", id, (*msg)->account,
                                         boost::json::serialize(boost::json::object{{"recipients", rcpts}})}});
    done(true, "message " + id + " deleted; its " + std::to_string(rcpts.size()) + " undelivered recipient(s) will not be tried");
  });
}

void DeliveryManager::MatchSuspensions(std::vector<std::string> suspended, int64_t read_at) {
  asio::dispatch(impl_->strand, [self = impl_, want = std::set<std::string>(suspended.begin(), suspended.end()), read_at] {
    auto mine = [&](const std::string& d) {  // changed here less than 2 s before the read: its commit may lag
      auto it = self->suspended_here.find(d);
      return it != self->suspended_here.end() && it->second >= read_at - 2'000'000;
    };
    std::vector<std::pair<std::string, bool>> changes;
    for (const auto& d : want)
      if (!self->dispatcher.suspended(d) && !mine(d)) changes.emplace_back(d, true);
    for (const auto& d : self->dispatcher.suspended_destinations())
      if (!want.count(d) && !mine(d)) changes.emplace_back(d, false);
    for (const auto& [d, on] : changes) {
      self->dispatcher.Suspend(d, on);
      spdlog::info("delivery to {} {} through another node", d, on ? "suspended" : "resumed");
    }
    if (!changes.empty()) self->dispatcher.Pump();
  });
}

void DeliveryManager::Suspend(const std::string& domain, bool on, std::function<void(bool, std::string)> done) {
  asio::dispatch(impl_->strand, [self = impl_, domain, on, done = std::move(done)] {
    self->suspended_here[domain] = NowMicros();
    bool changed = self->dispatcher.Suspend(domain, on);
    self->spool.SetSuspended(domain, on);
    self->RecordEvent(on ? "suspended" : "resumed", boost::json::serialize(boost::json::object{{"domain", domain}}));
    self->dispatcher.Pump();
    done(true, "delivery to " + domain + (on ? " suspended" : " resumed") + (changed ? "" : " (it already was)"));
  });
}

void DeliveryManager::SetTracking(const tracking::Outbound& outbound) {
  asio::dispatch(impl_->strand, [self = impl_, outbound]() mutable { self->transforms.SetTracking(std::move(outbound)); });
}

void DeliveryManager::Stop() {
  impl_->spool.SetCommitListener(nullptr);
  asio::dispatch(impl_->strand, [self = impl_] {
    self->dispatcher.Stop();  // idle connections say QUIT now
    self->routing.Stop();
    self->wake.cancel();
  });
}

}  // namespace kurier::delivery
