// docs_pages.hpp - the documentation pages served at /docs and /docs/api: HTML rendered at build time
// from docs/guide.md and src/api/openapi.json by scripts/docs_html.py into docs_pages.cpp (generated).
#pragma once
#include <string>

namespace kurier::api {

class Router;

/// One self-contained page and the Content-Security-Policy it is served with (nothing from elsewhere;
/// its one inline style block allowed by its hash).
struct DocsPage {
  std::string html;
  std::string csp;
};

/// docs/guide.md as HTML.
const DocsPage& GuidePage();
/// The OpenAPI reference: every operation with its parameters, bodies, responses and headers. Its
/// "@@SCOPE METHOD PATH@@" marks are filled by AddDocsRoutes from the router's route table.
const DocsPage& ApiReferencePage();

/// GET /docs (the guide) and GET /docs/api (the reference); public. Add it
/// after every other route group: the reference names each route's scope as registered in `router`.
void AddDocsRoutes(Router& router);

}  // namespace kurier::api
