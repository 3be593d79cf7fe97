// report_json_test.cpp - the JSON `kurier bounce parse --json` prints for each kind of report: every key
// present, hard/soft only where kurier counts a bounce. Messages written after the examples of RFC 3464
// (appendix) and RFC 5965 (appendix B), not taken from the corpus.
#include "bounce/report_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

namespace kurier::bounce {
namespace {

namespace json = boost::json;

const char* const kDsn =
    "From: MAILER-DAEMON@mx.example.net\n"
    "To: bounces@example.com\n"
    "Subject: Returned mail: see transcript for details\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"RAA14128.773615765/example.net\"\n\n"
    "--RAA14128.773615765/example.net\n\n"
    "The original message was received at Sat, 7 Jun 2025 17:13:33 -0400\n"
    "   ----- The following addresses had permanent delivery errors -----\n"
    "<louisl@larry.example.org>\n\n"
    "--RAA14128.773615765/example.net\n"
    "Content-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mx.example.net\n"
    "Original-Envelope-Id: env-42\n\n"
    "Final-Recipient: rfc822; louisl@larry.example.org\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; larry.example.org\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <louisl@larry.example.org>... User unknown\n\n"
    "Final-Recipient: rfc822; pat@larry.example.org\n"
    "Action: delayed\n"
    "Status: 4.4.1\n"
    "Diagnostic-Code: smtp; 421 4.4.1 connection timed out\n\n"
    "--RAA14128.773615765/example.net\n"
    "Content-Type: text/rfc822-headers\n\n"
    "Message-ID: <abc@example.com>\n"
    "From: shop@example.com\n"
    "To: louisl@larry.example.org\n"
    "Subject: Your order\n\n"
    "--RAA14128.773615765/example.net--\n";

const char* const kArf =
    "From: <abusedesk@example.com>\n"
    "To: <abuse@example.net>\n"
    "Subject: FW: Earn money\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"part1_13d.2e68ed54_boundary\"\n\n"
    "--part1_13d.2e68ed54_boundary\n"
    "Content-Type: text/plain; charset=\"US-ASCII\"\n\n"
    "This is an email abuse report for an email message received from IP 192.0.2.1.\n\n"
    "--part1_13d.2e68ed54_boundary\n"
    "Content-Type: message/feedback-report\n\n"
    "Feedback-Type: abuse\n"
    "User-Agent: SomeGenerator/1.0\n"
    "Version: 1\n"
    "Original-Mail-From: <somespammer@example.net>\n"
    "Original-Rcpt-To: <user@example.com>\n"
    "Source-IP: 192.0.2.1\n\n"
    "--part1_13d.2e68ed54_boundary\n"
    "Content-Type: message/rfc822\n\n"
    "From: <somespammer@example.net>\n"
    "To: <user@example.com>\n"
    "Subject: Earn money\n"
    "Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@example.net>\n\n"
    "Spam Spam Spam\n"
    "--part1_13d.2e68ed54_boundary--\n";

const char* const kPlain =
    "From: friend@example.org\nTo: shop@example.com\nSubject: Lunch?\n\nShall we meet at noon?\n";

const std::set<std::string> kRecipientKeys = {"address", "action", "status", "reply_code", "reply", "remote_mta",
                                              "reporting_mta", "smtp_command", "reason", "classification", "rule"};

std::set<std::string> Keys(const json::object& o) {
  std::set<std::string> out;
  for (const auto& kv : o) out.insert(std::string(kv.key()));
  return out;
}

TEST(ReportJson, EachKindWithItsRecipients) {
  struct Want {
    std::string address, action, status, reason;
    json::value classification;  ///< "hard", "soft" or null
  };
  struct Case {
    const char* name;
    const char* raw;
    const char* kind;
    std::vector<Want> recipients;
  };
  const std::vector<Case> cases = {
      {"RFC 3464 report", kDsn, "bounce",
       {{"louisl@larry.example.org", "failed", "5.1.1", "userunknown", "hard"},
        {"pat@larry.example.org", "delayed", "4.4.1", "", "soft"}}},
      {"RFC 5965 report", kArf, "complaint", {{"user@example.com", "", "", "feedback", nullptr}}},
      {"ordinary mail", kPlain, "not_bounce", {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    json::object o = ReportObject(ParseReport(c.raw));
    EXPECT_EQ(o.at("kind").as_string(), c.kind);
    const auto& rs = o.at("recipients").as_array();
    ASSERT_EQ(rs.size(), c.recipients.size()) << json::serialize(o);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const auto& r = rs[i].as_object();
      const Want& w = c.recipients[i];
      EXPECT_EQ(Keys(r), kRecipientKeys);
      EXPECT_EQ(r.at("address").as_string(), w.address);
      EXPECT_EQ(r.at("action").as_string(), w.action);
      EXPECT_EQ(r.at("status").as_string(), w.status);
      if (!w.reason.empty()) EXPECT_EQ(r.at("reason").as_string(), w.reason);
      EXPECT_EQ(r.at("classification"), w.classification) << json::serialize(r);
      // Every classified recipient names the rule that decided (bounce::Classification::rule).
      ASSERT_TRUE(r.at("rule").is_string());
      if (!r.at("classification").is_null()) EXPECT_FALSE(r.at("rule").as_string().empty()) << json::serialize(r);
    }
  }
}

TEST(ReportJson, IdentifiesTheOriginalAndTheReport) {
  json::object dsn = ReportObject(ParseReport(kDsn));
  EXPECT_EQ(dsn.at("original").at("message_id").as_string(), "abc@example.com");
  EXPECT_EQ(dsn.at("original").at("subject").as_string(), "Your order");
  EXPECT_EQ(dsn.at("reporting_mta").as_string(), "mx.example.net");
  EXPECT_EQ(dsn.at("original_envelope_id").as_string(), "env-42");
  const auto& first = dsn.at("recipients").as_array().at(0).as_object();
  EXPECT_EQ(first.at("reply_code").as_int64(), 550);
  EXPECT_NE(first.at("reply").as_string().find("User unknown"), json::string::npos);
  EXPECT_EQ(first.at("remote_mta").as_string(), "larry.example.org");
  json::object arf = ReportObject(ParseReport(kArf));
  EXPECT_EQ(arf.at("feedback_type").as_string(), "abuse");
  EXPECT_EQ(arf.at("user_agent").as_string(), "SomeGenerator/1.0");
  EXPECT_EQ(arf.at("source_ip").as_string(), "192.0.2.1");
  EXPECT_EQ(arf.at("recipients").as_array().at(0).at("rule").as_string(), "ARF report (RFC 5965)");
  EXPECT_FALSE(ReportObject(ParseReport(kPlain)).contains("feedback_type"));
}

}  // namespace
}  // namespace kurier::bounce
