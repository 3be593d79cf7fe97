// tracking/outbound.cpp - the send side of tracking: links rewritten to signed /t/c tokens, the /t/o
// pixel, List-Unsubscribe with the /t/u one-click URL and the signed mailto: address.
//
// Mail submitted over SMTP is tracked as it leaves (TrackSubmitted, applied by delivery's transforms):
// the message's send options (spool::SendOptions, set at acceptance) or the account's defaults decide,
// and its HTML parts are rewritten in place (mime/rewrite.cpp RewriteHtmlParts). Everything a link carries is sealed in its token (tracking/token.cpp), so the
// public endpoints (api/tracking_api.cpp) need no look-up to know what was hit.
// STANDARDS: RFC 8058 (one-click unsubscribe), RFC 2369 (List-Unsubscribe).
#include "tracking/outbound.hpp"

#include <spdlog/spdlog.h>

#include "common/config.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "ingress/prepare.hpp"
#include "mime/parse.hpp"
#include "mime/rewrite.hpp"
#include "spool/spool.hpp"
#include "store/store.hpp"
#include "tracking/html_rewriter.hpp"
#include "tracking/token.hpp"

namespace kurier::tracking {

AccountDefaults::Values AccountDefaults::Get(store::Store& store, const std::string& account) {
  const int64_t now = NowMicros();
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(account); it != cache_.end() && now - it->second.second < 5'000'000) return it->second.first;
  }
  Values v;
  auto a = store.FindAccount(account);
  if (!a) {
    spdlog::error("api: cannot read the defaults of account '{}': {}; using the server's", account, a.error().message);
    return v;
  }
  if (a.value()) v = Values{a.value()->track_opens, a.value()->track_clicks, a.value()->list_unsubscribe, a.value()->test_mode};
  std::lock_guard lock(mu_);
  if (cache_.size() > 10000) cache_.clear();
  cache_[account] = {v, now};
  return v;
}

void AccountDefaults::Forget(const std::string& account) {
  std::lock_guard lock(mu_);
  cache_.erase(account);
}

namespace {

std::string Seal(const Outbound& out, const TokenPayload& p) {
  auto t = SealToken(*out.key, p);
  return t ? t.value() : std::string();
}

// The one-click unsubscribe URL (RFC 8058) of message `id`'s recipient `index`.
std::string UnsubscribeUrl(const Outbound& out, const std::string& id, const std::string& from_domain, uint32_t index) {
  return TrackingBase(out, from_domain) + "/t/u/" + Seal(out, TokenPayload{TokenKind::kUnsubscribe, id, index, 0, 0, ""});
}

}  // namespace

std::string LinkBaseOf(const Config& config) {
  if (config.tracking.base_url.empty())
    return "http://" + (config.api.public_listen.empty() ? config.api.listen : config.api.public_listen);
  return config.tracking.base_url;
}

std::string TrackingBase(const Outbound& out, const std::string& from_domain) {
  std::string base = out.link_base;
  if (auto at = base.find("{domain}"); at != std::string::npos) base.replace(at, 8, from_domain);
  return base;
}

std::string TrackHtml(const Outbound& out, const std::string& id, const std::string& from_domain, std::string html,
                      bool opens, bool clicks, uint32_t recipient) {
  const std::string base = TrackingBase(out, from_domain);
  if (clicks) {
    auto res = RewriteLinks(html, [&](std::string_view url, std::size_t index) -> std::optional<std::string> {
      if (index > 65535) return std::nullopt;
      auto normalized = NormalizeClickUrl(url);
      if (!normalized) return std::nullopt;
      TokenPayload p{TokenKind::kClick, id, recipient, 0, static_cast<uint16_t>(index), *normalized};
      std::string token = Seal(out, p);
      if (token.empty()) return std::nullopt;
      return base + "/t/c/" + token;
    });
    html = std::move(res.html);
  }
  if (opens) {
    std::string token = Seal(out, TokenPayload{TokenKind::kOpen, id, recipient, 0, 0, ""});
    if (!token.empty()) html = InsertOpenPixel(html, base + "/t/o/" + token);
  }
  return html;
}

std::string ListUnsubscribeValue(const Outbound& out, const std::string& id, const std::string& from_domain,
                                 std::string_view separator, uint32_t recipient) {
  std::string value = "<" + UnsubscribeUrl(out, id, from_domain, recipient) + ">";
  if (out.unsubscribe_address)
    if (std::string mailto = out.unsubscribe_address(id, from_domain); !mailto.empty())
      value += std::string(separator) + "<mailto:" + mailto + "?subject=unsubscribe>";
  return value;
}

std::string TrackSubmitted(const Outbound& out, const spool::SpoolMessage& m, uint32_t recipient, bool* per_recipient) {
  if (per_recipient) *per_recipient = false;
  // Relayed mail is someone else's. An SMTP submission follows the options its X-Kurier-* fields gave
  // (read at acceptance), else the account's defaults. API sends were tracked when built, except those
  // with several recipients: their options carry the send's flags, so that each recipient's copy gets
  // links of its own here.
  if (m.account.empty() || m.credential.empty()) return "";
  const bool api = m.credential.rfind("api:", 0) == 0;
  spool::SendOptions options = m.options;
  std::string data;  // the copy that leaves, when it differs from the spooled text
  if (m.option_fields_in_data) {  // spooled by an older version, with the fields still in its text
    if (auto fields = ingress::ReadSubmissionOptions(m.data); fields.present) {
      options = spool::SendOptions{fields.track_opens, fields.track_clicks, fields.list_unsubscribe};
      data = ingress::RemoveSubmissionOptionFields(m.data);
    }
  }
  // An API send's options say all it decided; a submission falls back on the account's defaults.
  const auto d = api || !out.account_defaults ? AccountDefaults::Values{} : out.account_defaults(m.account);
  const bool opens = options.track_opens.value_or(d.track_opens.value_or(!api && out.opens));
  const bool clicks = options.track_clicks.value_or(d.track_clicks.value_or(!api && out.clicks));
  const bool unsubscribe = options.list_unsubscribe.value_or(d.list_unsubscribe.value_or(false));
  if (!out.key || !(opens || clicks || unsubscribe)) return data;  // (most API sends: no copy at all)
  if (data.empty()) data = m.data;
  const std::string from_domain = ToLowerAscii(m.mail_from.substr(m.mail_from.rfind('@') + 1));
  bool named = false;  // the copy names its recipient
  if (opens || clicks)
    if (auto rewritten = mime::RewriteHtmlParts(data, [&](std::string html) {
          std::string tracked_html = TrackHtml(out, m.id, from_domain, html, opens, clicks, recipient);
          named = named || tracked_html != html;
          return tracked_html;
        }))
      data = std::move(*rewritten);
  auto [head, body] = mime::SplitHeaderBody(data);
  if (unsubscribe && body.data() && !mime::ParseHeaders(head).Get("List-Unsubscribe")) {
    data.insert(head.size(), "List-Unsubscribe: " + ListUnsubscribeValue(out, m.id, from_domain, ",\r\n ", recipient) +
                                 "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
    named = true;
  }
  if (per_recipient) *per_recipient = named;
  return data == m.data ? std::string() : data;
}

}  // namespace kurier::tracking
