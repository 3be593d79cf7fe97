// webhooks_api.cpp - webhook endpoints of an account: POST/GET /v1/webhooks, GET/PATCH/DELETE
// /v1/webhooks/{id}, POST /v1/webhooks/{id}/rotate-secret, POST /v1/webhooks/{id}/test and GET
// /v1/webhooks/{id}/deliveries. Sending is the dispatcher's (webhooks/dispatcher.cpp).
//
// SECURITY: reads need the read scope, changes the send scope; a key sees only its own account's
// webhooks (another account's id is 404, as an unknown one). A secret is returned once, when created
// or rotated, and never in listings. During a rotation the previous secret keeps signing beside the
// new one for keep_previous_seconds (default 24 h), so receivers can switch without losing events.
// STANDARDS: Standard Webhooks v1, RFC 3986 (URLs), RFC 9457 (problem details).
#include <boost/json.hpp>
#include <set>

#include "api/api_service.hpp"
#include "api/json_body.hpp"
#include "api/router.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"
#include "webhooks/client.hpp"
#include "webhooks/dispatcher.hpp"
#include "webhooks/signature.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxWebhooksPerAccount = 20;

const std::set<std::string>& SubscribableTypes() {
  static const std::set<std::string> kTypes = {"accepted", "delivered", "deferred", "bounced", "opened", "clicked",
                                               "unsubscribed", "complained", "suppressed", "dsn", "deleted"};
  return kTypes;
}

json::object View(const store::Webhook& w, bool with_secret) {
  json::array types;
  for (const auto& t : w.event_types) types.emplace_back(t);
  json::object o{{"id", w.id},
                 {"url", w.url},
                 {"event_types", std::move(types)},
                 {"description", w.description},
                 {"enabled", w.enabled},
                 {"created_at", FormatTimeUtc(w.created_at)}};
  if (!w.disabled_reason.empty()) o["disabled_reason"] = w.disabled_reason;
  if (with_secret) o["secret"] = w.secret;
  if (!w.previous_secret.empty() && w.previous_secret_expires > NowMicros())
    o["previous_secret_expires"] = FormatTimeUtc(w.previous_secret_expires);
  return o;
}

HttpResponse StoreDown(const Error& e) {
  return Problem(503, "Unavailable", "webhooks could not be read or written (" + e.message + "); retry");
}

// Applies the fields of `body` to `w`; `creating` requires url.
void ApplyFields(const json::object& body, store::Webhook& w, bool creating, FieldErrors& err) {
  for (const auto& [k, v] : body) {
    if (k == "url") {
      if (!v.is_string()) {
        err.Add("/url", "must be an http:// or https:// URL");
        continue;
      }
      w.url = std::string(v.as_string());
      if (auto u = webhooks::ParseWebhookUrl(w.url); !u) err.Add("/url", u.error().message);
    } else if (k == "event_types") {
      w.event_types.clear();
      if (!v.is_array()) {
        err.Add("/event_types", "must be an array of event types ([] for all)");
        continue;
      }
      for (std::size_t i = 0; i < v.as_array().size(); ++i) {
        const auto& t = v.as_array()[i];
        if (!t.is_string() || !SubscribableTypes().count(std::string(t.as_string())))
          err.Add("/event_types/" + std::to_string(i),
                  "must be one of accepted, delivered, deferred, bounced, opened, clicked, unsubscribed, complained, "
                  "suppressed, dsn, deleted");
        else if (std::find(w.event_types.begin(), w.event_types.end(), t.as_string()) == w.event_types.end())
          w.event_types.emplace_back(t.as_string());
      }
    } else if (k == "description") {
      if (!v.is_string() || v.as_string().size() > 500) err.Add("/description", "must be a string of at most 500 characters");
      else w.description = std::string(v.as_string());
    } else if (k == "enabled") {
      if (!v.is_bool()) err.Add("/enabled", "must be true or false");
      else w.enabled = v.as_bool();
    } else {
      err.Add("/" + PointerToken(std::string(k)), "unknown field; use url, event_types, description, enabled");
    }
  }
  if (creating && w.url.empty() && err.empty()) err.Add("/url", "is required: the http:// or https:// URL to POST events to");
}

std::optional<json::object> BodyObject(const HttpRequest& req, Reply& reply, bool empty_ok) {
  if (empty_ok && req.body.empty()) return json::object{};
  json::value v;
  if (std::string bad = ParseJson(req.body, v); !bad.empty()) {
    reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
    return std::nullopt;
  }
  if (!v.is_object()) {
    reply(Invalid(std::vector<FieldError>{{"", "the body must be a JSON object"}}));
    return std::nullopt;
  }
  return v.as_object();
}

std::optional<store::Webhook> Find(ApiContext& ctx, const RouteContext& rc, Reply& reply) {
  const std::string& id = rc.params.at("id");
  auto w = ctx.store.FindWebhook(rc.who.account, id);
  if (!w) {
    reply(StoreDown(w.error()));
    return std::nullopt;
  }
  if (!w.value()) {
    reply(Problem(404, "Not Found", "no webhook " + id + " in this account; list them with GET /v1/webhooks"));
    return std::nullopt;
  }
  return *w.value();
}

void HandleCreate(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto body = BodyObject(req, reply, false);
  if (!body) return;
  FieldErrors err;
  store::Webhook w;
  w.account = rc.who.account;
  ApplyFields(*body, w, true, err);
  if (!err.empty()) return reply(Invalid(err));
  auto existing = ctx.store.ListWebhooks(rc.who.account);
  if (!existing) return reply(StoreDown(existing.error()));
  if (existing->size() >= kMaxWebhooksPerAccount)
    return reply(Problem(409, "Conflict", "this account has " + std::to_string(kMaxWebhooksPerAccount) +
                                              " webhooks already; delete one (DELETE /v1/webhooks/{id}) or subscribe one to more event types"));
  w.secret = webhooks::GenerateSecret();
  auto made = ctx.store.CreateWebhook(w);
  if (!made) return reply(StoreDown(made.error()));
  auto res = Json(201, json::serialize(View(made.value(), true)));
  res.headers.emplace_back("Location", "/v1/webhooks/" + made->id);
  reply(std::move(res));
}

void HandleList(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto list = ctx.store.ListWebhooks(rc.who.account);
  if (!list) return reply(StoreDown(list.error()));
  json::array items;
  for (const auto& w : list.value()) items.push_back(View(w, false));
  reply(Json(200, json::serialize(json::object{{"data", std::move(items)}})));
}

void HandleGet(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  if (auto w = Find(ctx, rc, reply)) reply(Json(200, json::serialize(View(*w, false))));
}

void HandlePatch(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto body = BodyObject(req, reply, false);
  if (!body) return;
  auto w = Find(ctx, rc, reply);
  if (!w) return;
  FieldErrors err;
  ApplyFields(*body, *w, false, err);
  if (!err.empty()) return reply(Invalid(err));
  if (auto r = ctx.store.UpdateWebhook(*w); !r) return reply(StoreDown(r.error()));
  auto again = ctx.store.FindWebhook(rc.who.account, w->id);
  if (!again || !again.value()) return reply(Problem(404, "Not Found", "webhook " + w->id + " was deleted meanwhile"));
  reply(Json(200, json::serialize(View(*again.value(), false))));
}

void HandleDelete(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto w = Find(ctx, rc, reply);
  if (!w) return;
  if (auto r = ctx.store.DeleteWebhook(rc.who.account, w->id); !r) return reply(StoreDown(r.error()));
  HttpResponse res;
  res.status = 204;
  reply(std::move(res));
}

// {"keep_previous_seconds": 86400}: the old secret keeps signing beside the new one that long.
void HandleRotate(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto body = BodyObject(req, reply, true);
  if (!body) return;
  auto w = Find(ctx, rc, reply);
  if (!w) return;
  int64_t keep = 86400;
  FieldErrors err;
  for (const auto& [k, v] : *body) {
    if (k == "keep_previous_seconds") {
      if (!v.is_int64() || v.as_int64() < 0 || v.as_int64() > 7 * 86400)
        err.Add("/keep_previous_seconds", "must be seconds from 0 (stop at once) to 604800 (a week)");
      else keep = v.as_int64();
    } else {
      err.Add("/" + PointerToken(std::string(k)), "unknown field; use keep_previous_seconds");
    }
  }
  if (!err.empty()) return reply(Invalid(err));
  // A secret that could not be decrypted (secret_error) is not kept: the new one replaces it.
  w->previous_secret = keep > 0 ? w->secret : "";
  w->secret_error.clear();
  w->previous_secret_expires = keep > 0 ? NowMicros() + keep * 1'000'000 : 0;
  w->secret = webhooks::GenerateSecret();
  if (auto r = ctx.store.UpdateWebhook(*w); !r) return reply(StoreDown(r.error()));
  reply(Json(200, json::serialize(View(*w, true))));
}

void HandleTest(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto w = Find(ctx, rc, reply);
  if (!w) return;
  if (!ctx.webhooks) return reply(Problem(503, "Unavailable", "webhooks are not running in this process; retry"));
  ctx.webhooks->SendTest(*w, [reply = std::move(reply)](webhooks::WebhookResponse res) {
    AnswerOnThrow(reply, "POST /v1/webhooks/{id}/test", [&] {  // runs on the webhook client's executor
      json::object o{{"delivered", res.error.empty()}, {"status", res.status}};
      if (!res.error.empty()) o["error"] = res.error;
      reply(Json(200, json::serialize(o)));
    });
  });
}

void HandleDeliveries(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto w = Find(ctx, rc, reply);
  if (!w) return;
  auto rows = ctx.store.ListWebhookDeliveries(w->id, 100);
  if (!rows) return reply(StoreDown(rows.error()));
  json::array items;
  for (const auto& r : rows.value()) {
    json::object o{{"event_id", std::to_string(r.event_id)}, {"event_type", r.event_type}, {"state", r.state},
                   {"attempts", r.attempts}, {"created_at", FormatTimeUtc(r.created_at)}};
    if (r.last_status) o["last_status"] = r.last_status;
    if (!r.last_error.empty()) o["last_error"] = r.last_error;
    if (r.state == "pending") o["next_attempt"] = FormatTimeUtc(r.next_attempt);
    items.push_back(std::move(o));
  }
  reply(Json(200, json::serialize(json::object{{"data", std::move(items)}})));
}

}  // namespace

void AddWebhookRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  AddContextRoute(router, ctx, "POST", "/v1/webhooks", Scope::kSend, HandleCreate);
  AddContextRoute(router, ctx, "GET", "/v1/webhooks", Scope::kRead, HandleList);
  AddContextRoute(router, ctx, "GET", "/v1/webhooks/{id}", Scope::kRead, HandleGet);
  AddContextRoute(router, ctx, "PATCH", "/v1/webhooks/{id}", Scope::kSend, HandlePatch);
  AddContextRoute(router, ctx, "DELETE", "/v1/webhooks/{id}", Scope::kSend, HandleDelete);
  AddContextRoute(router, ctx, "POST", "/v1/webhooks/{id}/rotate-secret", Scope::kSend, HandleRotate);
  AddContextRoute(router, ctx, "POST", "/v1/webhooks/{id}/test", Scope::kSend, HandleTest);
  AddContextRoute(router, ctx, "GET", "/v1/webhooks/{id}/deliveries", Scope::kRead, HandleDeliveries);
}

}  // namespace kurier::api
