// suppressions_api.cpp - the addresses kurier will not send to: GET/POST /v1/suppressions,
// GET/DELETE /v1/suppressions/{address}, POST /v1/suppressions/import (CSV), GET
// /v1/suppressions/export (CSV). Hard bounces, complaints, unsubscribes and addresses that reach
// bounces.soft_limit (reason soft_bounce_limit) add entries on their own;
// these routes let a user see, add, remove and move them.
//
// SECURITY: reads need the read scope, changes the send scope; a key acts on its own account's list.
// The global list (every account) is reached with ?global=true by an admin key only. Imports are
// bounded by api.max_body and report each rejected line instead of failing the whole file.
// STANDARDS: RFC 4180 (CSV), RFC 5321 (addresses), RFC 5322 3.4 ("Jane <jane@example.net>"), RFC 9457
// (problem details).
#include <boost/json.hpp>
#include <algorithm>
#include <iterator>
#include <string_view>

#include "api/api_service.hpp"
#include "api/json_body.hpp"
#include "api/router.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "mime/build.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxPerRequest = 1000;

// The reasons an entry may have, in the order error messages name them.
constexpr std::string_view kReasons[] = {"manual", "hard_bounce", "soft_bounce_limit", "complaint", "unsubscribe"};

bool IsReason(std::string_view reason) {
  return std::find(std::begin(kReasons), std::end(kReasons), reason) != std::end(kReasons);
}

// "manual, hard_bounce, ...": what an error says a reason must be.
std::string ReasonList() {
  std::string out;
  for (std::string_view r : kReasons) (out += out.empty() ? "" : ", ") += r;
  return out;
}

// The list a request acts on: the key's account, or "" (global) with ?global=true and the admin scope.
std::optional<std::string> ListOf(const HttpRequest& req, const RouteContext& rc, FieldErrors& err) {
  auto it = req.query.find("global");
  if (it == req.query.end() || it->second == "false") return rc.who.account;
  if (it->second != "true") {
    err.Add("/query/global", "must be true or false");
    return std::nullopt;
  }
  if (!rc.who.Has(Scope::kAdmin)) {
    err.Add("/query/global", "only an admin key may read or change the global suppression list");
    return std::nullopt;
  }
  return std::string();
}

json::object View(const store::Suppression& s) {
  json::object o{{"address", s.address}, {"reason", s.reason}, {"created_at", FormatTimeUtc(s.created_at)},
                 {"scope", s.account.empty() ? "global" : "account"}};
  if (!s.detail.empty()) o["detail"] = s.detail;
  if (!s.message_id.empty()) o["message_id"] = s.message_id;
  return o;
}

HttpResponse StoreDown(const Error& e) {
  return Problem(503, "Unavailable", "the suppression list could not be read or written (" + e.message + "); retry");
}

void HandleList(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  auto list = ListOf(req, rc, err);
  std::size_t limit = 100;
  std::string after;
  for (const auto& [k, v] : req.query) {
    if (k == "global") continue;
    long long n = 0;
    if (k == "limit") {
      if (!ParseInteger(v, 1, 1000, n)) err.Add("/query/limit", "must be a number from 1 to 1000");
      else limit = static_cast<std::size_t>(n);
    } else if (k == "cursor") {
      after = v;
    } else {
      err.Add("/query/" + PointerToken(k), "unknown parameter; use limit, cursor, global");
    }
  }
  if (!err.empty()) return reply(Invalid(err));
  auto rows = ctx.store.ListSuppressions(*list, after, limit);
  if (!rows) return reply(StoreDown(rows.error()));
  json::array items;
  for (const auto& s : rows.value()) items.push_back(View(s));
  json::object res{{"data", std::move(items)}};
  res["next_cursor"] = rows->size() == limit ? json::value(rows->back().address) : json::value(nullptr);
  reply(Json(200, json::serialize(res)));
}

// An address as the suppression routes take it (a body field, a CSV line, the path): "jane@example.net"
// or "Jane <jane@example.net>" (mime::ParseAddressText, as the send routes take it), checked and
// lower-cased; "" with `why` saying what is wrong.
std::string SuppressedAddress(std::string_view text, std::string& why) {
  auto a = mime::ParseAddressText(text, why);
  if (!a) {
    why = "must be one address: \"jane@example.net\" or \"Jane <jane@example.net>\"" + (why.empty() ? "" : " (" + why + ")");
    return "";
  }
  if (auto problem = mime::ValidateAddress(a->email)) {
    why = *problem;
    return "";
  }
  return ToLowerAscii(a->email);
}

// The path's {address}: the same forms; one that is neither is looked up as it is (and not found).
std::string PathAddress(const RouteContext& rc) {
  std::string why;
  const std::string& raw = rc.params.at("address");
  std::string address = SuppressedAddress(raw, why);
  return address.empty() ? ToLowerAscii(raw) : address;
}

void HandleGet(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  auto list = ListOf(req, rc, err);
  if (!err.empty()) return reply(Invalid(err));
  const std::string address = PathAddress(rc);
  auto found = ctx.store.FindSuppressions(*list, {address});
  if (!found) return reply(StoreDown(found.error()));
  // The account's own entry first, else the global one that also applies to it.
  if (!found->empty()) return reply(Json(200, json::serialize(View(found->front()))));
  reply(Problem(404, "Not Found", address + " is not suppressed"));
}

// {"address": "a@b", "reason": "manual", "detail": "..."} or {"addresses": [that, ...]}.
void HandleAdd(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  auto list = ListOf(req, rc, err);
  if (!err.empty()) return reply(Invalid(err));
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty())
    return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
  if (!body.is_object()) return reply(Invalid(std::vector<FieldError>{{"", "the body must be a JSON object: {\"address\": ...} or {\"addresses\": [...]}"}}));
  std::vector<std::pair<std::string, const json::value*>> entries;
  const auto& o = body.as_object();
  if (o.contains("address")) entries.emplace_back("", &body);
  if (auto* many = o.if_contains("addresses")) {
    if (!many->is_array()) err.Add("/addresses", "must be an array of {address, reason, detail} objects or strings");
    else if (many->as_array().size() > kMaxPerRequest)
      err.Add("/addresses", "at most " + std::to_string(kMaxPerRequest) + " per request; use /v1/suppressions/import for more");
    else
      for (std::size_t i = 0; i < many->as_array().size(); ++i)
        entries.emplace_back("/addresses/" + std::to_string(i), &many->as_array()[i]);
  }
  if (entries.empty() && err.empty()) err.Add("/address", "give an address, or addresses");
  std::vector<store::Suppression> adds;
  for (const auto& [ptr, v] : entries) {
    store::Suppression s;
    s.account = *list;
    s.reason = "manual";
    const json::value* addr = v;
    if (v->is_object()) {
      addr = v->as_object().if_contains("address");
      if (auto* r = v->as_object().if_contains("reason")) {
        if (!r->is_string() || !IsReason(r->as_string()))
          err.Add(ptr + "/reason", "must be one of " + ReasonList());
        else s.reason = std::string(r->as_string());
      }
      if (auto* d = v->as_object().if_contains("detail")) {
        if (!d->is_string() || d->as_string().size() > 1000) err.Add(ptr + "/detail", "must be a string of at most 1000 characters");
        else s.detail = std::string(d->as_string());
      }
    }
    const std::string at = ptr + (v->is_object() || ptr.empty() ? "/address" : "");
    if (!addr || !addr->is_string()) {
      err.Add(at, "must be an email address");
      continue;
    }
    std::string why;
    s.address = SuppressedAddress(addr->as_string(), why);
    if (!why.empty()) err.Add(at, why);
    adds.push_back(std::move(s));
  }
  if (!err.empty()) return reply(Invalid(err));
  int added = 0;
  for (const auto& s : adds) {
    auto r = ctx.store.AddSuppression(s);
    if (!r) return reply(StoreDown(r.error()));
    added += r.value() ? 1 : 0;
  }
  reply(Json(201, json::serialize(json::object{{"added", added}, {"already_suppressed", static_cast<int64_t>(adds.size()) - added}})));
}

void HandleRemove(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  auto list = ListOf(req, rc, err);
  if (!err.empty()) return reply(Invalid(err));
  const std::string address = PathAddress(rc);
  auto r = ctx.store.RemoveSuppression(*list, address);
  if (!r) return reply(StoreDown(r.error()));
  if (!r.value()) return reply(Problem(404, "Not Found", address + " is not on this suppression list"));
  HttpResponse res;
  res.status = 204;
  reply(std::move(res));
}

// RFC 4180 fields of one line: quoted fields may hold commas and doubled quotes.
std::vector<std::string> CsvFields(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else out.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  for (auto& f : out) {
    while (!f.empty() && (f.back() == ' ' || f.back() == '\t')) f.pop_back();
    while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.erase(0, 1);
  }
  return out;
}

// CSV lines "address[,reason[,detail]]"; a first line naming the columns ("address,...") is skipped.
void HandleImport(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  auto list = ListOf(req, rc, err);
  if (!err.empty()) return reply(Invalid(err));
  int added = 0, existing = 0, line_no = 0;
  json::array rejected;
  std::string_view rest = req.body;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto f = CsvFields(line);
    if (f.size() == 1 && f[0].empty()) continue;
    if (line_no == 1 && ToLowerAscii(f[0]) == "address") continue;
    store::Suppression s{*list, "", f.size() > 1 && !f[1].empty() ? f[1] : "manual", f.size() > 2 ? f[2] : "", "", 0};
    std::string why;
    s.address = SuppressedAddress(f[0], why);
    if (!why.empty()) why = "address: " + why;
    else if (!IsReason(s.reason)) why = "reason '" + s.reason + "' is not one of " + ReasonList();
    if (!why.empty()) {
      if (rejected.size() < 100) rejected.push_back(json::object{{"line", line_no}, {"detail", why}});
      continue;
    }
    auto r = ctx.store.AddSuppression(s);
    if (!r) return reply(StoreDown(r.error()));
    (r.value() ? added : existing)++;
  }
  reply(Json(200, json::serialize(json::object{{"added", added}, {"already_suppressed", existing}, {"rejected", rejected}})));
}

void HandleExport(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  auto list = ListOf(req, rc, err);
  if (!err.empty()) return reply(Invalid(err));
  std::string csv = "address,reason,detail,message_id,created_at\r\n";
  std::string after;
  for (;;) {
    auto rows = ctx.store.ListSuppressions(*list, after, 1000);
    if (!rows) return reply(StoreDown(rows.error()));
    for (const auto& s : rows.value())
      csv += CsvField(s.address) + "," + CsvField(s.reason) + "," + CsvField(s.detail) + "," + CsvField(s.message_id) + "," +
             FormatTimeUtc(s.created_at) + "\r\n";
    if (rows->size() < 1000) break;
    after = rows->back().address;
  }
  HttpResponse res;
  res.content_type = "text/csv; charset=utf-8";
  res.headers.emplace_back("Content-Disposition", "attachment; filename=\"suppressions.csv\"");
  res.body = std::move(csv);
  reply(std::move(res));
}

}  // namespace

void AddSuppressionRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  AddContextRoute(router, ctx, "GET", "/v1/suppressions", Scope::kRead, HandleList);
  AddContextRoute(router, ctx, "POST", "/v1/suppressions", Scope::kSend, HandleAdd);
  AddContextRoute(router, ctx, "POST", "/v1/suppressions/import", Scope::kSend, HandleImport,
                  std::vector<std::string>{"text/csv"});
  AddContextRoute(router, ctx, "GET", "/v1/suppressions/export", Scope::kRead, HandleExport);
  AddContextRoute(router, ctx, "GET", "/v1/suppressions/{address}", Scope::kRead, HandleGet);
  AddContextRoute(router, ctx, "DELETE", "/v1/suppressions/{address}", Scope::kSend, HandleRemove);
}

}  // namespace kurier::api
