#include "common/relay_url.hpp"

#include <gtest/gtest.h>

namespace kurier {
namespace {

TEST(RelayUrl, Table) {
  struct Row {
    const char* url;
    bool ok;
    Relay::Tls tls;
    const char* host;
    uint16_t port;
    const char* user;
    const char* pass;
    const char* masked;
  } rows[] = {
      {"smtp://relay.test", true, Relay::Tls::kOpportunistic, "relay.test", 25, "", "", "smtp://relay.test:25"},
      {"smtp+starttls://bob:p%40ss@relay.test:2587", true, Relay::Tls::kStartTls, "relay.test", 2587, "bob", "p@ss",
       "smtp+starttls://bob:***@relay.test:2587"},
      {"smtps://[::1]", true, Relay::Tls::kImplicit, "::1", 465, "", "", "smtps://[::1]:465"},
      {"smtp://127.0.0.1:2525/", true, Relay::Tls::kOpportunistic, "127.0.0.1", 2525, "", "", "smtp://127.0.0.1:2525"},
      {"http://relay.test", false}, {"relay.test:25", false}, {"smtp://", false}, {"smtp://relay.test:0", false},
      {"smtp://relay.test:99999", false}, {"smtp://:pw@relay.test", false}, {"smtp://a:%zz@relay.test", false},
  };
  for (const auto& r : rows) {
    auto got = ParseRelayUrl(r.url);
    ASSERT_EQ(got.ok(), r.ok) << r.url;
    if (!r.ok) {
      EXPECT_NE(got.error().message.find("write smtp://"), std::string::npos) << "the error shows the form";
      continue;
    }
    EXPECT_EQ(got->tls, r.tls) << r.url;
    EXPECT_EQ(got->host, r.host) << r.url;
    EXPECT_EQ(got->port, r.port) << r.url;
    EXPECT_EQ(got->username, r.user) << r.url;
    EXPECT_EQ(got->password, r.pass) << r.url;
    EXPECT_EQ(got->url, r.masked) << r.url;
    // the masked URL always shows the port used, so events say it even when the URL left it out
    EXPECT_EQ(got->port_given, std::string(r.url).find(":" + std::to_string(r.port)) != std::string::npos) << r.url;
  }
}

}  // namespace
}  // namespace kurier
