// api_service.hpp - what the HTTP API's handlers need from the rest of kurier, and the functions that
// register each group of routes on a Router. Boost stays out of this header.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"
#include "tracking/outbound.hpp"

namespace kurier::mime {
struct MessageSpec;
}
namespace kurier::store {
class Store;
struct Event;
}
namespace kurier::spool {
class Spool;
struct SpoolMessage;
}
namespace kurier::delivery {
class DeliveryManager;
}
namespace kurier::webhooks {
class WebhookDispatcher;
}
namespace kurier::bounce {
class FeedbackIntake;
}

namespace kurier::api {

class Router;


/// One published (or pinned) version of a stored template.
struct TemplateContent {
  std::string id;    ///< the template's id
  std::string name;
  int version = 0;
  std::string subject, text, html;
};

struct ApiContext {
  const Config& config;
  store::Store& store;
  spool::Spool& spool;
  /// Cancels scheduled sends (DeliveryManager::Delete); null: delivery is not running in this process.
  delivery::DeliveryManager* delivery = nullptr;
  /// Sends webhook tests (WebhookDispatcher::SendTest); null: webhooks are not running in this process.
  webhooks::WebhookDispatcher* webhooks = nullptr;
  /// The bounce listener: a message's mailto: List-Unsubscribe address (RFC 2369) is at its return-path
  /// domain when the listener takes mail for it (FeedbackIntake::UnsubscribeAddress); null when it is off.
  bounce::FeedbackIntake* intake = nullptr;
  /// Signs open, click and unsubscribe links (derived from server.secret_file); null: no tracking.
  std::shared_ptr<const tracking::Key> tracking_key;
  std::shared_ptr<tracking::AccountDefaults> account_defaults = std::make_shared<tracking::AccountDefaults>();
  /// Set while the node drains (SIGTERM, `kurier serve --drain`): GET /readyz answers 503.
  std::shared_ptr<std::atomic<bool>> draining = std::make_shared<std::atomic<bool>>(false);
};

/// What the send path's tracking (tracking/outbound.hpp) reads, taken from `ctx`: the link base and
/// tracking.* defaults from its config, its key, its mailto: unsubscribe addresses and account defaults.
tracking::Outbound OutboundOf(const ApiContext& ctx);
/// A message to one recipient gets its tracking as it is built: its HTML's links and open pixel (`opens`,
/// `clicks`) and List-Unsubscribe with the one-click POST (RFC 8058), all naming message `id`. Nothing
/// without a tracking key.
void TrackForOneRecipient(const ApiContext& ctx, const std::string& id, bool opens, bool clicks, bool unsubscribe,
                          mime::MessageSpec& spec);
/// Public tracking endpoints: GET /t/o/{token} (pixel), GET /t/c/{token} (302), GET and POST /t/u/{token}.
void AddTrackingRoutes(Router& router, std::shared_ptr<ApiContext> ctx);

enum class Scope;  // router.hpp
struct HttpRequest;
struct HttpResponse;
struct RouteContext;

/// A handler of a route group: the context, the request and where to answer (a Reply).
using ContextHandler = void (*)(ApiContext&, const HttpRequest&, const RouteContext&, std::function<void(HttpResponse)>);
/// Adds `method path` (needing `scope`) whose handler is `handler` called with `*ctx`; `accepts`: the
/// media types its body may have (Route::accepts; unset: JSON for POST, PUT and PATCH).
void AddContextRoute(Router& router, const std::shared_ptr<ApiContext>& ctx, const char* method, const char* path,
                     Scope scope, ContextHandler handler,
                     std::optional<std::vector<std::string>> accepts = std::nullopt);

/// Every route group below. Registration only keeps `ctx` (it may be null when the routes are merely listed).
void AddAllRoutes(Router& router, std::shared_ptr<ApiContext> ctx);

/// POST /v1/messages, POST /v1/messages/raw, GET /v1/messages, GET and DELETE /v1/messages/{id}.
void AddMessageRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// Stored templates: POST and GET /v1/templates; GET, PUT, PATCH and DELETE /v1/templates/{id};
/// GET /v1/templates/{id}/versions/{version}, POST .../publish; POST /v1/templates/{id}/render.
void AddTemplateRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// ApiContext::find_template over the store: `id_or_name` of `account` at `version` (0: the published
/// one); kNotFound with a message that names what is missing and what to do.
Result<TemplateContent> FindStoredTemplate(store::Store& store, const std::string& account,
                                           const std::string& id_or_name, int version);
/// The management API: /v1/accounts (admin), /v1/api-keys, /v1/smtp-credentials (see admin_api.cpp for
/// the scopes each needs). Revocations reach `router`'s key cache at once.
void AddAdminRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// GET /v1/events and GET /v1/stats (events_api.cpp).
void AddEventRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// /v1/suppressions: list, add, remove, import and export (suppressions_api.cpp).
void AddSuppressionRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// /v1/contacts: list, create, read, change, delete, CSV import and export (contacts_api.cpp,
/// contacts_import_api.cpp).
void AddContactRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// /v1/lists: create, list, read, delete, and members put on or taken off (lists_api.cpp).
void AddListRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// /v1/campaigns: create, list, read, schedule, pause, resume, cancel, results (campaigns_api.cpp).
void AddCampaignRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// /v1/webhooks: create, list, read, change, delete, rotate-secret, test, deliveries (webhooks_api.cpp).
void AddWebhookRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// GET /healthz and GET /readyz (public), GET /metrics (read scope): ops_api.cpp.
void AddOpsRoutes(Router& router, std::shared_ptr<ApiContext> ctx);
/// GET /v1/openapi.json (public).
void AddOpenApiRoute(Router& router);
/// The OpenAPI 3.1 document served at /v1/openapi.json.
const std::string& OpenApiDocument();

}  // namespace kurier::api
