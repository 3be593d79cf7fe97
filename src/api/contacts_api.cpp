// contacts_api.cpp - an account's contacts (issue 17): GET/POST /v1/contacts, GET/PATCH/DELETE
// /v1/contacts/{id}. A contact is an address (normalised: lower-cased, the domain as its IDNA A-label),
// a name, JSON attributes (the variables of campaign templates, the fields of segments) and a status read
// from the suppression list: PATCH {"status": "unsubscribed"} suppresses the address for the account,
// {"status": "active"} lifts the account's suppression, so the two never disagree. The CSV import and
// export are in contacts_import_api.cpp; lists in lists_api.cpp.
//
// SECURITY: reads need the read scope, changes the send scope; a key only reaches its own account's
// contacts. Attributes are bounded (16 KiB of JSON, 100 keys) and stored as data, never as SQL.
// STANDARDS: RFC 7396 (JSON merge patch, PATCH's attributes), RFC 5890/5891 (IDNA), RFC 9457 (problems).
#include <boost/json.hpp>

#include "api/api_service.hpp"
#include "api/campaigns.hpp"
#include "api/contacts_api.hpp"
#include "api/json_body.hpp"
#include "api/router.hpp"
#include "audience/contact_row.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxAttributesBytes = 16 * 1024;
constexpr std::size_t kMaxAttributes = 100;
constexpr std::size_t kMaxName = 200;

json::value ParsedOr(const std::string& text, json::value fallback) {
  json::value v;
  return ParseJson(text, v).empty() ? v : fallback;
}

HttpResponse StoreDown(const Error& e) {
  return Problem(503, "Unavailable", "the contacts could not be read or written (" + e.message + "); retry");
}

// RFC 7396: `patch` applied to `target` (null removes a key; objects merge; anything else replaces).
json::value MergePatch(json::value target, const json::value& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = json::object{};
  auto& t = target.as_object();
  for (const auto& [k, v] : patch.as_object()) {
    if (v.is_null()) t.erase(k);
    else t[k] = MergePatch(t.contains(k) ? t[k] : json::value(nullptr), v);
  }
  return target;
}

// An "attributes" member: a JSON object within the bounds; errors at `ptr`.
std::optional<json::object> Attributes(const json::value& v, const std::string& ptr, FieldErrors& err) {
  if (!v.is_object()) {
    err.Add(ptr, "must be a JSON object of attribute names and values, e.g. {\"country\": \"PL\"}");
    return std::nullopt;
  }
  if (v.as_object().size() > kMaxAttributes || json::serialize(v).size() > kMaxAttributesBytes) {
    err.Add(ptr, "at most " + std::to_string(kMaxAttributes) + " attributes and " +
                     std::to_string(kMaxAttributesBytes / 1024) + " KiB of JSON per contact");
    return std::nullopt;
  }
  return v.as_object();
}

std::optional<std::string> Name(const json::value& v, FieldErrors& err) {
  if (!v.is_string() || v.as_string().size() > kMaxName) {
    err.Add("/name", "must be a string of at most " + std::to_string(kMaxName) + " bytes");
    return std::nullopt;
  }
  return std::string(v.as_string());
}

void HandleList(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  store::ContactQuery q;
  q.account = rc.who.account;
  for (const auto& [k, v] : req.query) {
    long long n = 0;
    if (k == "limit") {
      if (!ParseInteger(v, 1, 1000, n)) err.Add("/query/limit", "must be a number from 1 to 1000");
      else q.limit = static_cast<std::size_t>(n);
    } else if (k == "cursor") {
      if (!ParseInteger(v, 0, INT64_MAX, n)) err.Add("/query/cursor", "must be the next_cursor of the previous page");
      else q.after_id = n;
    } else if (k == "search") {
      if (v.size() > 254) err.Add("/query/search", "must be at most 254 bytes");
      q.search = v;
    } else if (k == "status") {
      if (v != "active" && v != "unsubscribed" && v != "complained" && v != "bounced" && v != "suppressed")
        err.Add("/query/status", "must be active, unsubscribed, complained, bounced or suppressed");
      q.status = v;
    } else if (k == "list") {
      q.list_id = v;
    } else if (k == "segment") {
      auto where = CompileAudienceSegment(ctx, v, NowMicros());
      if (!where) err.Add("/query/segment", where.error().message);
      else q.where = std::move(where.value());
    } else {
      err.Add("/query/" + PointerToken(k), "unknown parameter; use search, list, status, segment, limit, cursor");
    }
  }
  if (!err.empty()) return reply(Invalid(err));
  if (!q.list_id.empty()) {
    auto l = ctx.store.FindList(q.account, q.list_id);
    if (!l) return reply(StoreDown(l.error()));
    if (!*l) return reply(Problem(404, "Not Found", "no list '" + q.list_id + "' in this account; GET /v1/lists shows them"));
    q.list_id = (*l)->id;
  }
  auto rows = ctx.store.ListContacts(q);
  if (!rows) return reply(StoreDown(rows.error()));
  json::array items;
  for (const auto& c : rows.value()) items.push_back(ContactView(c));
  json::object res{{"data", std::move(items)}};
  res["next_cursor"] = rows->size() == q.limit ? json::value(std::to_string(rows->back().id)) : json::value(nullptr);
  reply(Json(200, json::serialize(res)));
}

// The path's {id}: a contact id, or an address (normalised as stored).
std::string PathContact(const RouteContext& rc) {
  const std::string& raw = rc.params.at("id");
  if (raw.find('@') == std::string::npos) return raw;
  auto address = audience::NormalizeContactAddress(raw);
  return address ? *address : raw;
}

void HandleGet(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto c = ctx.store.FindContact(rc.who.account, PathContact(rc));
  if (!c) return reply(StoreDown(c.error()));
  if (!*c) return reply(Problem(404, "Not Found", "no contact '" + rc.params.at("id") + "' in this account"));
  reply(Json(200, json::serialize(ContactView(**c))));
}

// The lists named in `v` (ids or names) as ids; errors at `ptr`.
std::vector<std::string> ListIds(ApiContext& ctx, const std::string& account, const json::value& v, const std::string& ptr,
                                 FieldErrors& err, std::optional<Error>& down) {
  std::vector<std::string> ids;
  if (!v.is_array() || v.as_array().size() > 100) {
    err.Add(ptr, "must be an array of at most 100 list ids or names");
    return ids;
  }
  for (std::size_t i = 0; i < v.as_array().size(); ++i) {
    const auto& item = v.as_array()[i];
    if (!item.is_string()) {
      err.Add(ptr + "/" + std::to_string(i), "must be a list id or name");
      continue;
    }
    auto l = ctx.store.FindList(account, std::string(item.as_string()));
    if (!l) {
      down = l.error();
      return ids;
    }
    if (!*l) err.Add(ptr + "/" + std::to_string(i), "no list '" + std::string(item.as_string()) + "' in this account; create it with POST /v1/lists");
    else ids.push_back((*l)->id);
  }
  return ids;
}

std::string ApiConsent(const HttpRequest& req) {
  return json::serialize(json::object{{"source", "api"}, {"time", FormatTimeUtc(NowMicros())}, {"ip", req.client_ip},
                                      {"user_agent", req.Header("user-agent")}});
}

// {"address": ..., "name": ..., "attributes": {...}, "lists": [...]}: 201, or 409 when it exists.
void HandleCreate(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty())
    return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
  if (!body.is_object()) return reply(Invalid(std::vector<FieldError>{{"", "the body must be a JSON object: {\"address\": ...}"}}));
  FieldErrors err;
  store::ContactWrite w;
  std::vector<std::string> lists;
  std::optional<Error> down;
  for (const auto& [k, v] : body.as_object()) {
    if (k == "address") {
      auto a = v.is_string() ? audience::NormalizeContactAddress(v.as_string())
                             : Result<std::string>(MakeError(ErrorCode::kInvalidArgument, "must be an email address"));
      if (!a) err.Add("/address", a.error().message);
      else w.address = *a;
    } else if (k == "name") {
      if (auto n = Name(v, err)) w.name = *n;
    } else if (k == "attributes") {
      if (auto a = Attributes(v, "/attributes", err)) w.attributes = json::serialize(*a);
    } else if (k == "lists") {
      lists = ListIds(ctx, rc.who.account, v, "/lists", err, down);
    } else {
      err.Add("/" + PointerToken(k), "unknown member; use address, name, attributes, lists");
    }
  }
  if (down) return reply(StoreDown(*down));
  if (w.address.empty() && err.empty()) err.Add("/address", "give the contact's address");
  if (!err.empty()) return reply(Invalid(err));
  store::ContactSaveOptions skip;
  skip.mode = store::ContactSaveOptions::Mode::kSkip;
  auto saved = ctx.store.SaveContacts(rc.who.account, {w}, skip);
  if (!saved) return reply(StoreDown(saved.error()));
  auto c = ctx.store.FindContact(rc.who.account, w.address);
  if (!c || !*c) return reply(StoreDown(c ? Error{ErrorCode::kStorage, "the saved contact was not found"} : c.error()));
  if (saved->created == 0)
    return reply(Problem(409, "Conflict", "a contact with address " + w.address + " exists (id " + std::to_string((*c)->id) +
                                              "); change it with PATCH /v1/contacts/" + std::to_string((*c)->id)));
  for (const auto& id : lists)
    if (auto r = ctx.store.SetMembership(rc.who.account, id, (*c)->id, "subscribed", ApiConsent(req)); !r)
      return reply(StoreDown(r.error()));
  c = ctx.store.FindContact(rc.who.account, w.address);
  if (!c || !*c) return reply(StoreDown(c ? Error{ErrorCode::kStorage, "the saved contact was not found"} : c.error()));
  reply(Json(201, json::serialize(ContactView(**c))));
}

// What a PATCH asks, read and checked before anything changes.
struct ContactPatch {
  std::optional<std::string> name;
  std::optional<json::value> attributes;  ///< an RFC 7396 merge patch
  std::optional<std::string> status;
  std::vector<std::string> add, remove;   ///< list ids
};

std::optional<ContactPatch> ReadPatch(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply& reply) {
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty()) {
    reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
    return std::nullopt;
  }
  FieldErrors err;
  ContactPatch p;
  std::optional<Error> down;
  if (!body.is_object()) err.Add("", "the body must be a JSON object: {\"name\", \"attributes\", \"status\", \"lists\"}");
  else
    for (const auto& [k, v] : body.as_object()) {
      if (k == "name") {
        p.name = Name(v, err);
      } else if (k == "attributes") {
        if (Attributes(v, "/attributes", err)) p.attributes = v;
      } else if (k == "status") {
        if (!v.is_string() || (v.as_string() != "active" && v.as_string() != "unsubscribed"))
          err.Add("/status", "must be active or unsubscribed (bounces and complaints are set by what recipients' servers report)");
        else p.status = std::string(v.as_string());
      } else if (k == "lists") {
        const auto* o = v.if_object();
        if (!o) err.Add("/lists", "must be {\"add\": [list ids or names], \"remove\": [...]}");
        for (const auto& [op, ids] : o ? *o : json::object{}) {
          if (op == "add") p.add = ListIds(ctx, rc.who.account, ids, "/lists/add", err, down);
          else if (op == "remove") p.remove = ListIds(ctx, rc.who.account, ids, "/lists/remove", err, down);
          else err.Add("/lists/" + PointerToken(op), "unknown member; use add, remove");
        }
      } else {
        err.Add("/" + PointerToken(k), "unknown member; use name, attributes, status, lists");
      }
    }
  if (down) {
    reply(StoreDown(*down));
    return std::nullopt;
  }
  if (!err.empty()) {
    reply(Invalid(err));
    return std::nullopt;
  }
  return p;
}

Result<void> ApplyPatch(ApiContext& ctx, const HttpRequest& req, const std::string& account, const store::Contact& c,
                        const ContactPatch& p) {
  if (p.name || p.attributes) {
    json::value merged = p.attributes ? MergePatch(ParsedOr(c.attributes, json::object{}), *p.attributes)
                                      : ParsedOr(c.attributes, json::object{});
    if (json::serialize(merged).size() > kMaxAttributesBytes || merged.as_object().size() > kMaxAttributes)
      return MakeError(ErrorCode::kInvalidArgument, "the merged attributes pass the bounds (100 attributes, 16 KiB)");
    store::ContactSaveOptions replace;
    replace.mode = store::ContactSaveOptions::Mode::kReplace;
    auto r = ctx.store.SaveContacts(account, {{c.address, p.name.value_or(c.name), json::serialize(merged)}}, replace);
    if (!r) return r.error();
  }
  if (p.status == "unsubscribed") {
    if (auto r = ctx.store.AddSuppression({account, c.address, "unsubscribe", "contact status set through the API", "", NowMicros()}); !r)
      return r.error();
  } else if (p.status == "active") {
    if (auto r = ctx.store.RemoveSuppression(account, c.address); !r) return r.error();
  }
  for (const auto& id : p.add)
    if (auto r = ctx.store.SetMembership(account, id, c.id, "subscribed", ApiConsent(req)); !r) return r.error();
  for (const auto& id : p.remove)
    if (auto r = ctx.store.SetMembership(account, id, c.id, "", ""); !r) return r.error();
  return {};
}

void HandlePatch(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto c = ctx.store.FindContact(rc.who.account, PathContact(rc));
  if (!c) return reply(StoreDown(c.error()));
  if (!*c) return reply(Problem(404, "Not Found", "no contact '" + rc.params.at("id") + "' in this account"));
  auto patch = ReadPatch(ctx, req, rc, reply);
  if (!patch) return;
  if (auto r = ApplyPatch(ctx, req, rc.who.account, **c, *patch); !r) {
    if (r.error().code == ErrorCode::kInvalidArgument) return reply(Invalid(std::vector<FieldError>{{"/attributes", r.error().message}}));
    return reply(StoreDown(r.error()));
  }
  c = ctx.store.FindContact(rc.who.account, (*c)->address);
  if (!c || !*c) return reply(StoreDown(c ? Error{ErrorCode::kStorage, "the contact was not found after the change"} : c.error()));
  if (patch->status == "active" && (*c)->status != "active")
    return reply(Problem(409, "Conflict", (*c)->address + " stays " + (*c)->status +
                                              ": it is on the global suppression list, which only an admin key changes "
                                              "(DELETE /v1/suppressions/" + (*c)->address + "?global=true)"));
  reply(Json(200, json::serialize(ContactView(**c))));
}

// {"segment": "...", "lists": [...]}: how many contacts an audience has now (active, subscribed to one of
// the lists when given, matching the segment), with the first few, before a campaign is sent to it.
void HandlePreview(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty())
    return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
  FieldErrors err;
  std::optional<Error> down;
  store::ContactQuery q;
  q.account = rc.who.account;
  q.status = "active";
  q.limit = 10;
  if (!body.is_object()) err.Add("", "the body must be a JSON object: {\"segment\": ..., \"lists\": [...]}");
  else
    for (const auto& [k, v] : body.as_object()) {
      if (k == "segment") {
        auto where = v.is_string() ? CompileAudienceSegment(ctx, std::string(v.as_string()), NowMicros())
                                   : Result<store::ContactQuery::Condition>(MakeError(ErrorCode::kInvalidArgument, "must be a segment query"));
        if (!where) err.Add("/segment", where.error().message);
        else q.where = std::move(where.value());
      } else if (k == "lists") {
        q.subscribed_to = ListIds(ctx, rc.who.account, v, "/lists", err, down);
      } else {
        err.Add("/" + PointerToken(k), "unknown member; use segment, lists");
      }
    }
  if (down) return reply(StoreDown(*down));
  if (!err.empty()) return reply(Invalid(err));
  auto n = ctx.store.CountContacts(q);
  if (!n) return reply(StoreDown(n.error()));
  auto first = ctx.store.ListContacts(q);
  if (!first) return reply(StoreDown(first.error()));
  json::array sample;
  for (const auto& c : *first) sample.push_back(ContactView(c));
  reply(Json(200, json::serialize(json::object{{"count", *n}, {"sample", std::move(sample)}})));
}

void HandleDelete(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto c = ctx.store.FindContact(rc.who.account, PathContact(rc));
  if (!c) return reply(StoreDown(c.error()));
  if (!*c) return reply(Problem(404, "Not Found", "no contact '" + rc.params.at("id") + "' in this account"));
  if (auto r = ctx.store.DeleteContact(rc.who.account, (*c)->id); !r) return reply(StoreDown(r.error()));
  HttpResponse res;
  res.status = 204;
  reply(std::move(res));
}

}  // namespace

json::object ContactView(const store::Contact& c) {
  json::object o{{"id", c.id},
                 {"address", c.address},
                 {"name", c.name},
                 {"attributes", ParsedOr(c.attributes, json::object{})},
                 {"status", c.status},
                 {"created_at", FormatTimeUtc(c.created_at)},
                 {"updated_at", FormatTimeUtc(c.updated_at)}};
  if (!c.lists.empty()) {
    json::array lists;
    for (const auto& m : c.lists)
      lists.push_back(json::object{{"id", m.list_id}, {"name", m.list_name}, {"status", m.status},
                                   {"consent", ParsedOr(m.consent, json::object{})}, {"updated_at", FormatTimeUtc(m.updated_at)}});
    o["lists"] = std::move(lists);
  }
  return o;
}

void AddContactRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  AddContextRoute(router, ctx, "GET", "/v1/contacts", Scope::kRead, HandleList);
  AddContextRoute(router, ctx, "POST", "/v1/contacts", Scope::kSend, HandleCreate);
  AddContactImportRoutes(router, ctx);  // before {id}: /v1/contacts/import, /v1/contacts/export
  AddContextRoute(router, ctx, "POST", "/v1/segments/preview", Scope::kRead, HandlePreview);
  AddContextRoute(router, ctx, "GET", "/v1/contacts/{id}", Scope::kRead, HandleGet);
  AddContextRoute(router, ctx, "PATCH", "/v1/contacts/{id}", Scope::kSend, HandlePatch);
  AddContextRoute(router, ctx, "DELETE", "/v1/contacts/{id}", Scope::kSend, HandleDelete);
}

}  // namespace kurier::api
