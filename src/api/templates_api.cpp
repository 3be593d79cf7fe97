// templates_api.cpp - stored templates over the HTTP API: create, list, read, update (each change of
// content is a new numbered version), publish a version, delete, and render a preview that names the
// variables it could not find. Sends use a template's published version unless they pin another
// (FindStoredTemplate, ApiContext::find_template).
// SECURITY: every template belongs to one account and every lookup is scoped to the caller's account,
// so another account's template is a 404, never a 403 that would confirm it exists. Templates are
// parsed before they are stored (syntax errors are 422 with a pointer); rendering is bounded by
// templates.cpp (section and variable depth) and html output is HTML-escaped by default.
// STANDARDS: RFC 9457 problem details, RFC 6901 pointers, RFC 9110 (PUT replaces, PATCH merges).
#include "api/templates_api.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "api/api_service.hpp"
#include "api/json_body.hpp"
#include "api/router.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"
#include "templates/templates.hpp"

namespace kurier::api {

namespace json = boost::json;

std::optional<std::string> TemplateNameProblem(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxTemplateNameLength)
    return "must be at most " + std::to_string(kMaxTemplateNameLength) + " characters";
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return "must start with a letter or a digit";
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return "may hold only letters, digits, '.', '_' and '-' (it is used in URLs), e.g. \"order-shipped\"";
  if (name.rfind("tmpl_", 0) == 0) return "must not start with \"tmpl_\": template ids do";
  return std::nullopt;
}

void ParseTemplateFields(const json::object& body, TemplateFields& out, std::vector<FieldError>& errors) {
  static const std::set<std::string> kKnown = {"name", "subject", "text", "html", "publish"};
  for (const auto& [k, v] : body)
    if (!kKnown.count(std::string(k)))
      errors.push_back({"/" + PointerToken(std::string(k)),
                        "unknown field; a template has name, subject, text, html and publish"});
  if (auto* v = body.if_contains("name")) {
    if (!v->is_string()) {
      errors.push_back({"/name", "must be a string"});
    } else {
      std::string name(v->as_string());
      if (auto p = TemplateNameProblem(name)) errors.push_back({"/name", *p});
      else out.name = std::move(name);
    }
  }
  for (const char* field : {"subject", "text", "html"}) {
    auto* v = body.if_contains(field);
    if (!v) continue;
    const std::string ptr = std::string("/") + field;
    std::string src;
    if (v->is_string()) {
      src = std::string(v->as_string());
    } else if (!v->is_null()) {
      errors.push_back({ptr, "must be a string (a Mustache template)"});
      continue;
    }
    if (src.find('\0') != std::string::npos) {
      errors.push_back({ptr, "contains a NUL character"});
      continue;
    }
    if (field == std::string_view("subject") && src.find_first_of("\r\n") != std::string::npos) {
      errors.push_back({ptr, "must be one line (no CR or LF)"});
      continue;
    }
    if (auto parsed = templates::Template::Parse(src); !parsed) {
      errors.push_back({ptr, parsed.error().message});
      continue;
    }
    (field == std::string_view("subject") ? out.subject : field == std::string_view("text") ? out.text : out.html) =
        std::move(src);
  }
  if (auto* v = body.if_contains("publish")) {
    if (!v->is_bool()) errors.push_back({"/publish", "must be true or false"});
    else out.publish = v->as_bool();
  }
}

void RequireTemplateContent(const std::string& subject, const std::string& text, const std::string& html,
                            std::vector<FieldError>& errors) {
  if (subject.empty()) errors.push_back({"/subject", "required: the subject line, e.g. \"Your order {{order.id}}\""});
  if (text.empty() && html.empty()) errors.push_back({"/text", "required: a text or an html body (or both)"});
}

std::optional<int> ParseVersionNumber(const std::string& segment) {
  if (segment.empty() || segment.size() > 9 || segment[0] == '0') return std::nullopt;
  int n = 0;
  for (char c : segment) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

Result<TemplateContent> FindStoredTemplate(store::Store& store, const std::string& account,
                                           const std::string& id_or_name, int version) {
  auto t = store.FindTemplate(account, id_or_name);
  if (!t) return t.error();
  if (!*t)
    return MakeError(ErrorCode::kNotFound, "no template '" + id_or_name +
                                               "' in this account; list them with GET /v1/templates or create it "
                                               "with POST /v1/templates");
  const auto& tpl = **t;
  const int wanted = version > 0 ? version : tpl.published_version;
  if (wanted == 0)
    return MakeError(ErrorCode::kNotFound,
                     "template '" + tpl.name + "' (" + tpl.id + ") has no published version: publish one with POST /v1/templates/" +
                         tpl.id + "/versions/" + std::to_string(tpl.latest_version) +
                         "/publish, or name one with \"template_version\"");
  auto v = store.FindTemplateVersion(account, tpl.id, wanted);
  if (!v) return v.error();
  if (!*v)
    return MakeError(ErrorCode::kNotFound, "template '" + tpl.name + "' (" + tpl.id + ") has no version " +
                                               std::to_string(wanted) + "; its versions are 1 to " +
                                               std::to_string(tpl.latest_version));
  return TemplateContent{tpl.id, tpl.name, wanted, (*v)->subject, (*v)->text, (*v)->html};
}

namespace {

HttpResponse StoreProblem(const Error& e) {
  switch (e.code) {
    case ErrorCode::kNotFound: return Problem(404, "Not Found", e.message);
    case ErrorCode::kAlreadyExists: return Problem(409, "Conflict", e.message);
    default: return Problem(503, "Unavailable", "templates cannot be read or written now: " + e.message);
  }
}

HttpResponse NoTemplate(const std::string& id) {
  return Problem(404, "Not Found", "no template '" + id + "' in this account; list them with GET /v1/templates");
}

// The request body as a JSON object; an empty body counts as {} where `empty_ok`.
std::optional<json::object> ParseBody(const HttpRequest& req, bool empty_ok, Reply& reply) {
  if (empty_ok && req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty()) {
    reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
    return std::nullopt;
  }
  if (!body.is_object()) {
    reply(Problem(400, "Malformed JSON", "the body must be a JSON object"));
    return std::nullopt;
  }
  return std::move(body.as_object());
}

json::value Time(int64_t micros) { return json::value(FormatTimeUtc(micros)); }

json::value VersionOrNull(int v) { return v > 0 ? json::value(v) : json::value(nullptr); }

json::object Summary(const store::StoredTemplate& t) {
  return json::object{{"id", t.id},
                      {"name", t.name},
                      {"created_at", Time(t.created_at)},
                      {"updated_at", Time(t.updated_at)},
                      {"published_version", VersionOrNull(t.published_version)},
                      {"latest_version", t.latest_version}};
}

json::object VersionView(const store::TemplateVersion& v, bool published) {
  return json::object{{"version", v.version}, {"created_at", Time(v.created_at)}, {"published", published},
                      {"subject", v.subject}, {"text", v.text},                   {"html", v.html}};
}

// A template with its versions and the published version's content.
HttpResponse TemplateResponse(ApiContext& ctx, const store::StoredTemplate& t, int status) {
  json::object out = Summary(t);
  json::array versions;
  for (const auto& v : t.versions)
    versions.push_back(json::object{
        {"version", v.version}, {"created_at", Time(v.created_at)}, {"published", v.version == t.published_version}});
  out["versions"] = std::move(versions);
  out["published"] = nullptr;
  if (t.published_version > 0) {
    auto v = ctx.store.FindTemplateVersion(t.account, t.id, t.published_version);
    if (!v) return StoreProblem(v.error());
    if (*v) out["published"] = VersionView(**v, true);
  }
  auto res = Json(status, json::serialize(out));
  if (status == 201) res.headers.emplace_back("Location", "/v1/templates/" + t.id);
  return res;
}

// The caller's template named by the {id} segment (an id or a name); replies 404 itself when absent.
std::optional<store::StoredTemplate> Lookup(ApiContext& ctx, const RouteContext& rc, Reply& reply) {
  const std::string& id = rc.params.at("id");
  auto t = ctx.store.FindTemplate(rc.who.account, id);
  if (!t) {
    reply(StoreProblem(t.error()));
    return std::nullopt;
  }
  if (!*t) {
    reply(NoTemplate(id));
    return std::nullopt;
  }
  return std::move(**t);
}

std::optional<int> LookupVersion(const store::StoredTemplate& t, const std::string& segment, Reply& reply) {
  auto v = ParseVersionNumber(segment);
  bool exists = v && std::any_of(t.versions.begin(), t.versions.end(), [&](const auto& x) { return x.version == *v; });
  if (!exists) {
    reply(Problem(404, "Not Found",
                  "template '" + t.name + "' has no version " + segment + "; its versions are 1 to " +
                      std::to_string(t.latest_version)));
    return std::nullopt;
  }
  return v;
}

void HandleCreate(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto body = ParseBody(req, false, reply);
  if (!body) return;
  TemplateFields f;
  std::vector<FieldError> errors;
  ParseTemplateFields(*body, f, errors);
  if (!body->if_contains("name")) errors.push_back({"/name", "required: a name unique in this account, e.g. \"welcome\""});
  // A field that failed to parse is reported already; do not also call it missing.
  if (std::none_of(errors.begin(), errors.end(), [](const FieldError& e) {
        return e.pointer == "/subject" || e.pointer == "/text" || e.pointer == "/html";
      }))
    RequireTemplateContent(f.subject.value_or(""), f.text.value_or(""), f.html.value_or(""), errors);
  if (!errors.empty()) return reply(Invalid(errors));
  store::TemplateVersion first{0, f.subject.value_or(""), f.text.value_or(""), f.html.value_or(""), 0};
  auto t = ctx.store.CreateTemplate(rc.who.account, *f.name, first, f.publish.value_or(true));
  if (!t) return reply(StoreProblem(t.error()));
  reply(TemplateResponse(ctx, *t, 201));
}

void HandleList(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto list = ctx.store.ListTemplates(rc.who.account);
  if (!list) return reply(StoreProblem(list.error()));
  json::array data;
  for (const auto& t : *list) data.push_back(Summary(t));
  reply(Json(200, json::serialize(json::object{{"data", std::move(data)}})));
}

void HandleGet(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto t = Lookup(ctx, rc, reply);
  if (!t) return;
  reply(TemplateResponse(ctx, *t, 200));
}

// PUT replaces the content (absent text or html: none); PATCH keeps the newest version's value of every
// field it does not give. A change of content adds a version, published only with "publish": true.
void HandleUpdate(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply, bool merge) {
  auto body = ParseBody(req, false, reply);
  if (!body) return;
  auto t = Lookup(ctx, rc, reply);
  if (!t) return;
  TemplateFields f;
  std::vector<FieldError> errors;
  ParseTemplateFields(*body, f, errors);
  if (!errors.empty()) return reply(Invalid(errors));
  const bool content = body->if_contains("subject") || body->if_contains("text") || body->if_contains("html");
  store::TemplateUpdate update;
  if (f.name && *f.name != t->name) update.name = f.name;
  if (!merge || content) {
    store::TemplateVersion next{0, f.subject.value_or(""), f.text.value_or(""), f.html.value_or(""), 0};
    if (merge) {
      auto latest = ctx.store.FindTemplateVersion(rc.who.account, t->id, t->latest_version);
      if (!latest) return reply(StoreProblem(latest.error()));
      if (*latest) {
        if (!body->if_contains("subject")) next.subject = (*latest)->subject;
        if (!body->if_contains("text")) next.text = (*latest)->text;
        if (!body->if_contains("html")) next.html = (*latest)->html;
      }
    }
    RequireTemplateContent(next.subject, next.text, next.html, errors);
    update.content = std::move(next);
    update.publish = f.publish.value_or(false);
  } else if (f.publish) {
    errors.push_back({"/publish", "publish applies to the version this request creates, and it gives no subject, text "
                                  "or html; to publish an existing version use POST /v1/templates/" +
                                      t->id + "/versions/{version}/publish"});
  } else if (!f.name) {
    errors.push_back({"", "nothing to change: give a name, or subject, text or html for a new version"});
  }
  if (!errors.empty()) return reply(Invalid(errors));
  if (!update.name && !update.content) return reply(TemplateResponse(ctx, *t, 200));  // same name, nothing else
  auto updated = ctx.store.UpdateTemplate(rc.who.account, t->id, update);
  if (!updated) return reply(StoreProblem(updated.error()));
  reply(TemplateResponse(ctx, *updated, 200));
}

void HandlePublish(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto t = Lookup(ctx, rc, reply);
  if (!t) return;
  auto v = LookupVersion(*t, rc.params.at("version"), reply);
  if (!v) return;
  if (auto r = ctx.store.PublishTemplateVersion(rc.who.account, t->id, *v); !r) return reply(StoreProblem(r.error()));
  auto after = ctx.store.FindTemplate(rc.who.account, t->id);
  if (!after) return reply(StoreProblem(after.error()));
  if (!*after) return reply(NoTemplate(t->id));  // deleted meanwhile
  reply(TemplateResponse(ctx, **after, 200));
}

void HandleGetVersion(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto t = Lookup(ctx, rc, reply);
  if (!t) return;
  auto v = LookupVersion(*t, rc.params.at("version"), reply);
  if (!v) return;
  auto content = ctx.store.FindTemplateVersion(rc.who.account, t->id, *v);
  if (!content) return reply(StoreProblem(content.error()));
  if (!*content) return reply(NoTemplate(t->id));
  json::object out = VersionView(**content, *v == t->published_version);
  out["template"] = json::object{{"id", t->id}, {"name", t->name}};
  reply(Json(200, json::serialize(out)));
}

void HandleDelete(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto t = Lookup(ctx, rc, reply);
  if (!t) return;
  if (auto r = ctx.store.DeleteTemplate(rc.who.account, t->id); !r) return reply(StoreProblem(r.error()));
  reply(Json(200, json::serialize(json::object{{"id", t->id}, {"name", t->name}, {"status", "deleted"}})));
}

// POST /v1/templates/{id}/render {"variables": {...}, "version": n}: the published version (or, when
// none is published, the newest) rendered as a send would render it, and the names it could not find.
void HandleRender(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto body = ParseBody(req, true, reply);
  if (!body) return;
  auto t = Lookup(ctx, rc, reply);
  if (!t) return;
  std::vector<FieldError> errors;
  for (const auto& [k, v] : *body)
    if (k != "variables" && k != "version")
      errors.push_back({"/" + PointerToken(std::string(k)), "unknown field; give variables and, optionally, version"});
  json::value variables(nullptr);
  if (auto* v = body->if_contains("variables"); v && !v->is_null()) {
    if (!v->is_object()) errors.push_back({"/variables", "must be an object such as {\"name\": \"Ada\"}"});
    else variables = *v;
  }
  int version = t->published_version > 0 ? t->published_version : t->latest_version;
  if (auto* v = body->if_contains("version"); v && !v->is_null()) {
    if (!v->is_int64() || v->as_int64() < 1 || v->as_int64() > t->latest_version)
      errors.push_back({"/version", "template '" + t->name + "' has versions 1 to " + std::to_string(t->latest_version)});
    else version = static_cast<int>(v->as_int64());
  }
  if (!errors.empty()) return reply(Invalid(errors));
  auto content = ctx.store.FindTemplateVersion(rc.who.account, t->id, version);
  if (!content) return reply(StoreProblem(content.error()));
  if (!*content) return reply(NoTemplate(t->id));
  json::object out{{"template", json::object{{"id", t->id}, {"name", t->name}, {"version", version}}}};
  json::array missing;
  std::set<std::string> seen;
  struct Field {
    const char* name;
    const std::string& source;
    bool html;
  } fields[] = {{"subject", (*content)->subject, false}, {"text", (*content)->text, false}, {"html", (*content)->html, true}};
  for (const auto& f : fields) {
    auto r = templates::Render(f.source, variables, f.html);
    if (!r) {
      // Templates are checked when stored, so what fails here is the variables (nested too deep).
      errors.push_back({r.error().code == ErrorCode::kInvalidArgument ? "/variables" : std::string("/") + f.name,
                        r.error().message});
      break;
    }
    out[f.name] = std::move(r->text);
    for (auto& m : r->missing)
      if (seen.insert(m).second) missing.emplace_back(m);
  }
  if (!errors.empty()) return reply(Invalid(errors));
  out["missing"] = std::move(missing);
  reply(Json(200, json::serialize(out)));
}

}  // namespace

void AddTemplateRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  auto add = [&](const char* method, const char* pattern, Scope scope,
                 void (*handler)(ApiContext&, const HttpRequest&, const RouteContext&, Reply)) {
    router.Add(Route{method, pattern, scope, [ctx, handler](const HttpRequest& q, const RouteContext& rc, Reply r) {
                       handler(*ctx, q, rc, std::move(r));
                     }});
  };
  add("POST", "/v1/templates", Scope::kSend, HandleCreate);
  add("GET", "/v1/templates", Scope::kRead, HandleList);
  add("GET", "/v1/templates/{id}", Scope::kRead, HandleGet);
  add("PUT", "/v1/templates/{id}", Scope::kSend,
      [](ApiContext& c, const HttpRequest& q, const RouteContext& rc, Reply r) { HandleUpdate(c, q, rc, std::move(r), false); });
  add("PATCH", "/v1/templates/{id}", Scope::kSend,
      [](ApiContext& c, const HttpRequest& q, const RouteContext& rc, Reply r) { HandleUpdate(c, q, rc, std::move(r), true); });
  add("DELETE", "/v1/templates/{id}", Scope::kSend, HandleDelete);
  add("GET", "/v1/templates/{id}/versions/{version}", Scope::kRead, HandleGetVersion);
  add("POST", "/v1/templates/{id}/versions/{version}/publish", Scope::kSend, HandlePublish);
  add("POST", "/v1/templates/{id}/render", Scope::kRead, HandleRender);
}

}  // namespace kurier::api
