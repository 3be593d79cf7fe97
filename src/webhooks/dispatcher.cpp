// webhooks/dispatcher.cpp - the webhook outbox's sender.
//
// The store writes one outbox row per (event, webhook that wants it) in the same transaction as the
// event (store::Store::AppendEvents), so an event is never recorded without its deliveries, and a
// restart loses none: rows still pending are sent when serve starts again. This file takes due rows,
// POSTs each (at most events.webhook_max_in_flight at once), and records the outcome:
//   - 2xx: delivered.
//   - 410 Gone: the endpoint is disabled (with the reason) and what waited for it is dropped.
//   - anything else (other status, refused, TLS failure, timeout): retried after the next delay of
//     events.webhook_retry_schedule (at least its Retry-After when the receiver gave one); after the
//     last delay the row is marked failed.
// A crash between the POST and recording its outcome sends that event again: receivers deduplicate by
// the webhook-id header, which is the same for every attempt of one event.
//
// SECURITY: the endpoint URL is the account's; the client verifies certificates and host names, reads
// bounded answers and follows no redirects (webhooks/client.cpp). Payloads hold only the account's own
// events. Secrets are used to sign and never logged.
// STANDARDS: Standard Webhooks v1 (headers and signature), RFC 9110 (status codes, Retry-After).
#include "webhooks/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <set>

#include "common/ids.hpp"
#include "events/event_json.hpp"
#include "store/store.hpp"
#include "webhooks/signature.hpp"

namespace kurier::webhooks {

namespace asio = boost::asio;

struct WebhookDispatcher::Impl : std::enable_shared_from_this<WebhookDispatcher::Impl> {
  Impl(const Config& c, store::Store& s, asio::io_context& io, WebhookClient cl)
      : config(c), store(s), ioc(io), strand(asio::make_strand(io)), timer(strand), client(std::move(cl)) {}

  const Config& config;
  store::Store& store;
  asio::io_context& ioc;
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer timer;
  WebhookClient client;
  // On the strand:
  std::set<int64_t> in_flight;  ///< outbox rows being sent
  bool stopped = false;
  std::atomic<bool> wake_posted{false};

  void Wake() {
    if (wake_posted.exchange(true)) return;
    asio::post(strand, [self = shared_from_this()] {
      self->wake_posted = false;
      self->Pump();
    });
  }

  // Sends what is due while there is room, then sleeps until the next row is due (or a Wake).
  void Pump() {
    if (stopped) return;
    const int64_t now = NowMicros();
    const std::size_t room = static_cast<std::size_t>(config.events.webhook_max_in_flight) - std::min(
        in_flight.size(), static_cast<std::size_t>(config.events.webhook_max_in_flight));
    if (room > 0) {
      // Rows in flight are claimed (Store::DueWebhookDeliveries): what comes back is new, room for all of it.
      auto due = store.DueWebhookDeliveries(now, room);
      if (!due) {
        spdlog::error("webhooks: cannot read the outbox: {}; retrying in 5 s", due.error().message);
        Sleep(now + 5'000'000);
        return;
      }
      for (auto& d : due.value()) {
        if (in_flight.size() >= static_cast<std::size_t>(config.events.webhook_max_in_flight)) break;
        if (in_flight.count(d.id)) continue;
        Send(std::move(d));
      }
    }
    auto next = store.NextWebhookDue();
    int64_t at = next ? next.value() : now + 5'000'000;
    // Rows left due because there was no room: look again in a second rather than spin.
    if (at == 0) at = now + 60'000'000;
    Sleep(std::max(at, now + (in_flight.empty() ? 0 : 1'000'000)));
  }

  void Sleep(int64_t until_micros) {
    timer.expires_after(std::chrono::microseconds(std::max<int64_t>(0, until_micros - NowMicros())));
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->Pump();
    });
  }

  void Send(store::WebhookDelivery d) {
    const int64_t now = NowMicros();
    auto req = BuildRequest(d.webhook, "evt_" + std::to_string(d.event.id), events::WebhookPayload(d.event), now / 1'000'000,
                            config.events.webhook_timeout);
    if (!req) {
      // A malformed stored secret or URL cannot heal by waiting: give up on this row, say why.
      spdlog::error("webhooks: {} event {}: {}", d.webhook.id, d.event.id, req.error().message);
      (void)store.FinishWebhookAttempt(d.id, store::WebhookAttempt{false, 0, req.error().message, 0});
      return;
    }
    in_flight.insert(d.id);
    client.Post(std::move(req.value()), [self = shared_from_this(), d = std::move(d)](WebhookResponse res) mutable {
      asio::post(self->strand, [self, d = std::move(d), res = std::move(res)] { self->Finish(d, res); });
    });
  }

  void Finish(const store::WebhookDelivery& d, const WebhookResponse& res) {
    in_flight.erase(d.id);
    store::WebhookAttempt a;
    a.status = res.status;
    if (res.ok()) {
      a.delivered = true;
    } else if (res.status == 410) {
      std::string reason = "the endpoint answered 410 Gone at " + FormatTimeUtc(NowMicros()) +
                           "; fix the URL and enable it again (PATCH /v1/webhooks/" + d.webhook.id + " {\"enabled\": true})";
      spdlog::warn("webhooks: {} disabled: {}", d.webhook.id, reason);
      a.error = res.error;
      (void)store.FinishWebhookAttempt(d.id, a);
      if (auto r = store.DisableWebhook(d.webhook.id, reason); !r)
        spdlog::error("webhooks: cannot disable {}: {}", d.webhook.id, r.error().message);
      Pump();
      return;
    } else {
      a.error = res.error;
      const auto& schedule = config.events.webhook_retry_schedule;
      const std::size_t made = static_cast<std::size_t>(d.attempts) + 1;
      if (made <= schedule.size()) {
        int64_t delay = schedule[made - 1];
        if (res.retry_after > delay) delay = std::min<int64_t>(res.retry_after, 86400);
        a.next_attempt = NowMicros() + delay * 1'000'000;
      }
      spdlog::info("webhooks: {} event {} attempt {} failed: {}{}", d.webhook.id, d.event.id, made, res.error,
                   a.next_attempt ? "; next attempt at " + FormatTimeUtc(a.next_attempt) : "; giving up");
    }
    if (auto r = store.FinishWebhookAttempt(d.id, a); !r)
      spdlog::error("webhooks: cannot record an attempt: {}", r.error().message);
    Pump();
  }
};

WebhookDispatcher::WebhookDispatcher(const Config& config, store::Store& store, asio::io_context& ioc, WebhookClient client)
    : impl_(std::make_shared<Impl>(config, store, ioc, std::move(client))) {}

WebhookDispatcher::~WebhookDispatcher() { impl_->store.SetWebhookListener(nullptr); }

void WebhookDispatcher::Start() {
  std::weak_ptr<Impl> weak = impl_;
  impl_->store.SetWebhookListener([weak] {
    if (auto self = weak.lock()) self->Wake();
  });
  impl_->Wake();
}

void WebhookDispatcher::Stop() {
  impl_->store.SetWebhookListener(nullptr);
  asio::post(impl_->strand, [self = impl_] {
    self->stopped = true;
    self->timer.cancel();
  });
}

void WebhookDispatcher::Wake() { impl_->Wake(); }

Result<WebhookRequest> WebhookDispatcher::BuildRequest(const store::Webhook& webhook, const std::string& message_id,
                                                       const std::string& body, int64_t now_seconds, int timeout_seconds) {
  if (!webhook.secret_error.empty()) return MakeError(ErrorCode::kConfig, webhook.secret_error);
  auto sig = SignatureHeader(webhook.LiveSecrets(now_seconds * 1'000'000), message_id, now_seconds, body);
  if (!sig) return sig.error();
  WebhookRequest r;
  r.url = webhook.url;
  r.body = body;
  r.headers = {{"webhook-id", message_id}, {"webhook-timestamp", std::to_string(now_seconds)}, {"webhook-signature", sig.value()}};
  r.timeout = std::chrono::seconds(timeout_seconds);
  return r;
}

void WebhookDispatcher::SendTest(const store::Webhook& webhook, std::function<void(WebhookResponse)> done) {
  store::Event e;
  e.time = NowMicros();
  e.type = "test";
  e.account = webhook.account;
  e.data = R"({"note":"a test event sent by POST /v1/webhooks/{id}/test; it is not in the event log"})";
  auto req = BuildRequest(webhook, "test_" + NewQueueId(), events::WebhookPayload(e), e.time / 1'000'000,
                          impl_->config.events.webhook_timeout);
  if (!req) {
    WebhookResponse res;
    res.error = req.error().message;
    return done(std::move(res));
  }
  impl_->client.Post(std::move(req.value()), std::move(done));
}

}  // namespace kurier::webhooks
