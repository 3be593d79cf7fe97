// webhooks/dispatcher.hpp - sends the durable webhook outbox: each event an account's webhooks asked
// for is POSTed, signed, and retried on the configured schedule until the endpoint answers 2xx (or 410,
// which disables it). Boost stays out of this header.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "webhooks/client.hpp"

namespace boost::asio {
class io_context;
}
namespace kurier::store {
class Store;
struct Event;
struct Webhook;
}  // namespace kurier::store

namespace kurier::webhooks {

class WebhookDispatcher {
 public:
  /// Each delivery's body is events::WebhookPayload (the view GET /v1/events shows, in a Standard Webhooks
  /// envelope).
  WebhookDispatcher(const Config& config, store::Store& store, boost::asio::io_context& ioc, WebhookClient client);
  ~WebhookDispatcher();

  /// Starts sending what is due (rows left pending by a previous run included) and registers with the
  /// store so that new outbox rows are sent at once.
  void Start();
  void Stop();
  /// Something was queued: look at the outbox now (callable from any thread).
  void Wake();

  /// POSTs one synthetic `test` event to `webhook` now, outside the outbox (POST /v1/webhooks/{id}/test).
  void SendTest(const store::Webhook& webhook, std::function<void(WebhookResponse)> done);

  /// The request one attempt makes: the body and the webhook-id/-timestamp/-signature headers.
  static Result<WebhookRequest> BuildRequest(const store::Webhook& webhook, const std::string& message_id,
                                             const std::string& body, int64_t now_seconds, int timeout_seconds);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kurier::webhooks
