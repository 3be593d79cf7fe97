// tracking_api.cpp - the public tracking endpoints (their links are made by tracking/outbound.cpp).
//
//   GET  /t/o/{token}  the open pixel (a 1x1 GIF): an `opened` event
//   GET  /t/c/{token}  a tracked link: an `clicked` event and 302 to the URL sealed in the token
//   GET  /t/u/{token}  the unsubscribe page: a button that POSTs (so link scanners that follow GETs do
//                      not unsubscribe anyone)
//   POST /t/u/{token}  RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click) or the page's button:
//                      an `unsubscribed` event, which suppresses the address for the account
// Each hit is classified as a person or a machine (Apple Mail Privacy Protection, security gateways
// and link scanners, HEAD requests, hits within 2 s of delivery: tracking/detect.cpp); machine hits are
// recorded with `machine: true` and the reason, so statistics can leave them out.
//
// SECURITY: public (no API key): everything a request can act on is inside a token sealed with the
// node's key (HMAC-SHA256, tracking/token.cpp). A forged, altered or malformed token is 404 and never
// redirects; the redirect target comes only from a verified token and is checked again (http/https, no
// control characters), so this is never an open redirect. Unsubscribe needs the POST.
//
// OutboundOf gives the send path's tracking (tracking/outbound.hpp) what it needs from the API's context.
// STANDARDS: RFC 8058 (one-click unsubscribe), RFC 2369 (List-Unsubscribe), RFC 9110 (302, HEAD).
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <mutex>
#include <unordered_map>

#include "api/api_service.hpp"
#include "api/router.hpp"
#include "bounce/intake.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"
#include "tracking/detect.hpp"
#include "tracking/outbound.hpp"
#include "tracking/token.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

// The smallest transparent GIF (43 octets).
const std::string& Pixel() {
  static const std::string kGif(
      "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00"
      "\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b",
      43);
  return kGif;
}

HttpResponse NotFound() {
  HttpResponse res;
  res.status = 404;
  res.content_type = "text/plain; charset=utf-8";
  res.body = "This link is not valid. It may have been copied incompletely.\n";
  return res;
}

HttpResponse Page(int status, const std::string& title, const std::string& body_html) {
  HttpResponse res;
  res.status = status;
  res.content_type = "text/html; charset=utf-8";
  res.headers.emplace_back("Cache-Control", "no-store");
  res.body = "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
             "<title>" + title + "</title></head><body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\">" +
             body_html + "</body></html>\n";
  return res;
}

struct MessageInfo {
  std::string account, recipient;
  json::object context;  ///< mail_from, tags, metadata of the message
  int64_t delivered_at = 0;
};

// What the accepted event (and the recipient's delivered event) of message `id` say.
std::optional<MessageInfo> LookupStored(ApiContext& ctx, const std::string& id, uint32_t index) {
  auto found = ctx.store.FindMessageContext(id);
  if (!found || !found.value() || found.value()->account.empty()) return std::nullopt;
  const store::MessageContext& c = **found;
  if (index >= c.recipients.size()) return std::nullopt;
  MessageInfo info;
  info.account = c.account;
  info.recipient = c.recipients[index];
  info.context = json::parse("{" + store::ContextMembers(c) + "}").as_object();
  info.delivered_at = c.DeliveredAt(info.recipient);
  return info;
}

// Recently hit messages, so that a burst of opens and clicks reads the event log once. An entry whose
// delivery time is not known yet is read again after a second (the "too fast" judgement needs it).
class InfoCache {
 public:
  std::optional<MessageInfo> Get(ApiContext& ctx, const std::string& id, uint32_t index) {
    const std::string key = id + "/" + std::to_string(index);
    const int64_t now = NowMicros();
    {
      std::lock_guard lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end() && (it->second.first.delivered_at || now - it->second.second < 1'000'000)) return it->second.first;
    }
    auto info = LookupStored(ctx, id, index);
    if (!info) return info;
    std::lock_guard lock(mu_);
    if (map_.size() >= 100000) map_.clear();
    map_[key] = {*info, now};
    return info;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::pair<MessageInfo, int64_t>> map_;
};

struct Tracker {
  InfoCache cache;
};

store::Event HitEvent(const std::string& type, const tracking::TokenPayload& t, const MessageInfo& info,
                      const HttpRequest& req, json::object extra) {
  const int64_t now = NowMicros();
  tracking::Hit hit;
  hit.kind = t.kind;
  hit.user_agent = req.Header("user-agent");
  hit.ip = req.client_ip;
  hit.method = req.method;
  if (info.delivered_at) hit.seconds_since_delivery = static_cast<double>(now - info.delivered_at) / 1e6;
  auto c = tracking::Classify(hit);
  json::object d = info.context;
  d["recipient"] = info.recipient;
  d["user_agent"] = req.Header("user-agent");
  d["ip"] = req.client_ip;
  d["machine"] = c.machine;
  if (!c.reason.empty()) d["machine_reason"] = c.reason;
  if (c.proxied) d["proxied"] = true;
  for (auto& [k, v] : extra) d[k] = v;
  return store::Event{0, now, type, t.message_id, info.account, json::serialize(d)};
}

std::optional<tracking::TokenPayload> Open(ApiContext& ctx, const RouteContext& rc, tracking::TokenKind kind) {
  if (!ctx.tracking_key) return std::nullopt;
  auto t = tracking::OpenToken(*ctx.tracking_key, rc.params.at("token"));
  if (!t || t->kind != kind) return std::nullopt;
  return t;
}

// Records the hit's event, then answers `res` (at once when the message is unknown: the token is
// genuine, so the visitor still gets the pixel or the link). RecordEvent goes through the store's
// event journal: one file append, on disk before the answer, in the event log milliseconds later.
void RecordThenReply(ApiContext& ctx, Tracker& tr, const char* type, const tracking::TokenPayload& t, const HttpRequest& req,
                     json::object extra, HttpResponse res, Reply reply) {
  if (auto info = tr.cache.Get(ctx, t.message_id, t.recipient_index))
    if (auto r = ctx.store.RecordEvent(HitEvent(type, t, *info, req, std::move(extra))); !r)
      spdlog::error("tracking: cannot record a {} event of message {}: {}", type, t.message_id, r.error().message);
  reply(std::move(res));
}

void HandleOpen(ApiContext& ctx, Tracker& tr, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto t = Open(ctx, rc, tracking::TokenKind::kOpen);
  if (!t) return reply(NotFound());
  HttpResponse res;
  res.content_type = "image/gif";
  res.headers.emplace_back("Cache-Control", "no-store, max-age=0");
  res.body = Pixel();
  RecordThenReply(ctx, tr, "opened", *t, req, {}, std::move(res), std::move(reply));
}

void HandleClick(ApiContext& ctx, Tracker& tr, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto t = Open(ctx, rc, tracking::TokenKind::kClick);
  if (!t || !tracking::IsSafeRedirectUrl(t->url)) return reply(NotFound());
  HttpResponse res;
  res.status = 302;
  res.content_type = "text/plain; charset=utf-8";
  res.headers.emplace_back("Location", t->url);
  res.headers.emplace_back("Cache-Control", "no-store");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.body = "Redirecting to " + t->url + "\n";
  json::object extra{{"url", t->url}, {"link_index", t->link_index}};
  RecordThenReply(ctx, tr, "clicked", *t, req, std::move(extra), std::move(res), std::move(reply));
}

std::string Escape(const std::string& s) { return HtmlEscape(s); }

void HandleUnsubscribePage(ApiContext& ctx, Tracker&, const HttpRequest&, const RouteContext& rc, Reply reply) {
  auto t = Open(ctx, rc, tracking::TokenKind::kUnsubscribe);
  if (!t) return reply(NotFound());
  auto info = LookupStored(ctx, t->message_id, t->recipient_index);
  if (!info) return reply(NotFound());
  reply(Page(200, "Unsubscribe",
             "<h1>Unsubscribe</h1><p>Stop mail from this sender to <b>" + Escape(info->recipient) + "</b>?</p>"
             "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
             "<button type=\"submit\">Unsubscribe</button></form>"));
}

void HandleUnsubscribe(ApiContext& ctx, Tracker&, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  auto t = Open(ctx, rc, tracking::TokenKind::kUnsubscribe);
  if (!t) return reply(NotFound());
  auto info = LookupStored(ctx, t->message_id, t->recipient_index);
  if (!info) return reply(NotFound());
  // RFC 8058 3.1: the body is List-Unsubscribe=One-Click (form-encoded); the page's button sends the same.
  if (req.body.find("List-Unsubscribe=One-Click") == std::string::npos)
    return reply(Page(400, "Unsubscribe", "<p>The request did not say <code>List-Unsubscribe=One-Click</code>; "
                                          "use the button on the page this link opens.</p>"));
  // Written at once (not batched): the suppression must hold before the confirmation is shown.
  if (auto r = ctx.store.AppendEvents({HitEvent("unsubscribed", *t, *info, req, json::object{{"method", "one-click"}})}); !r)
    return reply(Page(503, "Unsubscribe", "<p>The unsubscribe could not be recorded just now; please try again.</p>"));
  reply(Page(200, "Unsubscribed", "<h1>Unsubscribed</h1><p><b>" + Escape(info->recipient) +
                                      "</b> will get no more of this mail.</p>"));
}

}  // namespace

tracking::Outbound OutboundOf(const ApiContext& ctx) {
  tracking::Outbound out;
  out.link_base = tracking::LinkBaseOf(ctx.config);
  out.opens = ctx.config.tracking.opens;
  out.clicks = ctx.config.tracking.clicks;
  out.key = ctx.tracking_key;
  if (ctx.intake)
    out.unsubscribe_address = [intake = ctx.intake](const std::string& id, const std::string& from_domain) {
      return intake->UnsubscribeAddress(id, from_domain);
    };
  out.account_defaults = [defaults = ctx.account_defaults, &store = ctx.store](const std::string& account) {
    return defaults->Get(store, account);
  };
  return out;
}

void AddTrackingRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  std::shared_ptr<Tracker> tr = ctx ? std::make_shared<Tracker>() : nullptr;
  auto route = [&](const char* method, const char* path,
                   void (*h)(ApiContext&, Tracker&, const HttpRequest&, const RouteContext&, Reply)) {
    // Served on the public listener when there is one (public.listen). The one-click POST takes the
    // form encodings a mail client or the page's button sends (RFC 8058 3.1); the GETs read no body.
    std::optional<std::vector<std::string>> accepts;
    if (std::string(method) == "POST") accepts = {"application/x-www-form-urlencoded", "multipart/form-data"};
    router.Add(Route{method, path, Scope::kPublic,
                     [ctx, tr, h](const HttpRequest& q, const RouteContext& rc, Reply r) { h(*ctx, *tr, q, rc, std::move(r)); },
                     std::move(accepts), Audience::kRecipients});
  };
  route("GET", "/t/o/{token}", HandleOpen);
  route("GET", "/t/c/{token}", HandleClick);
  route("GET", "/t/u/{token}", HandleUnsubscribePage);
  route("POST", "/t/u/{token}", HandleUnsubscribe);
}

}  // namespace kurier::api
