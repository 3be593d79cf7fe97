// docs_route.cpp - GET /docs (the user guide, docs/guide.md) and GET /docs/api (the OpenAPI reference),
// public pages on the API listener. Both are rendered to HTML at build time (scripts/docs_html.py) and
// embedded (docs_pages.cpp, generated); each is self-contained (inline CSS, nothing loaded from
// elsewhere), which its Content-Security-Policy enforces. The reference names each operation's API key
// scope as the router registers it: the page's "@@SCOPE METHOD PATH@@" marks are filled from the route
// table once, when the routes are added.
#include <memory>
#include <string>

#include "api/docs_pages.hpp"
#include "api/router.hpp"

namespace kurier::api {

namespace {

// What an operation needs, as the reference names it.
std::string ScopeText(const Router& router, const std::string& method, const std::string& path) {
  for (const auto& r : router.routes()) {
    if (r.method != method || r.pattern != path) continue;
    if (r.scope == Scope::kPublic) return "public: no API key";
    return std::string("API key with the <code>") + ScopeName(r.scope) + "</code> scope";
  }
  return "not served by this build";
}

// `page` with every "@@SCOPE METHOD PATH@@" mark replaced by ScopeText.
std::string FillScopes(const Router& router, const std::string& page) {
  static const std::string kOpen = "@@SCOPE ", kClose = "@@";
  std::string out;
  out.reserve(page.size());
  size_t at = 0;
  for (size_t mark; (mark = page.find(kOpen, at)) != std::string::npos;) {
    size_t end = page.find(kClose, mark + kOpen.size());
    if (end == std::string::npos) break;
    std::string route = page.substr(mark + kOpen.size(), end - mark - kOpen.size());
    size_t space = route.find(' ');
    out.append(page, at, mark - at);
    out += space == std::string::npos ? route : ScopeText(router, route.substr(0, space), route.substr(space + 1));
    at = end + kClose.size();
  }
  out.append(page, at, std::string::npos);
  return out;
}

HttpResponse HtmlPage(const DocsPage& page, const std::string& body) {
  HttpResponse res;
  res.content_type = "text/html; charset=utf-8";
  res.headers.emplace_back("Content-Security-Policy", page.csp);
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.body = body;
  return res;
}

void AddPage(Router& router, const char* path, const DocsPage& page, std::shared_ptr<std::string> body) {
  router.Add(Route{"GET", path, Scope::kPublic,
                   [&page, body](const HttpRequest&, const RouteContext&, Reply r) { r(HtmlPage(page, *body)); }});
}

}  // namespace

void AddDocsRoutes(Router& router) {
  auto reference = std::make_shared<std::string>();
  AddPage(router, "/docs", GuidePage(), std::make_shared<std::string>(GuidePage().html));
  AddPage(router, "/docs/api", ApiReferencePage(), reference);
  // Filled once every route, these pages' own included, is in the table (before any request).
  *reference = FillScopes(router, ApiReferencePage().html);
}

}  // namespace kurier::api
