// campaigns_api.cpp - campaigns over HTTP (issue 17): POST/GET /v1/campaigns, GET /v1/campaigns/{id},
// POST /v1/campaigns/{id}/schedule|pause|resume|cancel, GET /v1/campaigns/{id}/results. A campaign is
// created as a draft (from, a stored template, an audience of lists, tags, tracking, spread), scheduled to
// start now or at a time, and sent by the runner (campaign_runner.cpp) exactly once per contact; pause
// stops it between batches, resume goes on from where it stopped, cancel ends it. Results count what its
// messages' events say, unique and total.
//
// SECURITY: reads need the read scope, changes the send scope; a key reaches its own account's campaigns.
// The sender must be one the account may send from (the same rule as every send).
// STANDARDS: RFC 3339 (start_at), RFC 9457 (problem details).
#include <boost/json.hpp>
#include <set>

#include "api/api_service.hpp"
#include "api/campaigns.hpp"
#include "api/json_body.hpp"
#include "api/router.hpp"
#include "common/ids.hpp"
#include "ingress/ingress.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

HttpResponse StoreDown(const Error& e) {
  return Problem(503, "Unavailable", "the campaigns could not be read or written (" + e.message + "); retry");
}

json::object CampaignView(const store::Campaign& k) {
  json::object o{{"id", k.id},
                 {"name", k.name},
                 {"state", k.state},
                 {"spec", json::parse(k.spec)},
                 {"targeted", k.targeted},
                 {"sent", k.sent},
                 {"created_at", FormatTimeUtc(k.created_at)},
                 {"updated_at", FormatTimeUtc(k.updated_at)}};
  o["start_at"] = k.start_at ? json::value(FormatTimeUtc(k.start_at)) : json::value(nullptr);
  o["started_at"] = k.started_at ? json::value(FormatTimeUtc(k.started_at)) : json::value(nullptr);
  o["finished_at"] = k.finished_at ? json::value(FormatTimeUtc(k.finished_at)) : json::value(nullptr);
  return o;
}

std::optional<bool> Flag(const json::object& o, const char* name, FieldErrors& err) {
  const auto* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (!v->is_bool()) {
    err.Add(std::string("/") + name, "must be true or false");
    return std::nullopt;
  }
  return v->as_bool();
}

// The body's audience: lists by id or name (resolved to ids) and an optional segment.
void ReadAudience(ApiContext& ctx, const std::string& account, const json::value* a, CampaignSpec& s, FieldErrors& err,
                  std::optional<Error>& down) {
  const auto* o = a ? a->if_object() : nullptr;
  const auto* lists = o ? o->if_contains("lists") : nullptr;
  if (!lists || !lists->is_array() || lists->as_array().empty() || lists->as_array().size() > 100) {
    err.Add("/audience/lists", "give the lists to send to: {\"audience\": {\"lists\": [\"newsletter\"]}} (1 to 100 ids or names)");
    return;
  }
  for (std::size_t i = 0; i < lists->as_array().size(); ++i) {
    const auto& v = lists->as_array()[i];
    const std::string at = "/audience/lists/" + std::to_string(i);
    if (!v.is_string()) {
      err.Add(at, "must be a list id or name");
      continue;
    }
    auto l = ctx.store.FindList(account, std::string(v.as_string()));
    if (!l) {
      down = l.error();
      return;
    }
    if (!*l) err.Add(at, "no list '" + std::string(v.as_string()) + "' in this account; GET /v1/lists shows them");
    else s.lists.push_back((*l)->id);
  }
  if (const auto* seg = o->if_contains("segment")) {
    if (!seg->is_string()) err.Add("/audience/segment", "must be a segment query, e.g. \"attributes.country = \\\"PL\\\" and opened(within: 30d)\"");
    else if (auto c = CompileAudienceSegment(ctx, std::string(seg->as_string()), NowMicros()); !c)
      err.Add("/audience/segment", c.error().message);
    else s.segment = std::string(seg->as_string());
  }
  for (const auto& [k, v] : *o)
    if (k != "lists" && k != "segment") err.Add("/audience/" + PointerToken(k), "unknown member; use lists, segment");
}

// The sending part of a create request; errors name the members.
void ReadSpec(ApiContext& ctx, const std::string& account, const json::object& o, CampaignSpec& s, FieldErrors& err,
              std::optional<Error>& down) {
  std::string why;
  if (const auto* f = o.if_contains("from"); !f || !f->is_string()) {
    err.Add("/from", "give the sender: \"Shop <news@shop.example.com>\"");
  } else if (auto a = mime::ParseAddressText(f->as_string(), why); !a) {
    err.Add("/from", "must be one address: \"news@shop.example.com\" or \"Shop <news@shop.example.com>\"" +
                         (why.empty() ? "" : " (" + why + ")"));
  } else if (auto problem = mime::ValidateAddress(a->email)) {
    err.Add("/from", *problem);
  } else if (auto refused = ingress::Ingress(ctx.store, ctx.spool).SenderProblem(account, a->email)) {
    err.Add("/from", *refused);
  } else {
    s.from = *a;
  }
  if (const auto* t = o.if_contains("template"); !t || !t->is_string() || t->as_string().empty()) {
    err.Add("/template", "give the stored template to send (its id or name; POST /v1/templates makes one)");
  } else {
    s.template_ref = std::string(t->as_string());
    int64_t version = 0;
    if (const auto* v = o.if_contains("template_version")) {
      if (!v->is_int64() || v->as_int64() < 1) err.Add("/template_version", "must be a version number (1, 2, ...)");
      else version = v->as_int64();
    }
    s.template_version = static_cast<int>(version);
    if (auto found = FindStoredTemplate(ctx.store, account, s.template_ref, s.template_version); !found)
      err.Add(version ? "/template_version" : "/template", found.error().message);
  }
  if (const auto* subj = o.if_contains("subject")) {
    if (!subj->is_string() || subj->as_string().size() > 998) err.Add("/subject", "must be a string of at most 998 bytes");
    else s.subject = std::string(subj->as_string());
  }
  ReadAudience(ctx, account, o.if_contains("audience"), s, err, down);
  if (const auto* tags = o.if_contains("tags")) {
    bool ok = tags->is_array() && tags->as_array().size() <= 10;
    for (const auto& t : ok ? tags->as_array() : json::array{}) ok = ok && t.is_string() && !t.as_string().empty() && t.as_string().size() <= 64;
    if (!ok) err.Add("/tags", "must be an array of at most 10 strings of 1 to 64 bytes");
    else s.tags = json::serialize(*tags);
  }
  s.track_opens = Flag(o, "track_opens", err).value_or(true);
  s.track_clicks = Flag(o, "track_clicks", err).value_or(true);
  s.list_unsubscribe = Flag(o, "list_unsubscribe", err).value_or(true);
  if (const auto* h = o.if_contains("spread_hours")) {
    if (!h->is_number() || h->to_number<double>() < 0 || h->to_number<double>() > 24 * 31)
      err.Add("/spread_hours", "must be a number of hours from 0 (as fast as allowed) to 744");
    else s.spread_hours = h->to_number<double>();
  }
  if (const auto* m = o.if_contains("max_per_hour")) {
    if (!m->is_int64() || m->as_int64() < 0) err.Add("/max_per_hour", "must be a whole number of messages (0: no cap)");
    else s.max_per_hour = m->as_int64();
  }
  if (const auto* v = o.if_contains("variables")) {
    if (!v->is_object() || json::serialize(*v).size() > 16 * 1024)
      err.Add("/variables", "must be an object of template variable defaults (at most 16 KiB)");
    else s.variables = v->as_object();
  }
}

void HandleCreate(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty())
    return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
  if (!body.is_object()) return reply(Invalid(std::vector<FieldError>{{"", "the body must be a JSON object"}}));
  const auto& o = body.as_object();
  FieldErrors err;
  std::optional<Error> down;
  store::Campaign k;
  k.account = rc.who.account;
  if (const auto* n = o.if_contains("name"); !n || !n->is_string() || n->as_string().empty() || n->as_string().size() > 100 ||
                                             n->as_string().starts_with("cmp_"))
    err.Add("/name", "give the campaign a name of 1 to 100 bytes that does not start with cmp_");
  else k.name = std::string(n->as_string());
  static const std::set<std::string> known = {"name", "from", "subject", "template", "template_version", "audience", "tags",
                                              "track_opens", "track_clicks", "list_unsubscribe", "spread_hours",
                                              "max_per_hour", "variables"};
  for (const auto& [key, v] : o)
    if (!known.count(std::string(key)))
      err.Add("/" + PointerToken(key), "unknown member; use name, from, subject, template, template_version, audience, "
                                       "tags, track_opens, track_clicks, list_unsubscribe, spread_hours, max_per_hour, variables");
  CampaignSpec s;
  ReadSpec(ctx, rc.who.account, o, s, err, down);
  if (down) return reply(StoreDown(*down));
  if (!err.empty()) return reply(Invalid(err));
  k.spec = CampaignSpecJson(s);
  auto created = ctx.store.CreateCampaign(k);
  if (!created) {
    if (created.error().code == ErrorCode::kAlreadyExists) return reply(Problem(409, "Conflict", created.error().message));
    return reply(StoreDown(created.error()));
  }
  reply(Json(201, json::serialize(CampaignView(*created))));
}

void HandleList(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto all = ctx.store.ListCampaigns(rc.who.account);
  if (!all) return reply(StoreDown(all.error()));
  json::array items;
  for (const auto& k : *all) items.push_back(CampaignView(k));
  reply(Json(200, json::serialize(json::object{{"data", std::move(items)}})));
}

std::optional<store::Campaign> PathCampaign(ApiContext& ctx, const RouteContext& rc, Reply& reply) {
  auto k = ctx.store.FindCampaign(rc.who.account, rc.params.at("id"));
  if (!k) {
    reply(StoreDown(k.error()));
    return std::nullopt;
  }
  if (!*k) {
    reply(Problem(404, "Not Found", "no campaign '" + rc.params.at("id") + "' in this account; GET /v1/campaigns shows them"));
    return std::nullopt;
  }
  return **k;
}

void HandleGet(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  if (auto k = PathCampaign(ctx, rc, reply)) reply(Json(200, json::serialize(CampaignView(*k))));
}

// One state change: `from` the states it may leave, `to` the one it enters, with its event.
void ChangeState(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply,
                 const std::set<std::string>& from, const std::string& to, const std::string& event) {
  auto k = PathCampaign(ctx, rc, reply);
  if (!k) return;
  if (!from.count(k->state)) {
    std::string allowed;
    for (const auto& s : from) allowed += (allowed.empty() ? "" : ", ") + s;
    return reply(Problem(409, "Conflict", "campaign " + k->name + " is " + k->state + "; it can be made " + to +
                                              " only when " + allowed));
  }
  const std::string was = k->state;
  if (to == "scheduled") {
    k->start_at = NowMicros();
    json::value body;
    if (!req.body.empty()) {
      if (std::string bad = ParseJson(req.body, body); !bad.empty())
        return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
      const auto* at = body.is_object() ? body.as_object().if_contains("start_at") : nullptr;
      std::optional<int64_t> t = at && at->is_string() ? ParseRfc3339(std::string(at->as_string())) : std::nullopt;
      if (!body.is_object() || body.as_object().size() != (at ? 1u : 0u) || (at && !t))
        return reply(Invalid(std::vector<FieldError>{{"/start_at", "the body is {} (start now) or {\"start_at\": \"2026-12-24T08:00:00Z\"}"}}));
      if (t) k->start_at = *t;
    }
  }
  if (to == "cancelled") k->finished_at = NowMicros();
  k->state = to;
  auto r = ctx.store.UpdateCampaign(*k, was);
  if (!r) return reply(StoreDown(r.error()));
  if (!*r) return reply(Problem(409, "Conflict", "campaign " + k->name + " changed meanwhile; read it and try again"));
  if (!event.empty()) RecordCampaignEvent(ctx, *k, event);
  reply(Json(200, json::serialize(CampaignView(*k))));
}

void HandleSchedule(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  ChangeState(ctx, req, rc, std::move(reply), {"draft"}, "scheduled", "campaign_scheduled");
}
void HandlePause(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  ChangeState(ctx, req, rc, std::move(reply), {"running"}, "paused", "campaign_paused");
}
void HandleResume(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  ChangeState(ctx, req, rc, std::move(reply), {"paused"}, "running", "campaign_resumed");
}
void HandleCancel(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  ChangeState(ctx, req, rc, std::move(reply), {"draft", "scheduled", "running", "paused"}, "cancelled", "campaign_cancelled");
}

void HandleResults(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto k = PathCampaign(ctx, rc, reply);
  if (!k) return;
  auto rows = ctx.store.CampaignCounts(k->account, k->id);
  if (!rows) return reply(StoreDown(rows.error()));
  auto count = [&](const std::string& type, const std::string& cls = "") {
    json::object c{{"total", 0}, {"unique", 0}};
    for (const auto& r : *rows)
      if (r.type == type && (cls.empty() || r.classification == cls)) {
        c["total"] = c["total"].as_int64() + r.total;
        c["unique"] = c["unique"].as_int64() + r.unique;
      }
    return c;
  };
  const int64_t sent = count("accepted")["unique"].as_int64();
  auto rate = [&](const json::object& c) { return sent ? static_cast<double>(c.at("unique").as_int64()) / static_cast<double>(sent) : 0.0; };
  json::object delivered = count("delivered"), opened = count("opened"), clicked = count("clicked"),
               hard = count("bounced", "hard"), soft = count("bounced", "soft"), complained = count("complained"),
               unsubscribed = count("unsubscribed");
  json::object res{{"campaign", k->id},
                   {"state", k->state},
                   {"targeted", k->targeted},
                   {"sent", sent},
                   {"delivered", delivered},
                   {"deferred", count("deferred")},
                   {"bounced", json::object{{"hard", hard}, {"soft", soft}}},
                   {"opened", opened},
                   {"clicked", clicked},
                   {"complained", complained},
                   {"unsubscribed", unsubscribed},
                   {"suppressed", count("suppressed")},
                   {"rates", json::object{{"delivered", rate(delivered)},
                                          {"opened", rate(opened)},
                                          {"clicked", rate(clicked)},
                                          {"bounced", rate(hard) + rate(soft)},
                                          {"complained", rate(complained)},
                                          {"unsubscribed", rate(unsubscribed)}}}};
  reply(Json(200, json::serialize(res)));
}

}  // namespace

void AddCampaignRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  AddContextRoute(router, ctx, "GET", "/v1/campaigns", Scope::kRead, HandleList);
  AddContextRoute(router, ctx, "POST", "/v1/campaigns", Scope::kSend, HandleCreate);
  AddContextRoute(router, ctx, "GET", "/v1/campaigns/{id}", Scope::kRead, HandleGet);
  AddContextRoute(router, ctx, "POST", "/v1/campaigns/{id}/schedule", Scope::kSend, HandleSchedule);
  AddContextRoute(router, ctx, "POST", "/v1/campaigns/{id}/pause", Scope::kSend, HandlePause);
  AddContextRoute(router, ctx, "POST", "/v1/campaigns/{id}/resume", Scope::kSend, HandleResume);
  AddContextRoute(router, ctx, "POST", "/v1/campaigns/{id}/cancel", Scope::kSend, HandleCancel);
  AddContextRoute(router, ctx, "GET", "/v1/campaigns/{id}/results", Scope::kRead, HandleResults);
}

}  // namespace kurier::api
