// records_test.cpp - generated records, the DMARC parser and the DKIM rotation planner.
#include "domains/records.hpp"

#include <gtest/gtest.h>

namespace kurier::domains {
namespace {

TEST(DomainRecords, DmarcParserTable) {
  struct Case {
    const char* record;
    const char* problem;  // substring of the first problem; "" when valid
  } cases[] = {
      {"v=DMARC1; p=none; rua=mailto:r@example.com", ""},
      {"v=DMARC1;p=reject;sp=quarantine;adkim=s;aspf=r;pct=50;rua=mailto:a@x.test,mailto:b@y.test", ""},
      {"v=DMARC1; p=none; rua=https://reports.example.com/dmarc", ""},
      {"p=none; v=DMARC1", "must start with v=DMARC1"},
      {"v=DMARC1; rua=mailto:r@example.com", "p= is missing"},
      {"v=DMARC1; p=maybe", "p=maybe is not valid"},
      {"v=DMARC1; p=none; adkim=x", "adkim=x is not valid"},
      {"v=DMARC1; p=none; pct=101", "pct=101 is not a percentage"},
      {"v=DMARC1; p=none; rua=reports@example.com", "is not a report address"},
      {"v=DMARC1; p=none; junk", "'junk' is not a tag=value pair"},
  };
  for (const auto& c : cases) {
    auto d = ParseDmarc(c.record);
    if (std::string(c.problem).empty()) {
      EXPECT_TRUE(d.problems.empty()) << c.record << ": " << (d.problems.empty() ? "" : d.problems[0]);
    } else {
      ASSERT_FALSE(d.problems.empty()) << c.record;
      EXPECT_NE(d.problems[0].find(c.problem), std::string::npos) << c.record << ": " << d.problems[0];
    }
  }
}

TEST(DomainRecords, GeneratedSet) {
  RecordInputs in;
  in.domain = "shop.example";
  in.hostname = "mx.kurier.example";
  in.config.tracking_target = "mx.kurier.example";
  in.config.egress_addresses = {"192.0.2.1", "2001:db8::1"};
  in.dkim = {{"s1", "rsa", std::string(400, 'A'), "active"}, {"s0", "rsa", "OLD", "retired"}};
  auto recs = GenerateRecords(in);
  std::map<std::string, DnsRecord> by;
  for (const auto& r : recs) by[r.purpose] = r;
  EXPECT_EQ(by.count("DKIM rsa"), 1u);
  EXPECT_EQ(by["DKIM rsa"].name, "s1._domainkey.shop.example") << "retired keys are not listed";
  EXPECT_EQ(by["DKIM rsa"].strings.size(), 2u);
  EXPECT_EQ(by["SPF"].value, "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 ~all");
  EXPECT_EQ(by["Return-Path SPF"].value, "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 -all");
  EXPECT_EQ(by["Return-Path MX"].value, "10 mx.kurier.example.");
  EXPECT_EQ(by["Tracking"].name, "track.shop.example");
  EXPECT_FALSE(by["BIMI"].publish);
  in.config.spf_include = "_spf.kurier.example";
  in.dmarc_policy = "quarantine";
  in.bimi_logo = "https://shop.example/logo.svg";
  for (const auto& r : GenerateRecords(in)) by[r.purpose] = r;
  EXPECT_EQ(by["SPF"].value, "v=spf1 include:_spf.kurier.example ~all");
  EXPECT_TRUE(by["BIMI"].publish);
  EXPECT_EQ(by["BIMI"].value, "v=BIMI1; l=https://shop.example/logo.svg;");
}

TEST(DomainRecords, RotationPlan) {
  const int64_t now = 1'000'000, grace = 500;
  struct Case {
    const char* what;
    std::vector<KeyState> keys;
    std::vector<std::pair<int64_t, std::string>> want;
  } cases[] = {
      {"pending not yet in DNS: nothing", {{1, "rsa", "active", 0, true}, {2, "rsa", "pending", 0, false}}, {}},
      {"pending live: it signs, the old key of the same algorithm retires",
       {{1, "rsa", "active", 0, true}, {2, "ed25519", "active", 0, true}, {3, "rsa", "pending", 0, true}},
       {{3, "active"}, {1, "retiring"}}},
      {"retiring before its time: kept", {{1, "rsa", "retiring", now + 1, true}}, {}},
      {"retiring past its time: retired", {{1, "rsa", "retiring", now, true}}, {{1, "retired"}}},
  };
  for (const auto& c : cases) {
    auto got = PlanRotation(c.keys, now, grace);
    ASSERT_EQ(got.size(), c.want.size()) << c.what;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id, c.want[i].first) << c.what;
      EXPECT_EQ(got[i].state, c.want[i].second) << c.what;
      if (got[i].state == "retiring") EXPECT_EQ(got[i].retire_at, now + grace) << c.what;
    }
  }
}

}  // namespace
}  // namespace kurier::domains
