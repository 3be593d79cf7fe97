// detect.cpp - machine opens and clicks: privacy proxies, security gateways, link scanners, libraries.
// SECURITY: every input is what an unauthenticated client chose to send (User-Agent, method) or its
// address. The user agent is read up to kMaxUserAgent bytes; nothing is allocated in proportion to the
// input. A client can always pretend to be a person or a scanner: the result is a label for reporting,
// never an access decision (RFC 8058 one-click unsubscribe is decided by method and token, not here).
// STANDARDS: RFC 9110 (methods, User-Agent), RFC 4632 / RFC 4291 (address ranges), RFC 8058 (POST is
// the one-click unsubscribe method). The signatures are the vendors' observed behaviour, not a standard:
// Apple Mail Privacy Protection fetches through Apple's relay with the user agent "Mozilla/5.0" and
// nothing else; Gmail and Yahoo fetch images at open time through "GoogleImageProxy" and
// "YahooMailProxy"; gateways scan on arrival, often with HEAD, and name themselves in the user agent.
#include "tracking/detect.hpp"

#include <algorithm>
#include <array>

#include "common/encoding.hpp"

namespace kurier::tracking {

namespace {

constexpr std::size_t kMaxUserAgent = 1024;

enum class Verdict { kMachine, kProxiedHuman };

struct UserAgentRule {
  std::string_view needle;  // lower case, matched anywhere in the lower-cased user agent
  std::string_view reason;
  Verdict verdict = Verdict::kMachine;
};

// First match wins: named vendors before the generic "bot/" and "+http" signs.
constexpr UserAgentRule kScannerRules[] = {
    {"barracuda", "link_scanner:barracuda"},
    {"mimecast", "link_scanner:mimecast"},
    {"proofpoint", "link_scanner:proofpoint"},
    {"urldefense", "link_scanner:proofpoint"},
    {"bingpreview", "link_scanner:microsoft"},
    {"microsoft office existence discovery", "link_scanner:microsoft"},
    {"safelinks", "link_scanner:microsoft"},
    {"symantec", "link_scanner:symantec"},
    {"messagelabs", "link_scanner:symantec"},
    {"broadcom", "link_scanner:symantec"},
    {"ironport", "link_scanner:cisco"},
    {"ciscosecureemail", "link_scanner:cisco"},
    {"cisco secure email", "link_scanner:cisco"},
    {"cisco-secure-email", "link_scanner:cisco"},
    {"trend micro", "link_scanner:trendmicro"},
    {"trendmicro", "link_scanner:trendmicro"},
    {"sophos", "link_scanner:sophos"},
    {"fortiguard", "link_scanner:fortinet"},
    {"fortimail", "link_scanner:fortinet"},
    {"fortinet", "link_scanner:fortinet"},
    {"forcepoint", "link_scanner:forcepoint"},
    {"websense", "link_scanner:forcepoint"},
    {"mcafee", "link_scanner:mcafee"},
    {"virustotal", "link_scanner:virustotal"},
    {"headlesschrome", "headless_browser"},
    {"phantomjs", "headless_browser"},
    {"puppeteer", "headless_browser"},
    {"playwright", "headless_browser"},
    {"selenium", "headless_browser"},
    {"webdriver", "headless_browser"},
    {"curl/", "http_library:curl"},
    {"wget/", "http_library:wget"},
    {"python-requests", "http_library:python-requests"},
    {"python-urllib", "http_library:python-urllib"},
    {"python-httpx", "http_library:python-httpx"},
    {"aiohttp", "http_library:aiohttp"},
    {"go-http-client", "http_library:go-http-client"},
    {"okhttp", "http_library:okhttp"},
    {"apache-httpclient", "http_library:apache-httpclient"},
    {"java/", "http_library:java"},
    {"libwww-perl", "http_library:libwww-perl"},
    {"node-fetch", "http_library:node-fetch"},
    {"axios/", "http_library:axios"},
    {"undici", "http_library:undici"},
    {"guzzlehttp", "http_library:guzzle"},
    {"httpie", "http_library:httpie"},
    {"postmanruntime", "http_library:postman"},
    {"powershell", "http_library:powershell"},
    {"scrapy", "http_library:scrapy"},
    {"slackbot", "link_preview:slack"},
    {"facebookexternalhit", "link_preview:facebook"},
    {"twitterbot", "link_preview:twitter"},
    {"linkedinbot", "link_preview:linkedin"},
    {"discordbot", "link_preview:discord"},
    {"telegrambot", "link_preview:telegram"},
    {"whatsapp", "link_preview:whatsapp"},
    {"skypeuripreview", "link_preview:skype"},
    // Generic crawler signs. Not a bare "bot": "CUBOT" is a phone maker in Android user agents.
    {"bot/", "bot"},
    {"bot;", "bot"},
    {"bot)", "bot"},
    {"crawler", "bot"},
    {"spider", "bot"},
    {"+http", "bot"},  // "(compatible; Foo/1.0; +https://foo.example/bot)": browsers never say this
};

// People whose mail service fetches images at open time on their behalf.
constexpr UserAgentRule kProxyRules[] = {
    {"googleimageproxy", "google_image_proxy", Verdict::kProxiedHuman},
    {"yahoomailproxy", "yahoo_mail_proxy", Verdict::kProxiedHuman},
};

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const Cidr& AppleNetwork() {
  static const Cidr kApple = *Cidr::Parse("17.0.0.0/8");
  return kApple;
}

Classification Machine(std::string_view reason, bool proxied = false) {
  return Classification{true, std::string(reason), proxied};
}

}  // namespace

Classification Classify(const Hit& hit, std::span<const ScannerNetwork> scanner_networks) {
  if (IEquals(hit.method, "HEAD")) return Machine("head_request");
  bool expected_method =
      IEquals(hit.method, "GET") || (hit.kind == TokenKind::kUnsubscribe && IEquals(hit.method, "POST"));
  if (!expected_method) return Machine("unusual_method");

  std::string_view ua = TrimSpaces(hit.user_agent);
  // Apple's relay sends this and nothing more; it also fetches from Apple's own network. A click from
  // 17.0.0.0/8 with a full browser user agent may be a person at Apple, so only opens count there.
  if (ua == "Mozilla/5.0") return Machine("apple_mpp", true);
  if (hit.kind == TokenKind::kOpen && AppleNetwork().Contains(hit.ip)) return Machine("apple_mpp", true);

  std::array<char, kMaxUserAgent> lower_buf;
  std::size_t len = std::min(ua.size(), kMaxUserAgent);
  std::transform(ua.begin(), ua.begin() + len, lower_buf.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  std::string_view lower(lower_buf.data(), len);

  for (const auto& rule : kScannerRules)
    if (lower.find(rule.needle) != std::string_view::npos) return Machine(rule.reason);
  for (const auto& net : scanner_networks)
    if (net.network.Contains(hit.ip)) return Machine("link_scanner:" + net.vendor);
  if (ua.empty()) return Machine("no_user_agent");
  if (hit.seconds_since_delivery && *hit.seconds_since_delivery < kTooFastSeconds) return Machine("too_fast");
  for (const auto& rule : kProxyRules)
    if (lower.find(rule.needle) != std::string_view::npos) return Classification{false, std::string(rule.reason), true};
  return Classification{};
}

}  // namespace kurier::tracking
