// check_test.cpp - `kurier domain check` over a DNS of the test's own: findings reported as they are
// made (before the next lookup), fix texts that quote TXT values the way they are published (split into
// 255-octet strings), and a server.hostname that cannot be right named once instead of compared.
#include "domains/check.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace kurier::domains {
namespace {

// The answer for `name` in `zone`: its records, or NXDOMAIN.
template <class Answer, class Records>
Answer Lookup(const std::map<std::string, Records>& zone, const std::string& name) {
  Answer a;
  auto it = zone.find(name);
  a.rcode = it == zone.end() ? dns::Rcode::kNxDomain : dns::Rcode::kOk;
  if (it != zone.end()) a.records = it->second;
  return a;
}

// A zone of TXT, MX and CNAME answers; every lookup is logged, in order, into `log`.
struct FakeDns {
  std::map<std::string, std::vector<std::string>> txt, cname;
  std::map<std::string, std::vector<dns::MxRecord>> mx;
  std::vector<std::string> log;

  CheckDns Functions() {
    CheckDns d;
    d.lookups.txt = [this](const std::string& n) {
      log.push_back("TXT " + n);
      return Lookup<dns::TxtAnswer>(txt, n);
    };
    d.lookups.addresses = [this](const std::string& n) {
      log.push_back("A/AAAA " + n);
      return dns::AddressAnswer{dns::Rcode::kNxDomain, {}, ""};
    };
    d.lookups.mx = [this](const std::string& n) {
      log.push_back("MX " + n);
      return Lookup<dns::MxAnswer>(mx, n);
    };
    d.cname = [this](const std::string& n) {
      log.push_back("CNAME " + n);
      return dns::NameAnswer{cname.count(n) ? dns::Rcode::kOk : dns::Rcode::kNxDomain, cname[n], ""};
    };
    d.ptr = [this](const std::string& a) {
      log.push_back("PTR " + a);
      return dns::NameAnswer{dns::Rcode::kNxDomain, {}, ""};
    };
    return d;
  }
};

RecordInputs Shop(const std::string& hostname) {
  RecordInputs in;
  in.domain = "shop.pl";
  in.hostname = hostname;
  in.config.tracking_target = hostname;
  in.config.return_path_prefix = "bounces";
  in.config.tracking_prefix = "track";
  in.dkim = {{"s1", "rsa", std::string(400, 'A'), "active"}, {"s2", "ed25519", "EDKEY", "active"}};
  return in;
}

const Finding* Find(const CheckReport& rep, const std::string& record) {
  for (const auto& f : rep.findings)
    if (f.record == record) return &f;
  return nullptr;
}

TEST(DomainCheck, EachFindingIsReportedBeforeTheNextLookup) {
  FakeDns zone;
  CheckReport rep;
  rep.on_finding = [&](const Finding& f) { zone.log.push_back("finding " + f.record); };
  CheckDomainRecords(Shop("mail.shop.pl"), zone.Functions(), rep);
  auto at = [&](const std::string& entry) {
    auto it = std::find(zone.log.begin(), zone.log.end(), entry);
    EXPECT_NE(it, zone.log.end()) << entry;
    return it - zone.log.begin();
  };
  EXPECT_LT(at("TXT s1._domainkey.shop.pl"), at("finding DKIM rsa (active)"));
  EXPECT_LT(at("finding DKIM rsa (active)"), at("TXT s2._domainkey.shop.pl"));
  EXPECT_LT(at("finding DKIM ed25519 (active)"), at("TXT _dmarc.shop.pl"));
  EXPECT_LT(at("finding DMARC"), at("MX bounces.shop.pl"));
  EXPECT_LT(at("finding Return-Path MX"), at("CNAME track.shop.pl"));
  size_t reported = std::count_if(zone.log.begin(), zone.log.end(), [](const std::string& e) { return e.rfind("finding ", 0) == 0; });
  EXPECT_EQ(reported, rep.findings.size()) << "every finding reported once";
}

TEST(DomainCheck, FixTextsSplitLongTxtValuesAsPublished) {
  FakeDns zone;
  auto rep = CheckDomainRecords(Shop("mail.shop.pl"), zone.Functions());
  const Finding* rsa = Find(rep, "DKIM rsa (active)");
  ASSERT_TRUE(rsa);
  const std::string value = "v=DKIM1; k=rsa; p=" + std::string(400, 'A');
  EXPECT_EQ(rsa->expected, value) << "the value itself stays whole";
  EXPECT_EQ(rsa->fix, "publish s1._domainkey.shop.pl TXT \"" + value.substr(0, 255) + "\" \"" + value.substr(255) + "\"");
  EXPECT_EQ(Find(rep, "DKIM ed25519 (active)")->fix, "publish s2._domainkey.shop.pl TXT \"v=DKIM1; k=ed25519; p=EDKEY\"");

  // A wrong key: the replacement is split the same way.
  zone.txt["s1._domainkey.shop.pl"] = {"v=DKIM1; k=rsa; p=OTHER"};
  rep = CheckDomainRecords(Shop("mail.shop.pl"), zone.Functions());
  EXPECT_EQ(Find(rep, "DKIM rsa (active)")->fix,
            "the published key is not the one kurier signs with: replace the record with \"" + value.substr(0, 255) +
                "\" \"" + value.substr(255) + "\"");
}

TEST(DomainCheck, UnusableHostnameIsNamedOnceAndItsRecordsSkipped) {
  FakeDns zone;
  zone.mx["bounces.shop.pl"] = {{10, "localhost"}};  // published as the old `domain add` said
  auto rep = CheckDomainRecords(Shop("localhost"), zone.Functions());
  ASSERT_FALSE(rep.findings.empty());
  const Finding& first = rep.findings.front();
  EXPECT_EQ(first.record, "server.hostname");
  EXPECT_EQ(first.status, "wrong");
  EXPECT_TRUE(first.hurts);
  EXPECT_NE(first.fix.find("server.hostname = \"mail.shop.pl\""), std::string::npos) << first.fix;
  EXPECT_FALSE(rep.ok());
  for (const char* record : {"SPF", "Return-Path MX", "Return-Path SPF", "Tracking"}) {
    const Finding* f = Find(rep, record);
    ASSERT_TRUE(f) << record;
    EXPECT_EQ(f->status, "skipped") << record;
    EXPECT_FALSE(f->hurts) << record;
  }
  for (const auto& f : rep.findings) EXPECT_EQ(f.fix.find("localhost."), std::string::npos) << f.record << ": " << f.fix;
  for (const auto& e : zone.log) {
    EXPECT_NE(e, "MX bounces.shop.pl") << "nothing compared with a record no one should publish";
    EXPECT_NE(e, "CNAME track.shop.pl");
  }
  EXPECT_EQ(Find(rep, "DMARC")->status, "missing") << "records that do not name the host are still checked";

  // A test-only name is checked as usual when the operator says its DNS serves it.
  RecordInputs lab = Shop("mx.kurier.test");
  lab.allow_local_hostname = true;
  zone.mx["bounces.shop.pl"] = {{10, "mx.kurier.test"}};
  rep = CheckDomainRecords(lab, zone.Functions());
  EXPECT_EQ(Find(rep, "server.hostname"), nullptr);
  EXPECT_EQ(Find(rep, "Return-Path MX")->status, "ok");
}

}  // namespace
}  // namespace kurier::domains
