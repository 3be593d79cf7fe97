// admin_api.cpp - the management API: accounts (GET/POST /v1/accounts, GET/PATCH/DELETE
// /v1/accounts/{name}), API keys (GET/POST /v1/api-keys, DELETE /v1/api-keys/{id}) and SMTP credentials
// (GET/POST /v1/smtp-credentials, DELETE /v1/smtp-credentials/{username}). The CLI manages the same
// objects through the same store functions (store/credentials.hpp).
//
// Who may do what:
//   - accounts: the admin scope only.
//   - listing API keys and SMTP credentials: the read scope, for the key's own account; an admin key may
//     name another with ?account=.
//   - creating and deleting them: a key with both send and read (a "full" key of its account), or admin.
//     A non-admin key acts on its own account only and can create only keys with scopes it has itself, so
//     it can never mint an admin key. A send-only key manages nothing: if it leaks, it cannot be used to
//     create a longer-lived credential.
//   - another account's key or credential is answered 404, exactly as one that does not exist; naming
//     another account (?account=, "account") without admin is 403 whether or not that account exists.
//
// SECURITY: admin-reachable only through an API key. Secrets (API keys, SMTP passwords) are generated
// here, returned once in the 201 response and never stored or logged: the store keeps BLAKE2b-256 (keys)
// and Argon2id (passwords) hashes, and listings show only a key's prefix. A revoked key or a removed
// account is dropped from the router's key cache at once (Router::ForgetKey/ForgetAccount), so it is
// refused from the next request on. Argon2id hashing (64 MiB, ~0.1 s) runs on a one-thread pool, not on
// the I/O threads, which also bounds the memory concurrent credential creation can take.
// STANDARDS: RFC 9110 (methods, 201/404/409), RFC 9457 (problem details), RFC 6901 (JSON pointers).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <set>

#include "api/api_service.hpp"
#include "api/json_body.hpp"
#include "api/router.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "smtp/proto/command_parser.hpp"
#include "store/credentials.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxDomainsPerRequest = 100;

using Errors = FieldErrors;

HttpResponse Unavailable(const Error& e) {
  spdlog::error("api: store: {}", e.message);
  return Problem(503, "Unavailable", "the store could not be read or written (" + e.message + "); retry");
}

/// A store error that callers can cause (unknown, duplicate, invalid) as its status; anything else as 503.
HttpResponse StoreProblem(const Error& e) {
  switch (e.code) {
    case ErrorCode::kNotFound: return Problem(404, "Not Found", e.message);
    case ErrorCode::kAlreadyExists: return Problem(409, "Conflict", e.message);
    case ErrorCode::kInvalidArgument: return Problem(422, "Invalid Request", e.message);
    default: return Unavailable(e);
  }
}

HttpResponse Created(json::object o, const std::string& location = "") {
  HttpResponse r = Json(201, json::serialize(o));
  if (!location.empty()) r.headers.emplace_back("Location", location);
  return r;
}

// Handlers here finish synchronously: they return the response, and an exception (a bug, never bad
// input) becomes a 500 without a stack trace instead of leaving the request unanswered.
using SyncHandler = std::function<HttpResponse(const HttpRequest&, const RouteContext&)>;

HttpResponse Guarded(const SyncHandler& h, const HttpRequest& q, const RouteContext& rc) {
  try {
    return h(q, rc);
  } catch (const std::exception& e) {
    spdlog::error("api: {} {} failed: {}", q.method, q.path, e.what());
    return InternalError();
  }
}

Handler Sync(SyncHandler h) {
  return [h = std::move(h)](const HttpRequest& q, const RouteContext& rc, Reply reply) { reply(Guarded(h, q, rc)); };
}

/// The request body as a JSON object, or the 400 to answer.
std::optional<HttpResponse> ParseBody(const HttpRequest& req, json::object& out, const char* example) {
  json::value v;
  std::string bad = ParseJson(req.body, v);
  if (!bad.empty() || !v.is_object())
    return Problem(400, "Malformed JSON", (bad.empty() ? "" : "the body is not valid JSON: " + bad + "; ") +
                                              "the body must be a JSON object, e.g. " + example);
  out = std::move(v.as_object());
  return std::nullopt;
}

void RejectUnknown(const json::object& o, const std::set<std::string>& known, Errors& err) {
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  for (const auto& [k, v] : o)
    if (!known.count(std::string(k))) err.Add("/" + PointerToken(std::string(k)), "unknown field; the fields are " + list);
}

void RejectUnknownQuery(const HttpRequest& req, const std::set<std::string>& known, Errors& err) {
  for (const auto& [k, v] : req.query)
    if (!known.count(k))
      err.Add("/query/" + PointerToken(k), known.empty() ? "this endpoint takes no query parameters"
                                                         : "unknown query parameter; use " + *known.begin());
}

std::optional<std::string> OptionalString(const json::object& o, const char* name, Errors& err) {
  auto* v = o.if_contains(name);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) {
    err.Add(std::string("/") + name, "must be a string");
    return std::nullopt;
  }
  return std::string(v->as_string());
}

std::optional<bool> OptionalBool(const json::object& o, const char* name, Errors& err) {
  auto* v = o.if_contains(name);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_bool()) {
    err.Add(std::string("/") + name, "must be true or false");
    return std::nullopt;
  }
  return v->as_bool();
}

/// An array of sender domains, lower-cased and without repeats.
std::vector<std::string> DomainList(const json::object& o, const char* name, Errors& err) {
  std::vector<std::string> out;
  auto* v = o.if_contains(name);
  if (!v || v->is_null()) return out;
  const std::string ptr = std::string("/") + name;
  if (!v->is_array()) {
    err.Add(ptr, "must be an array of domains, e.g. [\"shop.example.com\"]");
    return out;
  }
  const auto& arr = v->as_array();
  if (arr.size() > kMaxDomainsPerRequest) {
    err.Add(ptr, "at most " + std::to_string(kMaxDomainsPerRequest) + " domains per request");
    return out;
  }
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string p = ptr + "/" + std::to_string(i);
    if (!arr[i].is_string()) {
      err.Add(p, "must be a domain name as a string");
      continue;
    }
    std::string d = ToLowerAscii(std::string(arr[i].as_string()));
    if (d.empty() || d.front() == '[' || d.find('.') == std::string::npos || !smtp::proto::IsValidDomain(d)) {
      err.Add(p, "'" + d + "' is not a domain name such as shop.example.com");
      continue;
    }
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(std::move(d));
  }
  return out;
}

json::array Strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::value Flag(const std::optional<bool>& f) { return f ? json::value(*f) : json::value(nullptr); }

json::object AccountJson(const store::Account& a) {
  return json::object{{"name", a.name},
                      {"sender_domains", Strings(a.sender_domains)},
                      {"verified_domains", Strings(a.verified_domains)},
                      {"sandbox", a.sandbox},
                      {"send_dsn", a.send_dsn},
                      {"track_opens", Flag(a.track_opens)},
                      {"track_clicks", Flag(a.track_clicks)},
                      {"list_unsubscribe", Flag(a.list_unsubscribe)},
                      {"refuse_suppressed", Flag(a.refuse_suppressed)},
                      {"test_mode", Flag(a.test_mode)},
                      {"created_at", FormatTimeUtc(a.created_at)}};
}

// The account's send defaults in a body: true or false sets one, null clears it (back to the server's
// configuration); absent leaves it as it is.
constexpr const char* kAccountDefaults[] = {"track_opens", "track_clicks", "list_unsubscribe", "refuse_suppressed", "test_mode"};

std::map<std::string, std::optional<bool>> DefaultsInBody(const json::object& o, Errors& err) {
  std::map<std::string, std::optional<bool>> out;
  for (const char* k : kAccountDefaults) {
    auto* v = o.if_contains(k);
    if (!v) continue;
    if (v->is_null()) out[k] = std::nullopt;
    else if (v->is_bool()) out[k] = v->as_bool();
    else err.Add(std::string("/") + k, "must be true, false, or null (the server's default)");
  }
  return out;
}

json::object ApiKeyJson(const store::ApiKey& k) {
  return json::object{{"id", k.id},
                      {"account", k.account},
                      {"name", k.name},
                      {"prefix", k.prefix},
                      {"scopes", Strings(store::SplitScopes(k.scopes))},
                      {"created_at", FormatTimeUtc(k.created_at)},
                      {"revoked", k.revoked}};
}

json::object SmtpCredentialJson(const store::SmtpCredential& c) {
  return json::object{{"username", c.username}, {"account", c.account}, {"created_at", FormatTimeUtc(c.created_at)}};
}

bool IsAdmin(const RouteContext& rc) { return rc.who.Has(Scope::kAdmin); }

/// Creating or deleting credentials needs send and read (or admin); the route itself demands send.
std::optional<HttpResponse> RequireManage(const HttpRequest& req, const RouteContext& rc, const char* what) {
  if (rc.who.Has(Scope::kSend) && rc.who.Has(Scope::kRead)) return std::nullopt;
  return Problem(403, "Forbidden",
                 std::string("managing ") + what + " needs a key with both the send and read scopes, or admin (" +
                     req.method + " " + req.path + "; this key has: " + rc.who.scopes + ")");
}

/// The account a request acts on: the key's own, or `named` (an admin key only). `pointer` says where the
/// name came from: "/query/account" (unknown -> 404) or "/account" in the body (unknown -> 422).
std::optional<HttpResponse> TargetAccount(ApiContext& ctx, const RouteContext& rc, const std::optional<std::string>& named,
                                          const std::string& pointer, std::string& out) {
  out = rc.who.account;
  if (!named || *named == rc.who.account) return std::nullopt;
  if (!IsAdmin(rc))
    return Problem(403, "Forbidden",
                   "only an admin key may act on another account; this key belongs to account '" + rc.who.account +
                       "' (leave out " + pointer + ")",
                   {{pointer, "names another account"}});
  auto acc = ctx.store.FindAccount(*named);
  if (!acc) return Unavailable(acc.error());
  if (!acc.value()) {
    if (pointer.starts_with("/query/")) return Problem(404, "Not Found", "no account named '" + *named + "'");
    return Problem(422, "Invalid Request", pointer + ": no account named '" + *named + "'",
                   {{pointer, "no account named '" + *named + "'; see GET /v1/accounts"}});
  }
  out = *named;
  return std::nullopt;
}

std::optional<std::string> QueryAccount(const HttpRequest& req) {
  auto it = req.query.find("account");
  if (it == req.query.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------------------------------
// accounts

HttpResponse ListAccounts(ApiContext& ctx, const HttpRequest& req) {
  Errors err;
  RejectUnknownQuery(req, {}, err);
  if (!err.empty()) return Invalid(err);
  auto list = ctx.store.ListAccounts();
  if (!list) return Unavailable(list.error());
  json::array data;
  for (const auto& a : list.value()) data.push_back(AccountJson(a));
  return Json(200, json::serialize(json::object{{"data", std::move(data)}}));
}

HttpResponse CreateAccount(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc) {
  json::object o;
  if (auto bad = ParseBody(req, o, "{\"name\": \"shop\", \"sender_domains\": [\"shop.example.com\"]}")) return *bad;
  Errors err;
  RejectUnknown(o, {"name", "sender_domains", "sandbox", "send_dsn", "track_opens", "track_clicks", "list_unsubscribe",
                    "refuse_suppressed", "test_mode"},
                err);
  auto name = OptionalString(o, "name", err);
  if (!o.if_contains("name") || (o.if_contains("name")->is_null()))
    err.Add("/name", "required: the account's name, e.g. \"shop\"");
  else if (name)
    if (auto p = store::AccountNameProblem(*name)) err.Add("/name", *p);
  auto domains = DomainList(o, "sender_domains", err);
  auto sandbox = OptionalBool(o, "sandbox", err);
  auto send_dsn = OptionalBool(o, "send_dsn", err);
  auto defaults = DefaultsInBody(o, err);
  if (!err.empty()) return Invalid(err);

  auto created = ctx.store.CreateAccount(*name);
  if (!created) return StoreProblem(created.error());
  // Not one transaction: on a failure after the account exists, remove it again so that a retry can succeed.
  auto fail = [&](const Error& e) {
    (void)ctx.store.RemoveAccount(*name);
    return StoreProblem(e);
  };
  for (const auto& d : domains)
    if (auto r = ctx.store.AddSenderDomain(*name, d); !r) return fail(r.error());
  if (sandbox && !*sandbox)
    if (auto r = ctx.store.SetSandbox(*name, false); !r) return fail(r.error());
  if (send_dsn && !*send_dsn)
    if (auto r = ctx.store.SetSendDsn(*name, false); !r) return fail(r.error());
  for (const auto& [k, v] : defaults)
    if (auto r = ctx.store.SetAccountDefault(*name, k, v); !r) return fail(r.error());
  ctx.account_defaults->Forget(*name);
  auto acc = ctx.store.FindAccount(*name);
  if (!acc || !acc.value()) return acc ? Problem(409, "Conflict", "account '" + *name + "' was removed meanwhile") : Unavailable(acc.error());
  spdlog::info("api: account '{}' created by key #{}", *name, rc.who.key_id);
  return Created(AccountJson(**acc), "/v1/accounts/" + *name);
}

std::optional<HttpResponse> FindAccountOr404(ApiContext& ctx, const std::string& name, store::Account& out) {
  auto acc = ctx.store.FindAccount(name);
  if (!acc) return Unavailable(acc.error());
  if (!acc.value()) return Problem(404, "Not Found", "no account named '" + name + "'; see GET /v1/accounts");
  out = std::move(**acc);
  return std::nullopt;
}

HttpResponse GetAccount(ApiContext& ctx, const RouteContext& rc) {
  store::Account a;
  if (auto nf = FindAccountOr404(ctx, rc.params.at("name"), a)) return *nf;
  return Json(200, json::serialize(AccountJson(a)));
}

HttpResponse PatchAccount(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc) {
  const std::string& name = rc.params.at("name");
  store::Account a;
  if (auto nf = FindAccountOr404(ctx, name, a)) return *nf;
  json::object o;
  if (auto bad = ParseBody(req, o, "{\"sandbox\": false, \"add_sender_domains\": [\"shop.example.com\"]}")) return *bad;
  Errors err;
  RejectUnknown(o, {"sandbox", "send_dsn", "add_sender_domains", "remove_sender_domains", "track_opens", "track_clicks",
                    "list_unsubscribe", "refuse_suppressed", "test_mode"},
                err);
  auto sandbox = OptionalBool(o, "sandbox", err);
  auto send_dsn = OptionalBool(o, "send_dsn", err);
  auto defaults = DefaultsInBody(o, err);
  auto add = DomainList(o, "add_sender_domains", err);
  auto remove = DomainList(o, "remove_sender_domains", err);
  // All or nothing: every removal must name a domain the account has, and none may be added at once.
  if (auto* rv = o.if_contains("remove_sender_domains"); rv && rv->is_array()) {
    const auto& arr = rv->as_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) continue;
      std::string d = ToLowerAscii(std::string(arr[i].as_string()));
      if (std::find(remove.begin(), remove.end(), d) == remove.end()) continue;  // invalid: reported already
      const std::string p = "/remove_sender_domains/" + std::to_string(i);
      bool has = std::any_of(a.sender_domains.begin(), a.sender_domains.end(), [&](const auto& s) { return IEquals(s, d); });
      if (!has) err.Add(p, "account '" + name + "' has no sender domain " + d);
      if (std::find(add.begin(), add.end(), d) != add.end()) err.Add(p, "is also in add_sender_domains");
    }
  }
  if (!err.empty()) return Invalid(err);

  for (const auto& d : add)
    if (auto r = ctx.store.AddSenderDomain(name, d); !r) return StoreProblem(r.error());
  for (const auto& d : remove)
    if (auto r = ctx.store.RemoveSenderDomain(name, d); !r && r.error().code != ErrorCode::kNotFound)
      return StoreProblem(r.error());
  if (sandbox)
    if (auto r = ctx.store.SetSandbox(name, *sandbox); !r) return StoreProblem(r.error());
  if (send_dsn)
    if (auto r = ctx.store.SetSendDsn(name, *send_dsn); !r) return StoreProblem(r.error());
  for (const auto& [k, v] : defaults)
    if (auto r = ctx.store.SetAccountDefault(name, k, v); !r) return StoreProblem(r.error());
  ctx.account_defaults->Forget(name);
  if (auto nf = FindAccountOr404(ctx, name, a)) return *nf;
  return Json(200, json::serialize(AccountJson(a)));
}

HttpResponse DeleteAccount(ApiContext& ctx, Router& router, const RouteContext& rc) {
  const std::string& name = rc.params.at("name");
  if (name == rc.who.account)
    return Problem(409, "Conflict",
                   "account '" + name + "' owns the key making this request; remove it with an admin key of another "
                   "account or with 'kurier account remove " + name + "'");
  if (auto r = ctx.store.RemoveAccount(name); !r) return StoreProblem(r.error());
  // Its keys and credentials went with it (ON DELETE CASCADE); stop trusting cached look-ups of the keys.
  router.ForgetAccount(name);
  spdlog::info("api: account '{}' removed by key #{}", name, rc.who.key_id);
  return Json(200, json::serialize(json::object{{"name", name}, {"deleted", true}}));
}

// ---------------------------------------------------------------------------------------------------
// API keys

HttpResponse ListApiKeys(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc) {
  Errors err;
  RejectUnknownQuery(req, {"account"}, err);
  if (!err.empty()) return Invalid(err);
  std::string account;
  if (auto no = TargetAccount(ctx, rc, QueryAccount(req), "/query/account", account)) return *no;
  auto list = ctx.store.ListApiKeys(account);
  if (!list) return Unavailable(list.error());
  json::array data;
  for (const auto& k : list.value()) data.push_back(ApiKeyJson(k));
  return Json(200, json::serialize(json::object{{"data", std::move(data)}}));
}

HttpResponse CreateApiKey(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc) {
  if (auto no = RequireManage(req, rc, "API keys")) return *no;
  json::object o;
  if (auto bad = ParseBody(req, o, "{\"name\": \"shop backend\", \"scopes\": [\"send\"]}")) return *bad;
  Errors err;
  RejectUnknown(o, {"name", "scopes", "account"}, err);
  auto name = OptionalString(o, "name", err);
  if (!o.if_contains("name") || o.if_contains("name")->is_null())
    err.Add("/name", "required: a label for the key, e.g. \"shop backend\"");
  else if (name)
    if (auto p = store::ApiKeyNameProblem(*name)) err.Add("/name", *p);
  std::string scopes;
  std::vector<FieldError> beyond;  // scopes this key may not hand out
  auto* sv = o.if_contains("scopes");
  if (!sv || sv->is_null()) {
    err.Add("/scopes", "required: an array of scopes from send, read, admin, e.g. [\"send\"]");
  } else if (!sv->is_array() || sv->as_array().empty() || sv->as_array().size() > 16) {
    err.Add("/scopes", "must be a non-empty array of scopes from send, read, admin");
  } else {
    const auto& arr = sv->as_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      const std::string p = "/scopes/" + std::to_string(i);
      if (!arr[i].is_string() || !store::IsScope(std::string_view(arr[i].as_string()))) {
        err.Add(p, "must be one of send, read, admin");
        continue;
      }
      std::string s(arr[i].as_string());
      scopes += (scopes.empty() ? "" : " ") + s;
      Scope need = s == "send" ? Scope::kSend : s == "read" ? Scope::kRead : Scope::kAdmin;
      if (!rc.who.Has(need)) beyond.push_back({p, "this key lacks the '" + s + "' scope, so it cannot grant it"});
    }
  }
  auto account_name = OptionalString(o, "account", err);
  if (!err.empty()) return Invalid(err);
  if (!beyond.empty())
    return Problem(403, "Forbidden",
                   "a key can create only keys with scopes it has itself (this key has: " + rc.who.scopes + ")", beyond);
  std::string account;
  if (auto no = TargetAccount(ctx, rc, account_name, "/account", account)) return *no;
  auto issued = store::IssueApiKey(ctx.store, account, *name, scopes);
  if (!issued) return StoreProblem(issued.error());
  spdlog::info("api: API key #{} ({}) for account '{}' created by key #{}", issued->key.id, issued->key.scopes, account,
               rc.who.key_id);
  json::object view = ApiKeyJson(issued->key);
  view["key"] = issued->secret;
  return Created(std::move(view));
}

HttpResponse RevokeApiKey(ApiContext& ctx, Router& router, const HttpRequest& req, const RouteContext& rc) {
  if (auto no = RequireManage(req, rc, "API keys")) return *no;
  const std::string& text = rc.params.at("id");
  const std::string not_found = "no API key " + text + (IsAdmin(rc) ? "" : " in this account") + "; see GET /v1/api-keys";
  int64_t id = 0;
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return Problem(404, "Not Found", not_found);
  id = std::stoll(text);
  auto list = ctx.store.ListApiKeys(IsAdmin(rc) ? "" : rc.who.account);
  if (!list) return Unavailable(list.error());
  auto it = std::find_if(list->begin(), list->end(), [&](const store::ApiKey& k) { return k.id == id; });
  if (it == list->end()) return Problem(404, "Not Found", not_found);
  if (it->revoked) return Problem(409, "Conflict", "API key " + text + " is already revoked");
  if (auto r = ctx.store.RevokeApiKey(id); !r) {
    if (r.error().code == ErrorCode::kNotFound) return Problem(409, "Conflict", "API key " + text + " is already revoked");
    return Unavailable(r.error());
  }
  router.ForgetKey(id);
  spdlog::info("api: API key #{} of account '{}' revoked by key #{}", id, it->account, rc.who.key_id);
  store::ApiKey k = *it;
  k.revoked = true;
  return Json(200, json::serialize(ApiKeyJson(k)));
}

// ---------------------------------------------------------------------------------------------------
// SMTP credentials

HttpResponse ListSmtpCredentials(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc) {
  Errors err;
  RejectUnknownQuery(req, {"account"}, err);
  if (!err.empty()) return Invalid(err);
  std::string account;
  if (auto no = TargetAccount(ctx, rc, QueryAccount(req), "/query/account", account)) return *no;
  auto list = ctx.store.ListSmtpCredentials(account);
  if (!list) return Unavailable(list.error());
  json::array data;
  for (const auto& c : list.value()) data.push_back(SmtpCredentialJson(c));
  return Json(200, json::serialize(json::object{{"data", std::move(data)}}));
}

// Validates and answers 4xx at once, or leaves `account` and `username` for the hashing pool.
std::optional<HttpResponse> PrepareSmtpCredential(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc,
                                                  std::string& account, std::string& username) {
  if (auto no = RequireManage(req, rc, "SMTP credentials")) return *no;
  json::object o;
  if (auto bad = ParseBody(req, o, "{\"username\": \"shop-mailer\"}")) return *bad;
  Errors err;
  RejectUnknown(o, {"username", "account"}, err);
  auto user = OptionalString(o, "username", err);
  if (user)
    if (auto p = store::SmtpUsernameProblem(*user)) err.Add("/username", *p);
  auto account_name = OptionalString(o, "account", err);
  if (!err.empty()) return Invalid(err);
  if (auto no = TargetAccount(ctx, rc, account_name, "/account", account)) return *no;
  username = user.value_or("");
  if (!username.empty()) {
    // Usernames are one namespace across accounts (SMTP AUTH names no account): a taken one is a 409.
    auto existing = ctx.store.FindSmtpCredential(username);
    if (!existing) return Unavailable(existing.error());
    if (existing.value())
      return Problem(409, "Conflict", "SMTP username '" + username + "' is taken; choose another",
                     {{"/username", "is taken"}});
  }
  return std::nullopt;
}

HttpResponse IssueSmtpCredential(ApiContext& ctx, const RouteContext& rc, const std::string& account,
                                 const std::string& username) {
  auto issued = store::IssueSmtpCredential(ctx.store, account, username);
  if (!issued) {
    if (issued.error().code == ErrorCode::kAlreadyExists)
      return Problem(409, "Conflict", "SMTP username '" + username + "' is taken; choose another", {{"/username", "is taken"}});
    return StoreProblem(issued.error());
  }
  spdlog::info("api: SMTP credential '{}' for account '{}' created by key #{}", issued->credential.username, account,
               rc.who.key_id);
  json::object view = SmtpCredentialJson(issued->credential);
  view["password"] = issued->password;
  return Created(std::move(view));
}

HttpResponse DeleteSmtpCredential(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc) {
  if (auto no = RequireManage(req, rc, "SMTP credentials")) return *no;
  const std::string& username = rc.params.at("username");
  auto cred = ctx.store.FindSmtpCredential(username);
  if (!cred) return Unavailable(cred.error());
  if (!cred.value() || (!IsAdmin(rc) && cred.value()->account != rc.who.account))
    return Problem(404, "Not Found",
                   "no SMTP username '" + username + "'" + (IsAdmin(rc) ? "" : " in this account") +
                       "; see GET /v1/smtp-credentials");
  if (auto r = ctx.store.RemoveSmtpCredential(username); !r) return StoreProblem(r.error());
  spdlog::info("api: SMTP credential '{}' of account '{}' removed by key #{}", username, cred.value()->account,
               rc.who.key_id);
  return Json(200, json::serialize(json::object{{"username", username}, {"account", cred.value()->account}, {"deleted", true}}));
}

}  // namespace

void AddAdminRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  Router* r = &router;  // the routes live inside the router, so it outlives every handler
  router.Add(Route{"GET", "/v1/accounts", Scope::kAdmin,
                   Sync([ctx](const HttpRequest& q, const RouteContext&) { return ListAccounts(*ctx, q); })});
  router.Add(Route{"POST", "/v1/accounts", Scope::kAdmin,
                   Sync([ctx](const HttpRequest& q, const RouteContext& rc) { return CreateAccount(*ctx, q, rc); })});
  router.Add(Route{"GET", "/v1/accounts/{name}", Scope::kAdmin,
                   Sync([ctx](const HttpRequest&, const RouteContext& rc) { return GetAccount(*ctx, rc); })});
  router.Add(Route{"PATCH", "/v1/accounts/{name}", Scope::kAdmin,
                   Sync([ctx](const HttpRequest& q, const RouteContext& rc) { return PatchAccount(*ctx, q, rc); })});
  router.Add(Route{"DELETE", "/v1/accounts/{name}", Scope::kAdmin,
                   Sync([ctx, r](const HttpRequest&, const RouteContext& rc) { return DeleteAccount(*ctx, *r, rc); })});

  router.Add(Route{"GET", "/v1/api-keys", Scope::kRead,
                   Sync([ctx](const HttpRequest& q, const RouteContext& rc) { return ListApiKeys(*ctx, q, rc); })});
  router.Add(Route{"POST", "/v1/api-keys", Scope::kSend,
                   Sync([ctx](const HttpRequest& q, const RouteContext& rc) { return CreateApiKey(*ctx, q, rc); })});
  router.Add(Route{"DELETE", "/v1/api-keys/{id}", Scope::kSend,
                   Sync([ctx, r](const HttpRequest& q, const RouteContext& rc) { return RevokeApiKey(*ctx, *r, q, rc); })});

  router.Add(Route{"GET", "/v1/smtp-credentials", Scope::kRead,
                   Sync([ctx](const HttpRequest& q, const RouteContext& rc) { return ListSmtpCredentials(*ctx, q, rc); })});
  // Only a serving router gets the thread (`kurier api routes` registers with a null ctx).
  auto hashing = ctx ? std::make_shared<boost::asio::thread_pool>(1) : nullptr;
  router.Add(Route{"POST", "/v1/smtp-credentials", Scope::kSend,
                   [ctx, hashing](const HttpRequest& q, const RouteContext& rc, Reply reply) {
                     std::string account, username;
                     auto early = Guarded([&](const HttpRequest& q2, const RouteContext& rc2) -> HttpResponse {
                       if (auto res = PrepareSmtpCredential(*ctx, q2, rc2, account, username)) return *res;
                       return HttpResponse{0};
                     }, q, rc);
                     if (early.status != 0) return reply(std::move(early));
                     boost::asio::post(*hashing, [ctx, q, rc, account, username, reply = std::move(reply)] {
                       AnswerOnThrow(reply, "POST /v1/smtp-credentials", [&] {  // on the hashing pool's thread
                         reply(Guarded([&](const HttpRequest&, const RouteContext& rc2) {
                           return IssueSmtpCredential(*ctx, rc2, account, username);
                         }, q, rc));
                       });
                     });
                   }});
  router.Add(Route{"DELETE", "/v1/smtp-credentials/{username}", Scope::kSend,
                   Sync([ctx](const HttpRequest& q, const RouteContext& rc) { return DeleteSmtpCredential(*ctx, q, rc); })});
}

}  // namespace kurier::api
