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
  in.hostname = "mx.kurier-mail.net";
  in.config.tracking_target = "mx.kurier-mail.net";
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
  EXPECT_EQ(by["Return-Path MX"].value, "10 mx.kurier-mail.net.");
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

TEST(DomainRecords, PublicHostProblemTable) {
  struct Case {
    const char* name;
    bool allow_local;
    const char* problem;  // substring of the problem; "" when the name may be published
  } cases[] = {
      {"mail.shop.pl", false, ""},
      {"MX1.Shop.PL.", false, ""},
      {"notexample.com", false, ""},
      {"mail.example.com.pl", false, ""},
      {"localhost", false, "names whichever machine looks it up"},
      {"localhost", true, "names whichever machine looks it up"},
      {"LocalHost.", true, "names whichever machine looks it up"},
      {"mx.localhost", true, "names whichever machine looks it up"},
      {"mailhost", true, "has no dot"},
      {"", true, "is empty"},
      {"127.0.0.1", true, "is an IP address"},
      {"[192.0.2.1]", true, "is an IP address"},
      {"2001:db8::1", true, "is an IP address"},
      {"mx.test", false, "is under .test, kept for testing"},
      {"mx.test", true, ""},
      {"mail.kurier.example", false, "is under .example"},
      {"mail.example.com", false, "is under .example.com, kept for documentation (RFC 2606)"},
      {"example.org", false, "is under .example.org"},
      {"mail.example.com", true, ""},
      {"box.local", false, "is under .local, kept for multicast DNS"},
      {"nothing.invalid", false, "is under .invalid"},
      {"router.home.arpa", false, "is under .home.arpa"},
      {"smtp.corp.internal", false, "is under .internal"},
      {"localhost.localdomain", false, "is under .localdomain"},
      {"nas.lan", false, "is under .lan"},
  };
  for (const auto& c : cases) {
    auto p = PublicHostProblem(c.name, c.allow_local);
    if (std::string(c.problem).empty()) {
      EXPECT_FALSE(p) << c.name << ": " << p.value_or("");
    } else {
      ASSERT_TRUE(p) << c.name << " allow_local=" << c.allow_local;
      EXPECT_NE(p->find(c.problem), std::string::npos) << c.name << ": " << *p;
    }
  }
}

// `kurier domain add` while server.hostname is "localhost": the records that would name it are left out
// (with the setting to fix), never printed as "MX 10 localhost." or "a:localhost".
TEST(DomainRecords, RecordsNamingAnUnusableHostAreWithheld) {
  RecordInputs in;
  in.domain = "shop.pl";
  in.hostname = "localhost";
  in.config.tracking_target = "localhost";
  in.dkim = {{"s1", "rsa", std::string(400, 'A'), "active"}};
  std::map<std::string, DnsRecord> by;
  for (const auto& r : GenerateRecords(in)) {
    by[r.purpose] = r;
    EXPECT_EQ(r.value.find("localhost"), std::string::npos) << r.purpose << ": " << r.value;
  }
  EXPECT_TRUE(by["DKIM rsa"].publish);
  EXPECT_TRUE(by["DMARC"].publish);
  for (const char* purpose : {"SPF", "Return-Path MX", "Return-Path SPF", "Tracking"}) {
    const DnsRecord& r = by[purpose];
    EXPECT_FALSE(r.publish) << purpose;
    EXPECT_EQ(r.withheld_by, "server.hostname") << purpose;
    EXPECT_TRUE(r.value.empty() && r.strings.empty()) << purpose;
    EXPECT_NE(r.note.find("server.hostname = \"mail.shop.pl\""), std::string::npos) << purpose << ": " << r.note;
    EXPECT_NE(r.note.find("while server.hostname is \"localhost\""), std::string::npos) << purpose << ": " << r.note;
  }
  EXPECT_EQ(by["SPF"].type, "TXT");
  EXPECT_EQ(by["Return-Path MX"].type, "MX");
  EXPECT_NE(by["SPF"].note.find("domains.egress_addresses"), std::string::npos) << "the other way to an SPF record";
  auto problems = SettingProblems(in);
  ASSERT_EQ(problems.size(), 1u) << "tracking_target follows server.hostname: one setting to fix";
  EXPECT_EQ(SettingLine(problems[0]), "server.hostname = \"mail.shop.pl\"");

  // SPF from the egress addresses and a tracking host of its own do not name server.hostname.
  in.config.egress_addresses = {"192.0.2.1"};
  in.config.tracking_target = "track.kurier-mail.net";
  for (const auto& r : GenerateRecords(in)) by[r.purpose] = r;
  EXPECT_TRUE(by["SPF"].publish);
  EXPECT_EQ(by["SPF"].value, "v=spf1 ip4:192.0.2.1 ~all");
  EXPECT_TRUE(by["Return-Path SPF"].publish);
  EXPECT_TRUE(by["Tracking"].publish);
  EXPECT_FALSE(by["Return-Path MX"].publish);

  // A tracking host of its own that cannot be right is named as such.
  in.hostname = "mail.shop.pl";
  in.config.tracking_target = "tracker";
  for (const auto& r : GenerateRecords(in)) by[r.purpose] = r;
  EXPECT_TRUE(by["Return-Path MX"].publish);
  EXPECT_EQ(by["Return-Path MX"].value, "10 mail.shop.pl.");
  EXPECT_FALSE(by["Tracking"].publish);
  EXPECT_EQ(by["Tracking"].withheld_by, "domains.tracking_target");

  // A test-only name is printed when asked for (a DNS server of one's own), localhost never.
  in.hostname = in.config.tracking_target = "mx.kurier.test";
  for (const auto& r : GenerateRecords(in)) by[r.purpose] = r;
  EXPECT_FALSE(by["Return-Path MX"].publish);
  in.allow_local_hostname = true;
  for (const auto& r : GenerateRecords(in)) by[r.purpose] = r;
  EXPECT_TRUE(by["Return-Path MX"].publish);
  EXPECT_EQ(by["Tracking"].value, "mx.kurier.test.");
  in.hostname = in.config.tracking_target = "localhost";
  for (const auto& r : GenerateRecords(in)) by[r.purpose] = r;
  EXPECT_FALSE(by["Return-Path MX"].publish);
}

TEST(DomainRecords, QuotedTxtSplitsInto255OctetStrings) {
  EXPECT_EQ(QuotedTxt("v=spf1 -all"), "\"v=spf1 -all\"");
  EXPECT_EQ(QuotedTxt(std::string(300, 'a')), "\"" + std::string(255, 'a') + "\" \"" + std::string(45, 'a') + "\"");
  EXPECT_EQ(QuotedTxt(std::string(510, 'b')), "\"" + std::string(255, 'b') + "\" \"" + std::string(255, 'b') + "\"");
  EXPECT_EQ(QuotedTxt("a\"b\\c"), "\"a\\\"b\\\\c\"") << "quotes and backslashes escaped as in a zone file";
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
