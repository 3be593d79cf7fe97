// routes.cpp - every route group of the HTTP API in one place, so `serve` and `kurier api routes`
// (which the OpenAPI coverage test reads) cannot disagree.
#include "api/api_service.hpp"
#include "api/docs_pages.hpp"
#include "api/router.hpp"

namespace kurier::api {

void AddContextRoute(Router& router, const std::shared_ptr<ApiContext>& ctx, const char* method, const char* path,
                     Scope scope, ContextHandler handler, std::optional<std::vector<std::string>> accepts) {
  router.Add(Route{method, path, scope,
                   [ctx, handler](const HttpRequest& q, const RouteContext& rc, Reply r) { handler(*ctx, q, rc, std::move(r)); },
                   std::move(accepts)});
}

void AddAllRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  AddMessageRoutes(router, ctx);
  AddTemplateRoutes(router, ctx);
  AddAdminRoutes(router, ctx);
  AddEventRoutes(router, ctx);
  AddSuppressionRoutes(router, ctx);
  AddContactRoutes(router, ctx);
  AddListRoutes(router, ctx);
  AddCampaignRoutes(router, ctx);
  AddWebhookRoutes(router, ctx);
  AddTrackingRoutes(router, ctx);
  AddOpsRoutes(router, ctx);
  AddOpenApiRoute(router);
  AddDocsRoutes(router);  // last: its reference names the scopes of the routes above
}

}  // namespace kurier::api
