#include "bounce/report.hpp"

#include <gtest/gtest.h>

#include "common/test_text.hpp"

#include <random>

#include "delivery/dsn.hpp"

namespace kurier::bounce {
namespace {

using kurier::test_text::Crlf;

struct Want {
  std::string address;
  std::string reason;
  bool hard;
};

struct Case {
  std::string name;
  std::string raw;
  ReportKind kind;
  std::vector<Want> recipients;
};

const Case kCases[] = {
    {"RFC 3464 report with two recipients",
     "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
     "To: sender@example.com\n"
     "Subject: Undelivered Mail Returned to Sender\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
     "--B\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.net.\n\n"
     "<bob@Example.ORG>: host mx.example.org[192.0.2.1] said: 550 5.1.1 <bob@example.org>: Recipient\n"
     "    address rejected: User unknown (in reply to RCPT TO command)\n"
     "<carol@example.org>: host mx.example.org[192.0.2.1] said: 552 5.2.2 Mailbox full (in reply to RCPT TO\n"
     "    command)\n\n"
     "--B\nContent-Type: message/delivery-status\n\n"
     "Reporting-MTA: dns; mx.example.net\nOriginal-Envelope-Id: env-42\n\n"
     "Final-Recipient: rfc822; bob@Example.ORG\nAction: failed\nStatus: 5.1.1\n"
     "Remote-MTA: dns; mx.example.org\nDiagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: Recipient address\n"
     "    rejected: User unknown\n\n"
     "Final-Recipient: rfc822; carol@example.org\nAction: failed\nStatus: 5.2.2\n"
     "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n\n"
     "--B\nContent-Type: text/rfc822-headers\n\n"
     "From: sender@example.com\nTo: bob@example.org\nSubject: =?utf-8?q?Hallo_Welt?=\n"
     "Message-ID: <m1@example.com>\nX-Kurier-Message-Id: 06h1c4sdtapge798m83v\n\n"
     "--B--\n",
     ReportKind::kBounce,
     {{"bob@example.org", "userunknown", true}, {"carol@example.org", "mailboxfull", false}}},

    {"delayed only",
     "From: MAILER-DAEMON@mx.example.net\nSubject: Delayed Mail (still being retried)\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
     "--B\n\nYour message could not be delivered for more than 4 hour(s).\n--B\n"
     "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
     "Final-Recipient: rfc822; dave@example.org\nAction: delayed\nStatus: 4.4.1\n"
     "Diagnostic-Code: X-Postfix; connect to mx.example.org[192.0.2.9]:25: Connection timed out\n--B--\n",
     ReportKind::kDelayNotice,
     {{"dave@example.org", "expired", false}}},

    {"ARF complaint",
     "From: feedback@fbl.example.net\nSubject: Abuse Report\n"
     "Content-Type: multipart/report; report-type=feedback-report; boundary=B\n\n"
     "--B\nContent-Type: text/plain\n\nThis is an email abuse report.\n--B\n"
     "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: ExampleFBL/1.0\nVersion: 1\n"
     "Source-IP: 192.0.2.7\nOriginal-Rcpt-To: <erin@example.org>\n--B\nContent-Type: message/rfc822\n\n"
     "From: sender@example.com\nTo: erin@example.org\nMessage-ID: <m2@example.com>\nX-Kurier-Tag: spring\n\nhi\n--B--\n",
     ReportKind::kComplaint,
     {{"erin@example.org", "feedback", false}}},

    {"RFC 3834 auto-reply",
     "From: Frank <frank@example.org>\nTo: sender@example.com\nSubject: Automatic reply: Hello\n"
     "Auto-Submitted: auto-replied\n\nI am out of the office until Monday.\n",
     ReportKind::kAutoReply,
     {{"frank@example.org", "vacation", false}}},

    {"qmail",
     "From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n\n"
     "Hi. This is the qmail-send program at mx.example.net.\n"
     "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
     "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
     "<gina@example.org>:\n192.0.2.3 does not like recipient.\n"
     "Remote host said: 550 5.1.1 <gina@example.org>: Recipient address rejected: User unknown\n"
     "Giving up on 192.0.2.3.\n\n--- Below this line is a copy of the message.\n\n"
     "Return-Path: <sender@example.com>\nFrom: sender@example.com\nTo: gina@example.org\nSubject: hi\n\nbody\n",
     ReportKind::kBounce,
     {{"gina@example.org", "userunknown", true}}},

    {"Exim, two recipients",
     "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
     "Subject: Mail delivery failed: returning message to sender\n\n"
     "This message was created automatically by mail delivery software.\n\n"
     "A message that you sent could not be delivered to one or more of its\n"
     "recipients. This is a permanent error. The following address(es) failed:\n\n"
     "  hank@example.org\n    host mx.example.org [192.0.2.4]\n"
     "    SMTP error from remote mail server after RCPT TO:<hank@example.org>:\n"
     "    550 5.2.2 <hank@example.org>: Mailbox full\n"
     "  ivy@example.net\n    host mx.example.net [192.0.2.5]\n"
     "    SMTP error from remote mail server after initial connection:\n"
     "    554 mx.example.net Your IP 192.0.2.99 is blocked\n\n"
     "------ This is a copy of the message, including all the headers. ------\n\n"
     "From: sender@example.com\nTo: hank@example.org, ivy@example.net\nSubject: hi\n\nbody\n",
     ReportKind::kBounce,
     {{"hank@example.org", "mailboxfull", false}, {"ivy@example.net", "blocked", false}}},

    {"Gmail text",
     "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: sender@gmail.com\n"
     "Subject: Delivery Status Notification (Failure)\n\n"
     "Delivery to the following recipient failed permanently:\n\n     jack@example.jp\n\n"
     "Technical details of permanent failure:\nGoogle tried to deliver your message, but it was rejected by the "
     "server for the recipient domain example.jp by mx.example.jp. [192.0.2.153].\n\n"
     "The error that the other server returned was:\n550 5.1.1 <jack@example.jp>... User Unknown\n\n"
     "----- Original message -----\n\nFrom: sender@gmail.com\nTo: jack@example.jp\nSubject: t\n\nbody\n",
     ReportKind::kBounce,
     {{"jack@example.jp", "userunknown", true}}},

    {"success report",
     "From: MAILER-DAEMON@mx.example.net\nSubject: Successful Mail Delivery Report\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
     "--B\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; kim@example.org\n"
     "Action: delivered\nStatus: 2.0.0\n--B--\n",
     ReportKind::kNotBounce,
     {{"kim@example.org", "delivered", false}}},

    {"ordinary mail",
     "From: Luke <luke@example.org>\nTo: sender@example.com\nSubject: Re: lunch\n\nSure, at noon.\n",
     ReportKind::kNotBounce,
     {}},

    {"ordinary mail that talks like a bounce",
     "From: Mia <mia@example.org>\nTo: sender@example.com\nSubject: Re: parcel\n\n"
     "The parcel could not be delivered to my old address; please use the new one.\n",
     ReportKind::kNotBounce,
     {}},

    {"non-standard notice with neither codes nor a daemon sender",
     "From: no-reply@mail.example.jp\nTo: sender@example.com\nSubject: Mail\n\n"
     "Your mail sent on: Thu, 29 Apr 2013 00:00:00 +0900\n     Could not be delivered to: <nina@example.jp>\n"
     "     As their mailbox is full.\n",
     ReportKind::kBounce,
     {{"nina@example.jp", "mailboxfull", false}}},

    // PowerMTA's own category decides a broad cause unless the reply names a narrower one; a category it
    // has no exact meaning for leaves the reply to decide. Yahoo's TSS04, answered by a Yahoo host
    // (Remote-MTA), refuses the sender.
    {"PowerMTA categories and a provider's host",
     "From: MAILER-DAEMON@pmta.example.com\nTo: sender@example.com\nSubject: Delivery report\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
     "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; pmta.example.com\n\n"
     "Final-Recipient: rfc822; oli@example.org\nAction: failed\nStatus: 5.7.1\n"
     "Diagnostic-Code: smtp; 550 5.7.1 recipient refused\nX-PowerMTA-BounceCategory: bad-mailbox\n\n"
     "Final-Recipient: rfc822; pia@example.org\nAction: failed\nStatus: 5.2.2\n"
     "Diagnostic-Code: smtp; 552 5.2.2 mailbox is full\nX-PowerMTA-BounceCategory: bad-mailbox\n\n"
     "Final-Recipient: rfc822; quin@example.org\nAction: failed\nStatus: 5.1.1\n"
     "Diagnostic-Code: smtp; 550 5.1.1 no such user\nX-PowerMTA-BounceCategory: bad-connection\n\n"
     "Final-Recipient: rfc822; rua@example.net\nAction: failed\nStatus: 4.7.0\nRemote-MTA: dns; mta5.am0.yahoodns.net\n"
     "Diagnostic-Code: smtp; 421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected\n"
     " volume or user complaints\n--B--\n",
     ReportKind::kBounce,
     {{"oli@example.org", "userunknown", true},
      {"pia@example.org", "mailboxfull", false},
      {"quin@example.org", "userunknown", true},
      {"rua@example.net", "rejected", false}}},

    // "User unknown" with neither a refused RCPT nor X.1.1 is the recipient's filter (soft) ...
    {"user unknown named by no command or status",
     "From: MAILER-DAEMON@mx.example.net\nTo: sender@example.com\nSubject: Delivery Status Notification\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
     "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
     "Final-Recipient: rfc822; sam@example.org\nAction: failed\nStatus: 5.0.0\n"
     "Diagnostic-Code: smtp; 550 User unknown\n--B--\n",
     ReportKind::kBounce,
     {{"sam@example.org", "filtered", false}}},
    // ... unless the report's writer signs it: McAfee's appliances word a refused recipient so.
    {"user unknown signed by a McAfee appliance",
     "From: MAILER-DAEMON@mx.example.net\nTo: sender@example.com\nSubject: Delivery Status\n"
     "X-NAI-Header: Modified by McAfee Email Gateway\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
     "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
     "Final-Recipient: rfc822; sam@example.org\nAction: failed\nStatus: 5.0.0\n"
     "Diagnostic-Code: smtp; 550 <sam@example.org>... User not exist\n--B--\n",
     ReportKind::kBounce,
     {{"sam@example.org", "userunknown", true}}},
};

TEST(BounceReport, ReadsReportsByGeneralSigns) {
  for (const Case& c : kCases) {
    for (const std::string& raw : {c.raw, Crlf(c.raw)}) {
      Report r = ParseReport(raw);
      EXPECT_EQ(ReportKindName(r.kind), ReportKindName(c.kind)) << c.name;
      ASSERT_EQ(r.recipients.size(), c.recipients.size()) << c.name;
      for (std::size_t i = 0; i < c.recipients.size(); ++i) {
        EXPECT_EQ(r.recipients[i].address, c.recipients[i].address) << c.name;
        EXPECT_EQ(r.recipients[i].reason, c.recipients[i].reason) << c.name << " " << r.recipients[i].diagnostic;
        EXPECT_EQ(r.recipients[i].hard, c.recipients[i].hard) << c.name;
      }
    }
  }
}

TEST(BounceReport, KeepsTheFieldsOfTheReport) {
  Report r = ParseReport(kCases[0].raw);
  EXPECT_EQ(r.reporting_mta, "mx.example.net");
  EXPECT_EQ(r.original_envelope_id, "env-42");
  EXPECT_EQ(r.original.message_id, "m1@example.com");
  EXPECT_EQ(r.original.subject, "Hallo Welt");
  EXPECT_EQ(r.original.kurier_headers.at("x-kurier-message-id"), "06h1c4sdtapge798m83v");
  ASSERT_EQ(r.recipients.size(), 2u);
  const Recipient& bob = r.recipients[0];
  EXPECT_EQ(bob.action, "failed");
  EXPECT_EQ(bob.status, "5.1.1");
  EXPECT_EQ(bob.reply_code, 550);
  EXPECT_EQ(bob.remote_mta, "mx.example.org");
  EXPECT_EQ(bob.smtp_command, "RCPT");
  EXPECT_NE(bob.diagnostic.find("User unknown"), std::string::npos);

  Report arf = ParseReport(kCases[2].raw);
  EXPECT_EQ(arf.feedback_type, "abuse");
  EXPECT_EQ(arf.arf_user_agent, "ExampleFBL/1.0");
  EXPECT_EQ(arf.source_ip, "192.0.2.7");
  EXPECT_EQ(arf.original.message_id, "m2@example.com");
  EXPECT_EQ(arf.original.kurier_headers.at("x-kurier-tag"), "spring");

  Report exim = ParseReport(kCases[5].raw);
  ASSERT_EQ(exim.recipients.size(), 2u);
  EXPECT_EQ(exim.recipients[0].smtp_command, "RCPT");
  EXPECT_EQ(exim.recipients[1].smtp_command, "CONN");
  EXPECT_EQ(exim.recipients[0].remote_mta, "mx.example.org");
}

// kurier's own DSNs (delivery/dsn.cpp) read back as what they say.
TEST(BounceReport, ReadsKurierDsn) {
  delivery::DsnInput in;
  in.reporting_mta = "mx.kurier.test";
  in.queue_id = "q1";
  in.original_sender = "alice@example.com";
  in.recipients = {{"bob@x.test", "5.1.1", "550 5.1.1 no such user", "mx.x.test", false},
                   {"carol@y.test", "4.4.7", "", "", true}};
  in.original_message = "From: alice@example.com\r\nTo: bob@x.test\r\nX-Kurier-Message-Id: abc\r\n\r\nbody\r\n";
  Report r = ParseReport(delivery::BuildDsn(in, "BOUNDARY", 1'700'000'000'000'000));
  EXPECT_EQ(r.kind, ReportKind::kBounce);
  ASSERT_EQ(r.recipients.size(), 2u);
  EXPECT_EQ(r.recipients[0].address, "bob@x.test");
  EXPECT_EQ(r.recipients[0].reason, "userunknown");
  EXPECT_TRUE(r.recipients[0].hard);
  EXPECT_EQ(r.recipients[1].reason, "expired");
  EXPECT_FALSE(r.recipients[1].hard);
  EXPECT_EQ(r.original.kurier_headers.at("x-kurier-message-id"), "abc");
}

TEST(BounceReport, AmazonSesNotification) {
  std::string raw =
      "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n{\n"
      "  \"Type\" : \"Notification\",\n  \"Message\" : \"{\\\"notificationType\\\":\\\"Bounce\\\",\\\"bounce\\\":"
      "{\\\"bounceType\\\":\\\"Permanent\\\",\\\"bouncedRecipients\\\":[{\\\"emailAddress\\\":\\\"m@example.org\\\","
      "\\\"action\\\":\\\"failed\\\",\\\"status\\\":\\\"5.1.1\\\",\\\"diagnosticCode\\\":\\\"smtp; 550 5.1.1 user "
      "unknown\\\"}],\\\"reportingMTA\\\":\\\"dsn; a1.smtp-out.amazonses.com\\\"},\\\"mail\\\":{\\\"headers\\\":"
      "[{\\\"name\\\":\\\"X-Kurier-Message-Id\\\",\\\"value\\\":\\\"xyz\\\"}]}}\"\n}\n";
  Report r = ParseReport(raw);
  EXPECT_EQ(r.kind, ReportKind::kBounce);
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].address, "m@example.org");
  EXPECT_EQ(r.recipients[0].reason, "userunknown");
  EXPECT_EQ(r.reporting_mta, "a1.smtp-out.amazonses.com");
  EXPECT_EQ(r.original.kurier_headers.at("x-kurier-message-id"), "xyz");
}

TEST(BounceReport, SurvivesGarbageAndTruncation) {
  std::mt19937 rng(7);
  for (const Case& c : kCases) {
    for (std::size_t cut = 0; cut < c.raw.size(); cut += 37) (void)ParseReport(std::string_view(c.raw).substr(0, cut));
    std::string mutated = c.raw;
    for (int i = 0; i < 200; ++i) {
      mutated[rng() % mutated.size()] = static_cast<char>(rng() % 256);
      Report r = ParseReport(mutated);
      for (const Recipient& rcpt : r.recipients) EXPECT_FALSE(rcpt.reason.empty());
    }
  }
  EXPECT_EQ(ParseReport("").kind, ReportKind::kNotBounce);
  EXPECT_EQ(ParseReport("\n\n\n").recipients.size(), 0u);
}

}  // namespace
}  // namespace kurier::bounce
