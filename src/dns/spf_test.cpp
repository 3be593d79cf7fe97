// spf_test.cpp - RFC 7208 check_host() over table-fed DNS.
#include "dns/spf.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace kurier::dns {
namespace {

struct FakeDns {
  std::map<std::string, std::vector<std::string>> txt, addr;
  std::map<std::string, std::vector<MxRecord>> mx;
  std::set<std::string> servfail;

  SpfLookups Lookups() {
    return SpfLookups{
        [this](const std::string& n) {
          TxtAnswer a;
          if (servfail.count(n)) return a;
          auto it = txt.find(n);
          a.rcode = it == txt.end() ? Rcode::kNxDomain : Rcode::kOk;
          if (it != txt.end()) a.records = it->second;
          return a;
        },
        [this](const std::string& n) {
          AddressAnswer a;
          auto it = addr.find(n);
          a.rcode = it == addr.end() ? Rcode::kNxDomain : Rcode::kOk;
          if (it != addr.end()) a.addresses = it->second;
          return a;
        },
        [this](const std::string& n) {
          MxAnswer a;
          auto it = mx.find(n);
          a.rcode = it == mx.end() ? Rcode::kNoData : Rcode::kOk;
          if (it != mx.end()) a.records = it->second;
          return a;
        }};
  }
};

FakeDns World() {
  FakeDns d;
  d.txt["plain.test"] = {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"};
  d.txt["soft.test"] = {"v=spf1 ip4:198.51.100.7 ~all"};
  d.txt["amx.test"] = {"v=spf1 a mx/30 -all"};
  d.addr["amx.test"] = {"203.0.113.1"};
  d.mx["amx.test"] = {MxRecord{10, "mx1.amx.test"}};
  d.addr["mx1.amx.test"] = {"203.0.113.9"};
  d.txt["inc.test"] = {"v=spf1 include:_spf.provider.test -all", "some other TXT"};
  d.txt["_spf.provider.test"] = {"v=spf1 ip4:192.0.2.128/25 ?all"};
  d.txt["redir.test"] = {"v=spf1 redirect=plain.test"};
  d.txt["two.test"] = {"v=spf1 -all", "v=spf1 ~all"};
  d.txt["neutral.test"] = {"v=spf1 ip4:10.0.0.1"};
  d.txt["badmech.test"] = {"v=spf1 ip5:1.2.3.4 -all"};
  d.txt["incnone.test"] = {"v=spf1 include:nothing.test -all"};
  d.txt["macro.test"] = {"v=spf1 exists:%{ir}.%{l}._spf.macro.test -all"};
  d.addr["1.2.0.192.alice._spf.macro.test"] = {"127.0.0.2"};
  d.txt["loop.test"] = {"v=spf1 include:loop.test -all"};
  d.txt["temp.test"] = {"v=spf1 include:down.test -all"};
  d.servfail.insert("down.test");
  // eleven includes: one lookup too many
  std::string many = "v=spf1";
  for (int i = 0; i < 11; ++i) {
    many += " include:i" + std::to_string(i) + ".test";
    d.txt["i" + std::to_string(i) + ".test"] = {"v=spf1 ip4:10.9.9." + std::to_string(i)};
  }
  d.txt["many.test"] = {many + " -all"};
  return d;
}

struct Case {
  const char* ip;
  const char* domain;
  SpfResult want;
  const char* matched_or_why;  // substring of matched (decided) or explanation (errors)
};

TEST(Spf, CheckHostTable) {
  const Case cases[] = {
      {"192.0.2.10", "plain.test", SpfResult::kPass, "ip4:192.0.2.0/24"},
      {"2001:db8::25", "plain.test", SpfResult::kPass, "ip6:2001:db8::/32"},
      {"198.51.100.1", "plain.test", SpfResult::kFail, "-all"},
      {"198.51.100.7", "soft.test", SpfResult::kPass, "ip4:198.51.100.7"},
      {"198.51.100.8", "soft.test", SpfResult::kSoftFail, "~all"},
      {"203.0.113.1", "amx.test", SpfResult::kPass, "a"},
      {"203.0.113.10", "amx.test", SpfResult::kPass, "mx/30"},
      {"203.0.113.12", "amx.test", SpfResult::kFail, "-all"},
      {"192.0.2.200", "inc.test", SpfResult::kPass, "include:_spf.provider.test"},
      {"192.0.2.1", "inc.test", SpfResult::kFail, "-all"},  // ?all inside an include is no match
      {"192.0.2.10", "redir.test", SpfResult::kPass, "ip4:192.0.2.0/24"},
      {"192.0.2.10", "nospf.test", SpfResult::kNone, "no SPF record"},
      {"192.0.2.10", "two.test", SpfResult::kPermError, "2 SPF records"},
      {"192.0.2.10", "neutral.test", SpfResult::kNeutral, "no term matched"},
      {"192.0.2.10", "badmech.test", SpfResult::kPermError, "unknown mechanism"},
      {"192.0.2.10", "incnone.test", SpfResult::kPermError, "has no SPF record"},
      {"192.0.2.1", "macro.test", SpfResult::kPass, "exists:"},
      {"192.0.2.2", "macro.test", SpfResult::kFail, "-all"},
      {"192.0.2.10", "loop.test", SpfResult::kPermError, "10 DNS lookups"},
      {"192.0.2.10", "temp.test", SpfResult::kTempError, "down.test"},
      {"10.9.9.10", "many.test", SpfResult::kPermError, "more than 10 DNS lookups"},
      {"10.9.9.3", "many.test", SpfResult::kPass, "include:i3.test"},
  };
  FakeDns dns = World();
  for (const auto& c : cases) {
    auto e = CheckHost(c.ip, c.domain, "alice@" + std::string(c.domain), "mail.test", dns.Lookups());
    EXPECT_EQ(SpfResultName(e.result), std::string(SpfResultName(c.want))) << c.ip << " " << c.domain << " " << e.explanation;
    const std::string& text = (e.result == SpfResult::kPass || e.result == SpfResult::kFail ||
                               e.result == SpfResult::kSoftFail || e.result == SpfResult::kNeutral)
                                  ? e.matched
                                  : e.explanation;
    EXPECT_NE(text.find(c.matched_or_why), std::string::npos) << c.domain << ": '" << text << "'";
  }
}

TEST(Spf, CountLookupsFollowsEveryInclude) {
  FakeDns dns = World();
  EXPECT_EQ(CountLookups("plain.test", dns.Lookups()).lookups, 0);
  EXPECT_EQ(CountLookups("amx.test", dns.Lookups()).lookups, 2);
  EXPECT_EQ(CountLookups("inc.test", dns.Lookups()).lookups, 1);
  auto many = CountLookups("many.test", dns.Lookups());
  EXPECT_EQ(many.result, SpfResult::kPermError);
  EXPECT_EQ(many.lookups, 11);
}

}  // namespace
}  // namespace kurier::dns
