#include "tracking/detect.hpp"

#include <gtest/gtest.h>

namespace kurier::tracking {
namespace {

constexpr const char* kChrome =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
constexpr const char* kIphoneSafari =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1";
constexpr const char* kOutlookDesktop =
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)";
constexpr const char* kCubotPhone =
    "Mozilla/5.0 (Linux; Android 10; CUBOT P40) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36";
constexpr const char* kGmailProxy =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
constexpr const char* kYahooProxy = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html";

struct Row {
  const char* what;
  Hit hit;
  bool machine;
  const char* reason;
  bool proxied = false;
};

Hit Open(const char* ua, const char* ip = "203.0.113.7", std::optional<double> secs = 3600) {
  return Hit{TokenKind::kOpen, ua, ip, "GET", secs};
}
Hit Click(const char* ua, const char* ip = "203.0.113.7", std::optional<double> secs = 3600, const char* method = "GET") {
  return Hit{TokenKind::kClick, ua, ip, method, secs};
}

TEST(DetectClassify, Table) {
  const Row rows[] = {
      // People.
      {"desktop Chrome click", Click(kChrome), false, ""},
      {"iPhone Safari click", Click(kIphoneSafari), false, ""},
      {"Outlook desktop open", Open(kOutlookDesktop), false, ""},
      {"phone maker named CUBOT", Click(kCubotPhone), false, ""},
      {"delivery time unknown", Click(kChrome, "203.0.113.7", std::nullopt), false, ""},
      {"just past the fast threshold", Click(kChrome, "203.0.113.7", 2.5), false, ""},
      {"a person at Apple clicking", Click(kIphoneSafari, "17.5.6.7"), false, ""},
      {"one-click unsubscribe POST", Hit{TokenKind::kUnsubscribe, kChrome, "198.51.100.1", "POST", 600}, false, ""},
      // People behind their mail service's image proxy.
      {"Gmail image proxy", Open(kGmailProxy, "66.249.84.1"), false, "google_image_proxy", true},
      {"Yahoo mail proxy", Open(kYahooProxy, "74.6.1.1"), false, "yahoo_mail_proxy", true},
      // Apple Mail Privacy Protection.
      {"MPP user agent", Open("Mozilla/5.0", "104.28.1.1"), true, "apple_mpp", true},
      {"MPP user agent, padded", Open(" Mozilla/5.0 ", "104.28.1.1"), true, "apple_mpp", true},
      {"MPP from Apple's network", Open(kIphoneSafari, "17.58.100.1"), true, "apple_mpp", true},
      {"MPP from Apple's network, IPv4-mapped", Open(kIphoneSafari, "::ffff:17.1.2.3"), true, "apple_mpp", true},
      {"bare Mozilla/5.0 click", Click("Mozilla/5.0"), true, "apple_mpp", true},
      // Methods and timing.
      {"HEAD", Click(kChrome, "203.0.113.7", 3600, "HEAD"), true, "head_request"},
      {"OPTIONS", Click(kChrome, "203.0.113.7", 3600, "OPTIONS"), true, "unusual_method"},
      {"POST to a click", Click(kChrome, "203.0.113.7", 3600, "POST"), true, "unusual_method"},
      {"within 2 s of delivery", Click(kChrome, "203.0.113.7", 1.2), true, "too_fast"},
      {"before delivery was recorded", Click(kChrome, "203.0.113.7", -0.5), true, "too_fast"},
      {"Gmail proxy too fast", Open(kGmailProxy, "66.249.84.1", 0.5), true, "too_fast"},
      {"no user agent", Click(""), true, "no_user_agent"},
      // Security gateways and link scanners.
      {"Barracuda", Click("Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"), true, "link_scanner:barracuda"},
      {"Mimecast", Click("Mozilla/5.0 Mimecast-URL-Protect"), true, "link_scanner:mimecast"},
      {"Proofpoint", Click("Mozilla/5.0 (Proofpoint URL Defense)"), true, "link_scanner:proofpoint"},
      {"BingPreview (Safe Links)", Click("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                         "BingPreview/1.0b"),
       true, "link_scanner:microsoft"},
      {"Office link check", Click("Microsoft Office Existence Discovery"), true, "link_scanner:microsoft"},
      {"Symantec", Click("Symantec ClickTime"), true, "link_scanner:symantec"},
      {"Cisco IronPort", Click("Cisco IronPort URL Scanner"), true, "link_scanner:cisco"},
      {"Trend Micro", Click("Mozilla/5.0 Trend Micro Email Security"), true, "link_scanner:trendmicro"},
      {"Sophos", Click("Sophos Email Link Scan"), true, "link_scanner:sophos"},
      {"FortiGuard", Click("FortiGuard URL Rating"), true, "link_scanner:fortinet"},
      {"headless Chrome", Click("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                "HeadlessChrome/124.0.0.0 Safari/537.36"),
       true, "headless_browser"},
      {"curl", Click("curl/8.5.0"), true, "http_library:curl"},
      {"python-requests", Click("python-requests/2.31.0"), true, "http_library:python-requests"},
      {"Go", Click("Go-http-client/1.1"), true, "http_library:go-http-client"},
      {"Java", Click("Java/17.0.2"), true, "http_library:java"},
      {"Slack unfurl", Click("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"), true, "link_preview:slack"},
      {"Googlebot", Click("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"), true, "bot"},
      {"contact URL", Click("Mozilla/5.0 (compatible; ExampleFetcher/1.0; +https://fetcher.example/)"), true, "bot"},
      {"scanner beats fast", Click("Barracuda", "203.0.113.7", 0.1), true, "link_scanner:barracuda"},
  };
  for (const auto& r : rows) {
    Classification c = Classify(r.hit);
    EXPECT_EQ(c.machine, r.machine) << r.what;
    EXPECT_EQ(c.reason, r.reason) << r.what;
    EXPECT_EQ(c.proxied, r.proxied) << r.what;
  }
}

TEST(DetectClassify, OperatorScannerNetworks) {
  const ScannerNetwork nets[] = {
      {"mimecast", *Cidr::Parse("205.139.110.0/24")},
      {"corp-gateway", *Cidr::Parse("2001:db8:77::/48")},
  };
  struct NetRow {
    const char* ip;
    const char* reason;
  } rows[] = {
      {"205.139.110.40", "link_scanner:mimecast"},
      {"2001:db8:77::9", "link_scanner:corp-gateway"},
      {"205.139.111.40", ""},
      {"not an address", ""},
  };
  for (const auto& r : rows) {
    Classification c = Classify(Click(kChrome, r.ip), nets);
    EXPECT_EQ(c.reason, r.reason) << r.ip;
    EXPECT_EQ(c.machine, *r.reason != '\0') << r.ip;
  }
}

TEST(DetectClassify, LongUserAgentIsBounded) {
  std::string ua(100000, 'x');
  ua += " curl/8";  // past the bound: not looked at
  EXPECT_FALSE(Classify(Click(ua.c_str())).machine);
  EXPECT_EQ(Classify(Click(("curl/8 " + std::string(100000, 'x')).c_str())).reason, "http_library:curl");
}

}  // namespace
}  // namespace kurier::tracking
