// tracking/outbound.hpp - open and click tracking and List-Unsubscribe as mail leaves: the send path's
// link rewriting, open pixel and List-Unsubscribe fields, with the narrow inputs they need (the link
// base, the signing key, the mailto: unsubscribe address, the accounts' send defaults). The API uses it
// when it builds a message; delivery applies TrackSubmitted (through serve's message transform) before
// DKIM signing. The public endpoints that answer these links are api/tracking_api.cpp's.
// STANDARDS: RFC 8058 (one-click unsubscribe), RFC 2369 (List-Unsubscribe).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kurier {
struct Config;
}
namespace kurier::store {
class Store;
}
namespace kurier::spool {
struct SpoolMessage;
}

namespace kurier::tracking {

class Key;

/// The accounts' send defaults (track_opens, track_clicks, list_unsubscribe), read from the store at
/// most every few seconds per account; a change through the API takes effect at once (Forget).
class AccountDefaults {
 public:
  struct Values {
    std::optional<bool> track_opens, track_clicks, list_unsubscribe;
    std::optional<bool> test_mode;  ///< Account::test_mode (API sends read it here, cached)
  };
  Values Get(store::Store& store, const std::string& account);
  void Forget(const std::string& account);

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<Values, int64_t>> cache_;  // account -> values, read at (µs)
};

/// What outbound tracking reads, and nothing more.
struct Outbound {
  /// Where links point before {domain} is filled in: tracking.base_url, or http://<public.listen>
  /// (http://<api.listen> when there is no public listener). LinkBaseOf(config) makes it.
  std::string link_base;
  bool opens = false, clicks = false;  ///< tracking.opens, tracking.clicks: SMTP submissions' last default
  /// Signs open, click and unsubscribe links; null: no tracking.
  std::shared_ptr<const Key> key;
  /// The mailto: List-Unsubscribe address of message `id` sent from `from_domain` (RFC 2369), or "";
  /// may be empty (no mailto: address at all).
  std::function<std::string(const std::string& id, const std::string& from_domain)> unsubscribe_address;
  /// The account's send defaults (AccountDefaults::Get); may be empty (no defaults).
  std::function<AccountDefaults::Values(const std::string& account)> account_defaults;
};

/// Outbound::link_base for `config` (see there).
std::string LinkBaseOf(const Config& config);
/// Where tracking links of mail from `from_domain` point: the link base with {domain} filled in.
std::string TrackingBase(const Outbound& out, const std::string& from_domain);
/// The HTML with its links rewritten (clicks) and an open pixel added (opens), for message `id`.
std::string TrackHtml(const Outbound& out, const std::string& id, const std::string& from_domain, std::string html,
                      bool opens, bool clicks, uint32_t recipient = 0);
/// The List-Unsubscribe value of message `id` (its first recipient): the one-click URL, then the signed
/// mailto: address when the bounce listener takes mail for the domain, joined by `separator`.
std::string ListUnsubscribeValue(const Outbound& out, const std::string& id, const std::string& from_domain,
                                 std::string_view separator = ", ", uint32_t recipient = 0);
/// Tracking and List-Unsubscribe for a message as it leaves, in the copy for its recipient number
/// `recipient`: SMTP submissions by their send options (m.options, from their X-Kurier-* fields), else
/// the account's defaults (else tracking.*); API sends with several recipients by the options the API
/// set. The HTML parts are rewritten in place (mime::RewriteHtmlParts) and the List-Unsubscribe fields
/// added (and the X-Kurier-* fields of a message spooled by an older version removed). "" when nothing
/// changes. `per_recipient` (may be null) is set when the copy names
/// its recipient (tracked links, List-Unsubscribe), so that each recipient needs a copy of its own.
std::string TrackSubmitted(const Outbound& out, const spool::SpoolMessage& m, uint32_t recipient = 0,
                           bool* per_recipient = nullptr);

}  // namespace kurier::tracking
