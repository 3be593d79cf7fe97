// openapi_route.cpp - GET /v1/openapi.json: the OpenAPI 3.1 description of every route (public). Its
// `servers` entry is the address the document was fetched from, so tools pointed at it call this server.
#include <boost/json.hpp>

#include "api/api_service.hpp"
#include "api/router.hpp"

namespace kurier::api {

namespace {

// The document around its one server URL, split once.
struct DocumentParts {
  std::string before, after;
};

const DocumentParts& Parts() {
  static const DocumentParts parts = [] {
    auto doc = boost::json::parse(OpenApiDocument());
    doc.as_object()["servers"] = boost::json::array{
        boost::json::object{{"url", "\x01"}, {"description", "the address this document was served from"}}};
    std::string text = boost::json::serialize(doc);
    const std::string mark = R"("\u0001")";
    auto at = text.find(mark);
    return DocumentParts{text.substr(0, at), text.substr(at + mark.size())};
  }();
  return parts;
}

// Where the client reached this document: "http://" + its Host header (a host name or address and a
// port, nothing else), "https://" when a TLS-terminating proxy says so in X-Forwarded-Proto. The API
// listener itself has no TLS. "/" (this server, relative to the document) without a usable Host.
std::string ServedFrom(const HttpRequest& req) {
  const std::string& host = req.Header("host");
  constexpr const char* kHostChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]";
  if (host.empty() || host.size() > 261 || host.find_first_not_of(kHostChars) != std::string::npos) return "/";
  return (req.Header("x-forwarded-proto") == "https" ? "https://" : "http://") + host;
}

}  // namespace

void AddOpenApiRoute(Router& router) {
  router.Add(Route{"GET", "/v1/openapi.json", Scope::kPublic, [](const HttpRequest& req, const RouteContext&, Reply r) {
                     const auto& parts = Parts();
                     r(Json(200, parts.before + boost::json::serialize(boost::json::string(ServedFrom(req))) + parts.after));
                   }});
}

}  // namespace kurier::api
