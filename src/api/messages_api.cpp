// messages_api.cpp - sending through the HTTP API: POST /v1/messages (one message, or one per entry of
// recipients[] with its own variables), POST /v1/messages/raw (a complete RFC 5322 message), message
// status (GET /v1/messages/{id}), listings with filters and a cursor (GET /v1/messages), cancelling a
// scheduled send (DELETE /v1/messages/{id}). Idempotency-Key (draft-ietf-httpapi-idempotency-key-header)
// replays the first response for 24 hours.
// SECURITY: every field is validated before anything is stored; header injection (CR, LF, NUL) and
// structural headers are refused by mime.cpp; a 202 is sent only after the spool's fsync.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <set>

#include "api/api_service.hpp"
#include "api/json_body.hpp"
#include "api/list_query.hpp"
#include "api/router.hpp"
#include "api/send_request.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "delivery/delivery_manager.hpp"
#include "ingress/ingress.hpp"
#include "ingress/prepare.hpp"
#include "mime/build.hpp"
#include "mime/header_fields.hpp"
#include "mime/parse.hpp"
#include "mime/rewrite.hpp"
#include "smtp/proto/header_from.hpp"
#include "spool/message_state.hpp"
#include "spool/spool.hpp"
#include "store/store.hpp"
#include "templates/templates.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

constexpr int64_t kIdempotencyWindow = 24LL * 3600 * 1'000'000;

using Errors = FieldErrors;

// "user@example.com", "Jane <jane@example.com>" or {"email": ..., "name": ...}
std::optional<mime::Address> ParseAddress(const json::value* v, const std::string& ptr, Errors& err) {
  if (!v) return std::nullopt;
  mime::Address a;
  if (v->is_string()) {
    std::string why;
    auto parsed = mime::ParseAddressText(v->as_string(), why);
    if (!parsed) {
      err.Add(ptr, "must be one address: \"jane@example.com\", \"Jane <jane@example.com>\" or {\"email\": "
                   "\"jane@example.com\", \"name\": \"Jane\"}" + (why.empty() ? "" : " (" + why + ")"));
      return std::nullopt;
    }
    a = std::move(*parsed);
  } else if (v->is_object()) {
    const auto& o = v->as_object();
    auto* e = o.if_contains("email");
    if (!e || !e->is_string()) {
      err.Add(ptr + "/email", "an address needs \"email\" as a string");
      return std::nullopt;
    }
    a.email = std::string(e->as_string());
    if (auto* n = o.if_contains("name")) {
      if (!n->is_string()) {
        err.Add(ptr + "/name", "must be a string");
        return std::nullopt;
      }
      a.name = std::string(n->as_string());
    }
  } else {
    err.Add(ptr, "must be an address: \"jane@example.com\", \"Jane <jane@example.com>\" or {\"email\": ..., \"name\": ...}");
    return std::nullopt;
  }
  return a;
}

// One address or an array of them.
std::vector<mime::Address> ParseAddressList(const json::value* v, const std::string& ptr, Errors& err) {
  std::vector<mime::Address> out;
  if (!v) return out;
  if (v->is_array()) {
    const auto& arr = v->as_array();
    for (size_t i = 0; i < arr.size(); ++i)
      if (auto a = ParseAddress(&arr[i], ptr + "/" + std::to_string(i), err)) out.push_back(*a);
  } else if (auto a = ParseAddress(v, ptr, err)) {
    out.push_back(*a);
  }
  return out;
}

std::string StringField(const json::object& o, const char* name, Errors& err, const std::string& base = "") {
  auto* v = o.if_contains(name);
  if (!v || v->is_null()) return "";
  if (!v->is_string()) {
    err.Add(base + "/" + name, "must be a string");
    return "";
  }
  return std::string(v->as_string());
}

// RFC 3339 date-time ("2026-11-26T10:00:00Z", offsets allowed) or Unix seconds -> microseconds.
std::optional<int64_t> ParseTime(const json::value& v) {
  if (v.is_int64()) return v.as_int64() * 1'000'000;
  if (v.is_uint64()) return static_cast<int64_t>(v.as_uint64()) * 1'000'000;
  if (!v.is_string()) return std::nullopt;
  return ParseRfc3339(std::string(v.as_string()));
}

}  // namespace

namespace {

// "headers": {"Name": "value", ...}, at most api.max_headers of them.
void ParseHeaders(const json::value* h, const ApiConfig& limits, mime::MessageSpec& spec, Errors& err) {
  if (!h) return;
  if (!h->is_object()) return err.Add("/headers", "must be an object of name: value");
  if (h->as_object().size() > limits.max_headers)
    err.Add("/headers", "at most " + std::to_string(limits.max_headers) + " extra headers (api.max_headers)");
  for (const auto& [k, v] : h->as_object()) {
    if (!v.is_string()) err.Add("/headers/" + PointerToken(std::string(k)), "must be a string");
    else spec.headers.emplace_back(std::string(k), std::string(v.as_string()));
  }
}

// "attachments": [{"filename", "content" (base64), "content_type", "content_id"}], api.max_attachment_bytes in all.
void ParseAttachments(const json::value* at, const ApiConfig& limits, mime::MessageSpec& spec, Errors& err) {
  if (!at) return;
  if (!at->is_array()) return err.Add("/attachments", "must be an array");
  std::size_t total = 0;
  const auto& arr = at->as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string p = "/attachments/" + std::to_string(i);
    if (!arr[i].is_object()) {
      err.Add(p, "must be an object with filename and content (base64)");
      continue;
    }
    const auto& a = arr[i].as_object();
    mime::Attachment att;
    att.filename = StringField(a, "filename", err, p);
    att.content_type = StringField(a, "content_type", err, p);
    att.content_id = StringField(a, "content_id", err, p);
    std::string b64 = StringField(a, "content", err, p);
    if (!a.if_contains("content")) err.Add(p + "/content", "required: the file's bytes in base64");
    auto bytes = Base64Decode(b64);
    if (!bytes) err.Add(p + "/content", "is not valid base64");
    else att.content = std::move(*bytes);
    total += att.content.size();
    spec.attachments.push_back(std::move(att));
  }
  if (total > limits.max_attachment_bytes)
    err.Add("/attachments", "the attachments total " + std::to_string(total) + " octets; the limit is " +
                                std::to_string(limits.max_attachment_bytes) + " (api.max_attachment_bytes)");
}

// "recipients": [{"to", "cc", "bcc", "variables", "metadata"}], one message each; returns how many
// addresses they name.
std::size_t ParseRecipientEntries(const json::value& rs, SendRequest& r, Errors& err) {
  if (!rs.is_array() || rs.as_array().empty()) {
    err.Add("/recipients", "must be a non-empty array of {\"to\": ..., \"variables\": {...}}");
    return r.base.to.size() + r.base.cc.size() + r.base.bcc.size();
  }
  if (!r.base.to.empty() || !r.base.cc.empty() || !r.base.bcc.empty())
    err.Add("/recipients", "give either to/cc/bcc or recipients[], not both");
  const auto& arr = rs.as_array();
  std::size_t count = 0;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string p = "/recipients/" + std::to_string(i);
    if (!arr[i].is_object()) {
      err.Add(p, "must be an object with \"to\"");
      continue;
    }
    const auto& e = arr[i].as_object();
    RecipientEntry re;
    re.to = ParseAddressList(e.if_contains("to"), p + "/to", err);
    re.cc = ParseAddressList(e.if_contains("cc"), p + "/cc", err);
    re.bcc = ParseAddressList(e.if_contains("bcc"), p + "/bcc", err);
    if (re.to.empty() && re.cc.empty() && re.bcc.empty()) err.Add(p + "/to", "required: at least one address");
    if (auto* v = e.if_contains("variables"); v && !v->is_null()) {
      if (!v->is_object()) err.Add(p + "/variables", "must be an object");
      else re.variables = v;
    }
    if (auto* m = e.if_contains("metadata"); m && !m->is_null()) {
      if (!m->is_object()) err.Add(p + "/metadata", "must be an object");
      else re.metadata = m;
    }
    count += re.to.size() + re.cc.size() + re.bcc.size();
    r.recipients.push_back(std::move(re));
  }
  return count;
}

}  // namespace

void ParseSend(const json::object& o, const ApiConfig& limits, const SendDefaults& defaults, SendRequest& r, Errors& err) {
  static const std::set<std::string> kKnown = {"from", "to", "cc", "bcc", "reply_to", "subject", "text", "html",
                                               "headers", "attachments", "tags", "metadata", "send_at", "template",
                                               "template_version", "variables", "recipients", "track_opens",
                                               "track_clicks", "list_unsubscribe"};
  for (const auto& [k, v] : o)
    if (!kKnown.count(std::string(k)))
      err.Add("/" + PointerToken(std::string(k)), "unknown field; see /v1/openapi.json for the fields of a message");
  if (auto a = ParseAddress(o.if_contains("from"), "/from", err)) r.base.from = *a;
  else if (!o.if_contains("from")) err.Add("/from", "required: the sender, e.g. \"shop@example.com\"");
  r.base.to = ParseAddressList(o.if_contains("to"), "/to", err);
  r.base.cc = ParseAddressList(o.if_contains("cc"), "/cc", err);
  r.base.bcc = ParseAddressList(o.if_contains("bcc"), "/bcc", err);
  r.base.reply_to = ParseAddressList(o.if_contains("reply_to"), "/reply_to", err);
  r.base.subject = StringField(o, "subject", err);
  r.base.text = StringField(o, "text", err);
  r.base.html = StringField(o, "html", err);
  ParseHeaders(o.if_contains("headers"), limits, r.base, err);
  ParseAttachments(o.if_contains("attachments"), limits, r.base, err);
  if (auto* t = o.if_contains("tags")) {
    bool ok = t->is_array() && t->as_array().size() <= 20;
    if (ok)
      for (const auto& x : t->as_array()) ok = ok && x.is_string() && !x.as_string().empty() && x.as_string().size() <= 128;
    if (!ok) err.Add("/tags", "must be an array of at most 20 non-empty strings of up to 128 characters");
    else r.tags = json::serialize(*t);
  }
  if (auto* m = o.if_contains("metadata")) {
    if (!m->is_object()) err.Add("/metadata", "must be an object");
    else if (json::serialize(*m).size() > 10000) err.Add("/metadata", "must serialise to at most 10000 octets");
    else r.metadata = json::serialize(*m);
  }
  if (auto* s = o.if_contains("send_at"); s && !s->is_null()) {
    auto t = ParseTime(*s);
    int64_t now = NowMicros();
    if (!t) err.Add("/send_at", "must be an RFC 3339 time such as \"2026-12-01T09:00:00Z\" or Unix seconds");
    else if (*t > now + 30LL * 86400 * 1'000'000) err.Add("/send_at", "may be at most 30 days ahead");
    else if (*t > now) r.send_at = *t;
  }
  // Unsaid flags: the defaults (the account's, else the server's tracking.* configuration).
  r.track_opens = defaults.track_opens;
  r.track_clicks = defaults.track_clicks;
  r.list_unsubscribe = defaults.list_unsubscribe;
  for (const char* flag : {"track_opens", "track_clicks", "list_unsubscribe"}) {
    auto* v = o.if_contains(flag);
    if (!v || v->is_null()) continue;
    if (!v->is_bool()) {
      err.Add(std::string("/") + flag, "must be true or false");
      continue;
    }
    (flag[0] == 'l' ? r.list_unsubscribe : flag[6] == 'o' ? r.track_opens : r.track_clicks) = v->as_bool();
  }
  if (auto* t = o.if_contains("template"); t && !t->is_null()) {
    if (t->is_string()) r.template_ref = std::string(t->as_string());
    else if (t->is_int64()) r.template_ref = std::to_string(t->as_int64());
    else err.Add("/template", "must be a template id or name");
  }
  if (auto* v = o.if_contains("template_version"); v && !v->is_null()) {
    if (!v->is_int64() || v->as_int64() < 1) err.Add("/template_version", "must be a version number (1, 2, ...)");
    else r.template_version = static_cast<int>(v->as_int64());
  }
  if (auto* v = o.if_contains("variables"); v && !v->is_null()) {
    if (!v->is_object()) err.Add("/variables", "must be an object");
    else r.variables = v;
  }
  std::size_t count = r.base.to.size() + r.base.cc.size() + r.base.bcc.size();
  if (auto* rs = o.if_contains("recipients")) {
    count = ParseRecipientEntries(*rs, r, err);
  } else if (count == 0) {
    err.Add("/to", "required: at least one recipient in to, cc or bcc (or use recipients[])");
  }
  if (count > limits.max_recipients)
    err.Add(o.if_contains("recipients") ? "/recipients" : "/to",
            std::to_string(count) + " recipients; at most " + std::to_string(limits.max_recipients) +
                " per request (api.max_recipients): split the request");
}

namespace {

// The API's origin record of a request: "api:#12" and "key #12" in the Received: line.
ingress::Origin ApiOrigin(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc) {
  ingress::Origin o;
  o.test_mode = ctx.account_defaults->Get(ctx.store, rc.who.account).test_mode.value_or(false);  // cached
  o.account = rc.who.account;
  o.api_key = "#" + std::to_string(rc.who.key_id);
  o.credential = "api:" + o.api_key;
  o.client_ip = req.client_ip;
  o.helo = "api";
  return o;
}

// Takes suppressed recipients out of `messages` (ingress) and says so in the response: `items[i]`
// (the entry of messages[i]) lists them under "suppressed", and one left with no recipient has status
// "suppressed" (it is not sent). False when the list cannot be read (nothing may be sent then).
bool DropSuppressed(ApiContext& ctx, std::vector<spool::SpoolMessage>& messages, json::array& items, std::string& error) {
  auto dropped = ingress::Ingress(ctx.store, ctx.spool).DropSuppressed(messages);
  if (!dropped) {
    error = dropped.error().message;
    return false;
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (dropped.value()[i].empty()) continue;
    auto& item = items[i].as_object();
    json::array gone, rcpts;
    for (const auto& d : dropped.value()[i]) gone.push_back(json::object{{"address", d.address}, {"reason", d.reason}});
    for (const auto& a : messages[i].recipients) rcpts.emplace_back(a);
    item["suppressed"] = std::move(gone);
    item["recipients"] = std::move(rcpts);
    if (messages[i].recipients.empty()) item["status"] = "suppressed";
  }
  return true;
}

std::string AddressOnly(const std::vector<mime::Address>& v, std::vector<std::string>& out) {
  for (const auto& a : v) out.push_back(a.email);
  return "";
}

// Idempotency: a first request runs and its response is kept; a repeat with the same body gets the
// same response; a repeat with another body is refused; a repeat while the first runs is 409.
class Idempotency {
 public:
  bool Begin(const std::string& scope) {
    std::lock_guard l(mu_);
    return running_.insert(scope).second;
  }
  void End(const std::string& scope) {
    std::lock_guard l(mu_);
    running_.erase(scope);
  }

 private:
  std::mutex mu_;
  std::set<std::string> running_;
};

// Runs `work` under the request's Idempotency-Key, if any.
void WithIdempotency(ApiContext& ctx, Idempotency& idem, const HttpRequest& req, const RouteContext& rc, Reply reply,
                     std::function<void(Reply)> work) {
  const std::string& key = req.Header("idempotency-key");
  if (key.empty()) return work(std::move(reply));
  if (key.size() > 255) return reply(Problem(400, "Bad Request", "Idempotency-Key is longer than 255 characters"));
  const std::string hash = HashHex(req.method + " " + req.path + "\n" + req.body);
  auto found = ctx.store.FindIdempotent(rc.who.account, key, NowMicros() - kIdempotencyWindow);
  if (found && found.value()) {
    if (found.value()->request_hash != hash)
      return reply(Problem(422, "Idempotency Key Reused",
                           "this Idempotency-Key was used within 24 h for a different request; use a new key"));
    auto res = Json(found.value()->status, found.value()->body);
    res.headers.emplace_back("Idempotent-Replayed", "true");
    return reply(std::move(res));
  }
  const std::string scope = rc.who.account + "\n" + key;
  if (!idem.Begin(scope))
    return reply(Problem(409, "Conflict", "a request with this Idempotency-Key is still being processed; retry later"));
  work([&ctx, &idem, scope, key, hash, account = rc.who.account, reply = std::move(reply)](HttpResponse res) {
    if (res.status >= 200 && res.status < 300)
      if (auto r = ctx.store.SaveIdempotent(account, key, {hash, res.status, res.body}, NowMicros() - kIdempotencyWindow); !r)
        spdlog::warn("api: cannot keep Idempotency-Key response: {}", r.error().message);
    idem.End(scope);
    reply(std::move(res));
  });
}

struct Rendered {
  std::string subject, text, html;
};

// The request's subject, text and html (or the template's), parsed once per request and rendered per
// recipient: parsing costs more than rendering.
struct ParsedParts {
  std::optional<templates::Template> subject, text, html;
};

bool ParseParts(const std::optional<TemplateContent>& tpl, const SendRequest& r, ParsedParts& out, Errors& err) {
  auto one = [&](const std::string& src, std::optional<templates::Template>& dst, const char* field) {
    if (src.empty()) return true;
    auto t = templates::Template::Parse(src);
    if (!t) {
      err.Add(tpl ? "/template" : std::string("/") + field, std::string(field) + ": " + t.error().message);
      return false;
    }
    dst.emplace(std::move(t.value()));
    return true;
  };
  bool ok = one(tpl ? tpl->subject : r.base.subject, out.subject, "subject");
  ok = one(tpl ? tpl->text : r.base.text, out.text, "text") && ok;
  ok = one(tpl ? tpl->html : r.base.html, out.html, "html") && ok;
  return ok;
}

// Renders the parsed parts for one recipient with the request's variables overlaid by the recipient's.
bool RenderFor(const ParsedParts& parts, const SendRequest& r, const json::value* vars, Rendered& out, Errors& err,
               const std::string& ptr) {
  json::object merged;
  if (r.variables) merged = r.variables->as_object();
  if (vars)
    for (const auto& [k, v] : vars->as_object()) merged[k] = v;
  json::value all(std::move(merged));
  auto one = [&](const std::optional<templates::Template>& t, bool html, std::string& dst, const char* field) {
    if (!t) return true;
    auto res = t->Render(all, html);
    if (!res) {
      err.Add(ptr.empty() ? "/variables" : ptr + "/variables", std::string(field) + ": " + res.error().message);
      return false;
    }
    if (!res->missing.empty()) {
      std::string names;
      for (const auto& m : res->missing) names += (names.empty() ? "" : ", ") + m;
      err.Add(ptr.empty() ? "/variables" : ptr + "/variables", "missing variables for " + std::string(field) + ": " + names);
      return false;
    }
    dst = std::move(res->text);
    return true;
  };
  bool ok = one(parts.subject, false, out.subject, "subject");
  ok = one(parts.text, false, out.text, "text") && ok;
  ok = one(parts.html, true, out.html, "html") && ok;
  return ok;
}

// Tracked links and List-Unsubscribe name the recipient. A message to one recipient gets them now (in
// `spec`); one to several carries the send's flags as its send options (returned), and delivery makes
// each recipient's copy (TrackSubmitted), so that opens, clicks and unsubscribes are each one's own.
spool::SendOptions ApplyTracking(ApiContext& ctx, const SendRequest& r, const std::string& id, mime::MessageSpec& spec) {
  if (!ctx.tracking_key || !(r.track_opens || r.track_clicks || r.list_unsubscribe)) return {};
  if (spec.to.size() + spec.cc.size() + spec.bcc.size() > 1)
    return spool::SendOptions{r.track_opens, r.track_clicks, r.list_unsubscribe};
  TrackForOneRecipient(ctx, id, r.track_opens, r.track_clicks, r.list_unsubscribe, spec);
  return {};
}

void HandleSend(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  json::value body;
  if (std::string bad = ParseJson(req.body, body); !bad.empty())
    return reply(Problem(400, "Malformed JSON", "the body is not valid JSON: " + bad));
  if (!body.is_object()) return reply(Problem(400, "Malformed JSON", "the body must be a JSON object"));
  SendRequest r;
  Errors err;
  const auto account_defaults = ctx.account_defaults->Get(ctx.store, rc.who.account);
  const SendDefaults defaults{account_defaults.track_opens.value_or(ctx.config.tracking.opens),
                              account_defaults.track_clicks.value_or(ctx.config.tracking.clicks),
                              account_defaults.list_unsubscribe.value_or(false)};
  ParseSend(body.as_object(), ctx.config.api, defaults, r, err);
  if (!err.empty()) return reply(Invalid(err));
  std::optional<TemplateContent> tpl;
  if (!r.template_ref.empty()) {
    auto t = FindStoredTemplate(ctx.store, rc.who.account, r.template_ref, r.template_version);
    if (!t) {
      err.Add(r.template_version ? "/template_version" : "/template", t.error().message);
      return reply(Invalid(err));
    }
    if (!r.base.subject.empty() || !r.base.text.empty() || !r.base.html.empty())
      err.Add("/template", "give either a template or subject/text/html, not both");
    tpl = std::move(t.value());
  }
  if (!err.empty()) return reply(Invalid(err));
  if (auto p = mime::ValidateAddress(r.base.from.email); !p) {
    if (auto problem = ingress::Ingress(ctx.store, ctx.spool).SenderProblem(rc.who.account, r.base.from.email))
      return reply(Problem(403, "Sender Not Allowed", *problem));
  }
  // One spec per outgoing message.
  std::vector<RecipientEntry> entries = r.recipients;
  bool batch = !entries.empty();
  if (!batch) entries.push_back(RecipientEntry{r.base.to, r.base.cc, r.base.bcc, nullptr, nullptr});
  const int64_t now = NowMicros();
  std::vector<spool::SpoolMessage> out;
  json::array ids;
  out.reserve(entries.size());
  const ingress::Origin origin = ApiOrigin(ctx, req, rc);
  const bool templated = tpl || r.variables || batch;
  ParsedParts parts;
  if (templated && !ParseParts(tpl, r, parts, err)) return reply(Invalid(err));
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const std::string ptr = batch ? "/recipients/" + std::to_string(i) : "";
    mime::MessageSpec spec = r.base;
    spec.to = e.to, spec.cc = e.cc, spec.bcc = e.bcc;
    if (templated) {
      Rendered rd;
      if (!RenderFor(parts, r, e.variables, rd, err, ptr)) continue;
      spec.subject = std::move(rd.subject), spec.text = std::move(rd.text), spec.html = std::move(rd.html);
    }
    spec.date = now / 1'000'000;
    for (const auto& p : mime::ValidateMessageSpec(spec)) {
      bool per_recipient = p.pointer.rfind("/to", 0) == 0 || p.pointer.rfind("/cc", 0) == 0 || p.pointer.rfind("/bcc", 0) == 0;
      std::string at = batch && per_recipient ? ptr + p.pointer : p.pointer;
      // A field every entry shares (an attachment, the sender) is named once, not once per entry.
      if (std::none_of(err.list.begin(), err.list.end(), [&](const FieldError& e) { return e.pointer == at && e.detail == p.detail; }))
        err.Add(std::move(at), p.detail);
    }
    if (!err.empty()) continue;
    const std::string id = NewQueueId();
    const spool::SendOptions delivery_tracking = ApplyTracking(ctx, r, id, spec);
    auto built = mime::BuildMessage(spec);
    if (!built) {
      err.Add(ptr.empty() ? "/" : ptr, built.error().message);
      continue;
    }
    ingress::Envelope env{spec.from.email, {}, "7BIT", false};  // BuildMessage writes 7-bit clean MIME
    AddressOnly(spec.to, env.recipients);
    AddressOnly(spec.cc, env.recipients);
    AddressOnly(spec.bcc, env.recipients);
    auto prepared = ingress::Prepare(origin, std::move(env), built.value(), ctx.config.hostname, false, now, id);
    spool::SpoolMessage& m = prepared.message;
    m.not_before = r.send_at;
    m.options.SetTracking(delivery_tracking);
    m.tags = r.tags;
    if (e.metadata) {
      json::object md = json::parse(r.metadata).as_object();
      for (const auto& [k, v] : e.metadata->as_object()) md[k] = v;
      m.metadata = json::serialize(md);
    } else {
      m.metadata = r.metadata;
    }
    m.subject = spec.subject;
    json::array to;
    for (const auto& a : m.recipients) to.emplace_back(a);
    ids.push_back(json::object{{"id", m.id}, {"recipients", std::move(to)},
                               {"status", r.send_at ? "scheduled" : "queued"}});
    out.push_back(std::move(m));
  }
  if (!err.empty()) return reply(Invalid(err));
  if (std::string e; !DropSuppressed(ctx, out, ids, e))
    return reply(Problem(503, "Unavailable", "the suppression list could not be read (" + e + "); nothing was accepted, retry"));
  json::object res{{"messages", std::move(ids)}};
  if (r.send_at) res["send_at"] = FormatTimeUtc(r.send_at);
  if (tpl) res["template"] = json::object{{"id", tpl->id}, {"version", tpl->version}};
  std::string res_body = json::serialize(res);
  ingress::Ingress(ctx.store, ctx.spool).Submit(std::move(out), [reply = std::move(reply), res_body = std::move(res_body)](bool ok, std::string error) {
    if (!ok) return reply(Problem(503, "Not Stored", "the message could not be stored (" + error + "); nothing was accepted, retry"));
    reply(Json(202, res_body));
  });
}

// "a@x, b@y" or repeated values -> addresses
std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t c = s.find(',', pos);
    std::string part = s.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (!part.empty()) out.push_back(part);
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return out;
}

// What a POST /v1/messages/raw asks for.
struct RawRequest {
  std::string from, message, tags = "[]", metadata = "{}";
  std::vector<std::string> to;
  int64_t send_at = 0;
};

// The request's fields: Content-Type message/rfc822 with ?from=&to=a,b, or a JSON object. False (with
// the reply sent) when the body is not JSON at all; field errors go to `err`.
bool ParseRawRequest(const HttpRequest& req, RawRequest& r, Errors& err, Reply& reply) {
  const std::string& ctype = req.Header("content-type");
  if (IStartsWith(ctype, "message/rfc822")) {
    auto f = req.query.find("from");
    auto t = req.query.find("to");
    if (f == req.query.end()) err.Add("/from", "required as ?from=sender@example.com with message/rfc822 bodies");
    else r.from = f->second;
    if (t != req.query.end()) r.to = SplitList(t->second);
    r.message = req.body;
    return true;
  }
  json::value body;
  std::string bad = ParseJson(req.body, body);
  if (!bad.empty() || !body.is_object()) {
    reply(Problem(400, "Malformed JSON", (bad.empty() ? "" : "the body is not valid JSON: " + bad + "; ") +
                                             "send a JSON object {\"from\", \"to\", \"message\"} or Content-Type: message/rfc822"));
    return false;
  }
  const auto& o = body.as_object();
  if (auto* f = o.if_contains("from"); f && !f->is_null())
    if (auto a = ParseAddress(f, "/from", err)) r.from = a->email;  // "Jane <jane@example.com>" too
  if (!o.if_contains("from")) err.Add("/from", "required: the envelope sender");
  for (const auto& a : ParseAddressList(o.if_contains("to"), "/to", err)) r.to.push_back(a.email);
  r.message = StringField(o, "message", err);
  if (!o.if_contains("message")) err.Add("/message", "required: the complete message (headers, blank line, body)");
  if (auto* t = o.if_contains("tags")) r.tags = json::serialize(*t);
  if (auto* m = o.if_contains("metadata")) {
    if (!m->is_object()) err.Add("/metadata", "must be an object");
    else r.metadata = json::serialize(*m);
  }
  if (auto* s = o.if_contains("send_at"); s && !s->is_null()) {
    auto t = ParseTime(*s);
    if (!t) err.Add("/send_at", "must be an RFC 3339 time or Unix seconds");
    else if (*t > NowMicros()) r.send_at = *t;
  }
  return true;
}

// The message text's own checks, as SMTP's DATA makes them: no NUL, the size limit, no line longer than
// smtp.limits.max_data_line. Lines over RFC 5322's 998 octets are fitted by ingress (ingress::Prepare).
void CheckRawMessage(const ApiContext& ctx, const std::string& data, Errors& err) {
  if (data.find('\0') != std::string::npos) err.Add("/message", "contains a NUL octet");
  if (data.size() > ctx.config.limits.max_message_size)
    err.Add("/message", "is larger than smtp.limits.max_message_size (" + std::to_string(ctx.config.limits.max_message_size) + ")");
  const std::size_t max = ctx.config.limits.max_data_line;
  if (std::size_t at = mime::FirstLongLine(data, max); at != std::string::npos)
    err.Add("/message", "line " + std::to_string(1 + std::count(data.begin(), data.begin() + at, '\n')) +
                            " is longer than smtp.limits.max_data_line (" + std::to_string(max) +
                            " octets); encode long lines (quoted-printable or base64)");
}

// POST /v1/messages/raw: {"from": envelope sender, "to": [envelope recipients], "message": RFC 5322 text,
// optional tags, metadata, send_at}; or Content-Type message/rfc822 with ?from=&to=a,b.
void HandleRaw(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  Errors err;
  RawRequest r;
  if (!ParseRawRequest(req, r, err, reply)) return;
  if (auto p = mime::ValidateAddress(r.from); p && !r.from.empty()) err.Add("/from", *p);
  if (r.to.empty()) err.Add("/to", "required: at least one envelope recipient");
  for (size_t i = 0; i < r.to.size(); ++i)
    if (auto p = mime::ValidateAddress(r.to[i])) err.Add("/to/" + std::to_string(i), *p);
  if (r.to.size() > ctx.config.api.max_recipients)
    err.Add("/to", "at most " + std::to_string(ctx.config.api.max_recipients) + " recipients (api.max_recipients)");
  std::string data = mime::NormalizeLineEndings(r.message);
  CheckRawMessage(ctx, data, err);
  // The header From (and Sender) obeys the envelope sender's rule, as for SMTP submission: exactly one
  // From field (RFC 5322 3.6), every address in it at one of the account's sender domains.
  ingress::Ingress in(ctx.store, ctx.spool);
  const auto rules = in.RulesOf(rc.who.account);  // one read for the envelope and the header checks
  std::optional<smtp::proto::HeaderSenderCheck> header_check;
  if (rules) {
    header_check = smtp::proto::CheckHeaderSenders(data, *rules);
    if (header_check->verdict == smtp::proto::HeaderSenderCheck::Verdict::kMalformed)
      err.Add("/message", header_check->reason);
  }
  if (data.size() < 2 || data.substr(data.size() - 2) != "\r\n") data += "\r\n";
  // Ingress: our Received: ("with HTTP"), Message-ID:/Date: when missing, and the X-Kurier-* fields as an
  // SMTP submission may give them (the request's own tags and metadata win).
  ingress::Envelope env{r.from, r.to, IsAscii(data) ? "7BIT" : "8BITMIME", false};
  auto prepared = ingress::Prepare(ApiOrigin(ctx, req, rc), std::move(env), data, ctx.config.hostname, true, NowMicros());
  data = {};
  if (!prepared.error.empty()) err.Add("/message", prepared.error);
  if (!err.empty()) return reply(Invalid(err));
  if (auto problem = ingress::Ingress::SenderProblem(rules, rc.who.account, r.from)) return reply(Problem(403, "Sender Not Allowed", *problem));
  if (header_check && header_check->verdict == smtp::proto::HeaderSenderCheck::Verdict::kNotAllowed)
    return reply(Problem(403, "Sender Not Allowed", header_check->reason));
  spool::SpoolMessage& m = prepared.message;
  m.not_before = r.send_at;
  if (r.tags != "[]") m.tags = r.tags;
  if (r.metadata != "{}") m.metadata = r.metadata;
  json::array rcpts;
  for (const auto& a : m.recipients) rcpts.emplace_back(a);
  json::array items{json::object{{"id", m.id}, {"recipients", rcpts}, {"status", r.send_at ? "scheduled" : "queued"}}};
  std::vector<spool::SpoolMessage> one;
  one.push_back(std::move(m));
  if (std::string e; !DropSuppressed(ctx, one, items, e))
    return reply(Problem(503, "Unavailable", "the suppression list could not be read (" + e + "); nothing was accepted, retry"));
  std::string res_body = json::serialize(json::object{{"messages", std::move(items)}});
  in.Submit(std::move(one), [reply = std::move(reply), res_body = std::move(res_body)](bool ok, std::string error) {
    if (!ok) return reply(Problem(503, "Not Stored", "the message could not be stored (" + error + "); retry"));
    reply(Json(202, res_body));
  });
}

// The `accepted` event of `id` when it belongs to the caller's account (admins see every account).
std::optional<store::Event> AcceptedEvent(ApiContext& ctx, const RouteContext& rc, const std::string& id) {
  store::EventFilter f;
  f.type = "accepted";
  f.message_id = id;
  f.limit = 1;
  auto evs = ctx.store.ListEvents(f);
  if (!evs || evs->empty()) return std::nullopt;
  const auto& e = evs->front();
  if (e.account != rc.who.account && !rc.who.Has(Scope::kAdmin)) return std::nullopt;
  return e;
}

// Per-recipient status from the message's events (and the spool while it is queued).
json::object MessageView(ApiContext& ctx, const store::Event& accepted, bool with_events) {
  json::object data = json::parse(accepted.data).as_object();
  json::object out{{"id", accepted.message_id}, {"account", accepted.account},
                   {"created_at", FormatTimeUtc(accepted.time)}, {"from", data["mail_from"]}};
  for (const char* k : {"subject", "tags", "metadata", "send_at"})
    if (auto* v = data.if_contains(k)) out[k] = *v;
  std::map<std::string, json::object> rcpt;
  std::vector<std::string> order;
  // Before any delivery result: scheduled while its send_at is ahead, then queued (spool/message_state.hpp,
  // the names `kurier queue list` uses too).
  int64_t send_at = 0;
  if (auto* s = data.if_contains("send_at"); s && s->is_string()) send_at = ParseRfc3339(std::string(s->as_string())).value_or(0);
  const std::string initial(spool::RecipientStatus("queued", 0, send_at, NowMicros()));
  for (const auto& r : data["recipients"].as_array()) {
    std::string a(r.as_string());
    order.push_back(a);
    rcpt[a] = json::object{{"address", a}, {"status", initial}, {"events", json::array{}}};
  }
  store::EventFilter f;
  f.message_id = accepted.message_id;
  f.limit = 10000;
  auto evs = ctx.store.ListEvents(f);
  for (const auto& e : evs ? evs.value() : std::vector<store::Event>{}) {
    if (e.type == "accepted") continue;
    boost::system::error_code ec;
    json::value d = json::parse(e.data, ec);
    if (ec || !d.is_object()) continue;
    auto* who = d.as_object().if_contains("recipient");
    if (e.type == "deleted") {
      // Cancelled (or deleted by an operator): the recipients still waiting, named or, without a list, all.
      auto* named = d.as_object().if_contains("recipients");
      for (auto& [address, r] : rcpt) {
        bool in = !named || !named->is_array() || named->as_array().empty();
        if (!in)
          for (const auto& n : named->as_array()) in = in || (n.is_string() && n.as_string() == address);
        if (!in) continue;
        r["status"] = spool::StatusAfterEvent(e.type, r["status"].as_string());
        if (with_events) r["events"].as_array().push_back(json::object{{"type", e.type}, {"time", FormatTimeUtc(e.time)}});
      }
      continue;
    }
    if (!who || !who->is_string()) continue;
    auto it = rcpt.find(std::string(who->as_string()));
    if (it == rcpt.end()) continue;
    auto& r = it->second;
    const std::string current(r["status"].as_string());
    r["status"] = spool::StatusAfterEvent(e.type, current);
    if (auto* rep = d.as_object().if_contains("reply")) r["last_reply"] = *rep;
    if (auto* att = d.as_object().if_contains("attempt")) r["attempts"] = *att;
    if (with_events) {
      json::object ev{{"type", e.type}, {"time", FormatTimeUtc(e.time)}};
      for (const char* k : {"reply", "mx", "classification", "next_attempt"})
        if (auto* v = d.as_object().if_contains(k)) ev[k] = *v;
      r["events"].as_array().push_back(std::move(ev));
    }
  }
  json::array recipients;
  std::vector<std::string_view> states;
  for (const auto& a : order) {
    auto& r = rcpt[a];
    if (!with_events) r.erase("events");
    states.push_back(r["status"].as_string());
    recipients.push_back(r);
  }
  out["status"] = spool::MessageStatus(states);
  out["recipients"] = std::move(recipients);
  return out;
}

void HandleGet(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  const std::string& id = rc.params.at("id");
  auto accepted = AcceptedEvent(ctx, rc, id);
  if (!accepted) return reply(Problem(404, "Not Found", "no message " + id + " in this account"));
  reply(Json(200, json::serialize(MessageView(ctx, *accepted, true))));
}

void HandleList(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  Errors err;
  store::EventFilter f;
  f.type = "accepted";
  f.account = rc.who.account;
  f.newest_first = true;
  f.limit = 50;
  std::string status;
  ListQuerySpec spec;
  spec.text = {{"recipient", &store::EventFilter::recipient},
               {"sender", &store::EventFilter::sender},
               {"tag", &store::EventFilter::tag}};
  spec.other = [&status](const std::string& k, const std::string& v, FieldErrors& e) {
    if (k != "status") return false;
    if (!spool::IsReportedState(v)) e.Add("/query/status", "must be one of " + spool::ReportedStatesText());
    status = v;
    return true;
  };
  spec.unknown = "unknown filter; use status, recipient, sender, tag, from, to, limit, cursor";
  ParseListQuery(req.query, spec, f, err);
  if (!err.empty()) return reply(Invalid(err));
  auto evs = ctx.store.ListEvents(f);
  if (!evs) return reply(Problem(503, "Unavailable", "cannot read messages: " + evs.error().message));
  json::array items;
  for (const auto& e : evs.value()) {
    auto v = MessageView(ctx, e, false);
    if (!status.empty() && v["status"].as_string() != status) continue;
    items.push_back(std::move(v));
  }
  json::object res{{"data", std::move(items)}};
  auto next = NextCursor(*evs, f);
  res["next_cursor"] = next ? json::value(*next) : json::value(nullptr);
  reply(Json(200, json::serialize(res)));
}

void HandleCancel(ApiContext& ctx, const HttpRequest&, const RouteContext& rc, Reply reply) {
  const std::string& id = rc.params.at("id");
  auto accepted = AcceptedEvent(ctx, rc, id);
  if (!accepted) return reply(Problem(404, "Not Found", "no message " + id + " in this account"));
  auto m = ctx.spool.Get(id);
  if (!m || !m.value())
    return reply(Problem(409, "Conflict", "message " + id + " has already left the queue; it cannot be cancelled"));
  if (m.value()->not_before <= NowMicros())
    return reply(Problem(409, "Conflict", "message " + id + " is not scheduled (or its time has come); only scheduled sends can be cancelled"));
  if (!ctx.delivery) return reply(Problem(503, "Unavailable", "delivery is not running in this process; retry"));
  ctx.delivery->Delete(id, [reply = std::move(reply), id](bool ok, std::string text) {
    AnswerOnThrow(reply, "DELETE /v1/messages/" + id, [&] {  // runs on delivery's executor
      if (!ok) return reply(Problem(409, "Conflict", "message " + id + " could not be cancelled: " + text));
      reply(Json(200, json::serialize(json::object{{"id", id}, {"status", "cancelled"}})));
    });
  });
}

}  // namespace

void TrackForOneRecipient(const ApiContext& ctx, const std::string& id, bool opens, bool clicks, bool unsubscribe,
                          mime::MessageSpec& spec) {
  if (!ctx.tracking_key) return;
  const std::string from_domain = ToLowerAscii(spec.from.email.substr(spec.from.email.rfind('@') + 1));
  const tracking::Outbound outbound = OutboundOf(ctx);
  if (!spec.html.empty() && (opens || clicks))
    spec.html = tracking::TrackHtml(outbound, id, from_domain, std::move(spec.html), opens, clicks);
  if (unsubscribe) {
    spec.headers.emplace_back("List-Unsubscribe", tracking::ListUnsubscribeValue(outbound, id, from_domain));
    spec.headers.emplace_back("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
  }
}

void AddMessageRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  auto idem = std::make_shared<Idempotency>();
  router.Add(Route{"POST", "/v1/messages/raw", Scope::kSend,
                   [ctx, idem](const HttpRequest& q, const RouteContext& rc, Reply r) {
                     WithIdempotency(*ctx, *idem, q, rc, std::move(r), [&](Reply inner) { HandleRaw(*ctx, q, rc, std::move(inner)); });
                   },
                   std::vector<std::string>{"application/json", "message/rfc822"}});
  router.Add(Route{"POST", "/v1/messages", Scope::kSend, [ctx, idem](const HttpRequest& q, const RouteContext& rc, Reply r) {
                     WithIdempotency(*ctx, *idem, q, rc, std::move(r), [&](Reply inner) { HandleSend(*ctx, q, rc, std::move(inner)); });
                   }});
  router.Add(Route{"GET", "/v1/messages", Scope::kRead,
                   [ctx](const HttpRequest& q, const RouteContext& rc, Reply r) { HandleList(*ctx, q, rc, std::move(r)); }});
  router.Add(Route{"GET", "/v1/messages/{id}", Scope::kRead,
                   [ctx](const HttpRequest& q, const RouteContext& rc, Reply r) { HandleGet(*ctx, q, rc, std::move(r)); }});
  router.Add(Route{"DELETE", "/v1/messages/{id}", Scope::kSend,
                   [ctx](const HttpRequest& q, const RouteContext& rc, Reply r) { HandleCancel(*ctx, q, rc, std::move(r)); }});
}

}  // namespace kurier::api
