// openapi_route.cpp - GET /v1/openapi.json: the OpenAPI 3.1 description of every route (public).
#include "api/api_service.hpp"
#include "api/router.hpp"

namespace kurier::api {

void AddOpenApiRoute(Router& router) {
  router.Add(Route{"GET", "/v1/openapi.json", Scope::kPublic, [](const HttpRequest&, const RouteContext&, Reply r) {
                     r(Json(200, OpenApiDocument()));
                   }});
}

}  // namespace kurier::api
