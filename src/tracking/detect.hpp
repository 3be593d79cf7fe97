// detect.hpp - tells a person's open or click from a machine's: mail privacy proxies that fetch every
// image, security gateways and link scanners that follow every link, HTTP libraries, previews.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/cidr.hpp"
#include "tracking/token.hpp"

namespace kurier::tracking {

/// One request to a tracking endpoint, as the HTTP layer saw it.
struct Hit {
  TokenKind kind = TokenKind::kOpen;
  std::string_view user_agent;  ///< the User-Agent header, empty when absent
  std::string_view ip;          ///< the client address, textual IPv4 or IPv6
  std::string_view method;      ///< "GET", "HEAD", "POST", ...
  /// Seconds from the recipient's delivery to this hit; nullopt when the delivery time is not known.
  /// Negative (the hit came before kurier recorded the delivery) counts as too fast.
  std::optional<double> seconds_since_delivery;
};

struct Classification {
  bool machine = false;  ///< not a person's action: report it, but do not count it as an open or click
  /// Why, in a stable vocabulary: "head_request", "apple_mpp", "link_scanner:<vendor>", "headless_browser",
  /// "http_library:<name>", "link_preview:<service>", "bot", "no_user_agent", "too_fast", or for people
  /// seen through a proxy "google_image_proxy", "yahoo_mail_proxy"; empty for a plain human hit.
  std::string reason;
  bool proxied = false;  ///< the IP and user agent are a proxy's, not the recipient's
};

/// A network an operator knows a scanner uses (from configuration), e.g. {"mimecast", 205.139.110.0/24}.
struct ScannerNetwork {
  std::string vendor;  ///< goes into the reason: "link_scanner:" + vendor
  Cidr network;
};

/// Hits within this many seconds of delivery are machines (gateways scan on arrival).
inline constexpr double kTooFastSeconds = 2.0;

/// Classifies a hit. Rules in order: HEAD (or OPTIONS) request; Apple Mail Privacy Protection (user
/// agent exactly "Mozilla/5.0", or an open from Apple's 17.0.0.0/8); known scanner vendors by user agent,
/// then by `scanner_networks`; headless browsers; HTTP libraries and command-line clients; link previews
/// and crawlers; an empty user agent; a hit within kTooFastSeconds of delivery; then the image proxies of
/// Gmail and Yahoo, which are people (proxied). Anything else is a person.
Classification Classify(const Hit& hit, std::span<const ScannerNetwork> scanner_networks = {});

}  // namespace kurier::tracking
