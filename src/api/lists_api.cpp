// lists_api.cpp - an account's contact lists (issue 17): GET/POST /v1/lists, GET/DELETE /v1/lists/{id},
// PUT/DELETE /v1/lists/{id}/members/{contact}. A list is a name (unique per account, any case), a
// description and whether it asks new subscribers to confirm (double opt-in); each member has a status
// (subscribed, unconfirmed, unsubscribed) and the consent record of how it got there (time, IP, user
// agent, source), which is what a data-protection audit asks for and is exported with the contact.
//
// SECURITY: reads need the read scope, changes the send scope; a key only reaches its own account's lists.
// STANDARDS: RFC 9457 (problem details).
#include <boost/json.hpp>

#include "api/api_service.hpp"
#include "api/contacts_api.hpp"
#include "api/json_body.hpp"
#include "api/router.hpp"
#include "audience/contact_row.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

HttpResponse StoreDown(const Error& e) {
  return Problem(503, "Unavailable", "the lists could not be read or written (" + e.message + "); retry");
}

json::object ListView(const store::ContactList& l) {
  return json::object{{"id", l.id},
                      {"name", l.name},
                      {"description", l.description},
                      {"double_opt_in", l.double_opt_in},
                      {"created_at", FormatTimeUtc(l.created_at)},
                      {"members", json::object{{"subscribed", l.subscribed},
                                               {"unconfirmed", l.unconfirmed},
                                               {"unsubscribed", l.unsubscribed}}}};
}

void HandleList(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto lists = ctx.store.ListLists(rc.who.account);
  if (!lists) return reply(StoreDown(lists.error()));
  json::array items;
  for (const auto& l : lists.value()) items.push_back(ListView(l));
  reply(Json(200, json::serialize(json::object{{"data", std::move(items)}})));
}

// {"name": ..., "description": ..., "double_opt_in": false}
void HandleCreate(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty())
    return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
  FieldErrors err;
  store::ContactList l;
  l.account = rc.who.account;
  if (!body.is_object()) err.Add("", "the body must be a JSON object: {\"name\": ...}");
  else
    for (const auto& [k, v] : body.as_object()) {
      if (k == "name") {
        if (!v.is_string() || v.as_string().empty() || v.as_string().size() > 100 || v.as_string().starts_with("list_"))
          err.Add("/name", "must be a name of 1 to 100 bytes that does not start with list_");
        else l.name = std::string(v.as_string());
      } else if (k == "description") {
        if (!v.is_string() || v.as_string().size() > 1000) err.Add("/description", "must be a string of at most 1000 bytes");
        else l.description = std::string(v.as_string());
      } else if (k == "double_opt_in") {
        if (!v.is_bool()) err.Add("/double_opt_in", "must be true or false");
        else l.double_opt_in = v.as_bool();
      } else {
        err.Add("/" + PointerToken(k), "unknown member; use name, description, double_opt_in");
      }
    }
  if (l.name.empty() && err.empty()) err.Add("/name", "give the list a name");
  if (!err.empty()) return reply(Invalid(err));
  auto created = ctx.store.CreateList(l);
  if (!created) {
    if (created.error().code == ErrorCode::kAlreadyExists) return reply(Problem(409, "Conflict", created.error().message));
    return reply(StoreDown(created.error()));
  }
  reply(Json(201, json::serialize(ListView(created.value()))));
}

Result<std::optional<store::ContactList>> PathList(ApiContext& ctx, const RouteContext& rc) {
  return ctx.store.FindList(rc.who.account, rc.params.at("id"));
}

HttpResponse NoList(const RouteContext& rc) {
  return Problem(404, "Not Found", "no list '" + rc.params.at("id") + "' in this account; GET /v1/lists shows them");
}

void HandleGet(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto l = PathList(ctx, rc);
  if (!l) return reply(StoreDown(l.error()));
  if (!*l) return reply(NoList(rc));
  reply(Json(200, json::serialize(ListView(**l))));
}

void HandleDelete(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto l = PathList(ctx, rc);
  if (!l) return reply(StoreDown(l.error()));
  if (!*l) return reply(NoList(rc));
  if (auto r = ctx.store.DeleteList(rc.who.account, (*l)->id); !r) return reply(StoreDown(r.error()));
  HttpResponse res;
  res.status = 204;
  reply(std::move(res));
}

// PUT {"status": "subscribed"} (the default) puts the contact on the list; DELETE takes it off.
void HandleMember(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto l = PathList(ctx, rc);
  if (!l) return reply(StoreDown(l.error()));
  if (!*l) return reply(NoList(rc));
  std::string contact_ref = rc.params.at("contact");
  if (contact_ref.find('@') != std::string::npos) {
    if (auto a = audience::NormalizeContactAddress(contact_ref)) contact_ref = *a;
  }
  auto c = ctx.store.FindContact(rc.who.account, contact_ref);
  if (!c) return reply(StoreDown(c.error()));
  if (!*c) return reply(Problem(404, "Not Found", "no contact '" + rc.params.at("contact") + "' in this account; add it with POST /v1/contacts"));
  std::string status;
  if (req.method == "PUT") {
    status = "subscribed";
    json::value body;
    if (!req.body.empty()) {
      if (std::string bad = ParseJson(req.body, body); !bad.empty())
        return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
      const auto* s = body.is_object() ? body.as_object().if_contains("status") : nullptr;
      if (!body.is_object() || body.as_object().size() != (s ? 1u : 0u) ||
          (s && (!s->is_string() || (s->as_string() != "subscribed" && s->as_string() != "unsubscribed" &&
                                     s->as_string() != "unconfirmed"))))
        return reply(Invalid(std::vector<FieldError>{{"/status", "the body is {\"status\": \"subscribed\"|\"unconfirmed\"|\"unsubscribed\"} or empty"}}));
      if (s) status = std::string(s->as_string());
    }
  }
  // A new membership gets the request's consent record; one already there keeps its own.
  bool member = false;
  for (const auto& m : (*c)->lists) member = member || m.list_id == (*l)->id;
  const std::string consent = req.method == "PUT" && !member ? json::serialize(json::object{
                                                        {"source", "api"}, {"time", FormatTimeUtc(NowMicros())},
                                                        {"ip", req.client_ip}, {"user_agent", req.Header("user-agent")}})
                                                  : "";
  auto r = ctx.store.SetMembership(rc.who.account, (*l)->id, (*c)->id, status, consent);
  if (!r) return reply(StoreDown(r.error()));
  if (req.method == "DELETE" && !r.value())
    return reply(Problem(404, "Not Found", (*c)->address + " is not on list " + (*l)->name));
  auto after = ctx.store.FindContact(rc.who.account, (*c)->address);
  if (!after || !*after) return reply(StoreDown(after ? Error{ErrorCode::kStorage, "the contact was not found after the change"} : after.error()));
  reply(Json(200, json::serialize(ContactView(**after))));
}

}  // namespace

void AddListRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  AddContextRoute(router, ctx, "GET", "/v1/lists", Scope::kRead, HandleList);
  AddContextRoute(router, ctx, "POST", "/v1/lists", Scope::kSend, HandleCreate);
  AddContextRoute(router, ctx, "GET", "/v1/lists/{id}", Scope::kRead, HandleGet);
  AddContextRoute(router, ctx, "DELETE", "/v1/lists/{id}", Scope::kSend, HandleDelete);
  AddContextRoute(router, ctx, "PUT", "/v1/lists/{id}/members/{contact}", Scope::kSend, HandleMember);
  AddContextRoute(router, ctx, "DELETE", "/v1/lists/{id}/members/{contact}", Scope::kSend, HandleMember);
}

}  // namespace kurier::api
