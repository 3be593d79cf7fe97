#include "delivery/dsn.hpp"

#include <gtest/gtest.h>

namespace kurier::delivery {
namespace {

TEST(Dsn, StructureAndFields) {
  DsnInput in;
  in.reporting_mta = "mx.kurier.test";
  in.queue_id = "q123";
  in.original_sender = "alice@example.com";
  in.arrival = 1'700'000'000'000'000;
  in.recipients = {{"bob@x.test", "5.1.1", "550 5.1.1 no such user\r\nInjected: header", "mx.x.test [127.0.0.2]", false},
                   {"carol@y.test", "4.4.1", "451 4.4.1 cannot connect", "", true, true},
                   {"dave@z.test", "5.1.2", "550 5.1.2 z.test does not exist", "", false, true}};
  in.original_message = "Subject: hello\r\nFrom: alice@example.com\r\n\r\nsecret body\r\n";
  std::string d = BuildDsn(in, "BOUNDARY", 1'700'000'100'000'000);
  EXPECT_NE(d.find("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"BOUNDARY\""), std::string::npos);
  EXPECT_NE(d.find("To: <alice@example.com>\r\n"), std::string::npos);
  EXPECT_NE(d.find("Reporting-MTA: dns; mx.kurier.test\r\n"), std::string::npos);
  EXPECT_NE(d.find("Final-Recipient: rfc822; bob@x.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.x.test [127.0.0.2]\r\n"), std::string::npos);
  EXPECT_NE(d.find("Diagnostic-Code: smtp; 550 5.1.1 no such user  Injected: header\r\n"), std::string::npos)
      << "CR/LF in a remote reply must not start a new field";
  EXPECT_EQ(d.find("\r\nInjected: header"), std::string::npos);
  // kurier's own reply is told apart from a remote server's, for people and for machines
  EXPECT_NE(d.find("<bob@x.test>: host mx.x.test [127.0.0.2] said: 550"), std::string::npos);
  EXPECT_NE(d.find("<dave@z.test>: delivery failed (reported by mx.kurier.test itself, not by the recipient's server): "
                   "550 5.1.2 z.test does not exist\r\n"),
            std::string::npos);
  EXPECT_NE(d.find("Final-Recipient: rfc822; carol@y.test\r\nAction: failed\r\nStatus: 4.4.1\r\nDiagnostic-Code: X-Kurier; "
                   "451 4.4.1 cannot connect\r\n"),
            std::string::npos);
  EXPECT_NE(d.find("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\nFrom: alice@example.com\r\n"), std::string::npos);
  EXPECT_EQ(d.find("secret body"), std::string::npos) << "only the headers are returned";
  EXPECT_NE(d.find("Auto-Submitted: auto-replied"), std::string::npos);
  EXPECT_EQ(d.substr(d.size() - 14), "--BOUNDARY--\r\n");
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i] == '\n') ASSERT_EQ(d[i - 1], '\r') << "bare LF at " << i;
}

// A message spooled by an older version may still have a header line over 998 octets: the DSN quoting
// it keeps RFC 5322's limit (the quoted header is re-encoded) and still names the message.
TEST(Dsn, KeepsTheLineLimitWhenTheQuotedHeaderBreaksIt) {
  DsnInput in;
  in.reporting_mta = "mx.kurier.test";
  in.queue_id = "q124";
  in.original_sender = "alice@example.com";
  in.recipients = {{"bob@x.test", "5.1.1", "550 5.1.1 no such user", "", false}};
  in.original_message = "Subject: hello\r\nX-Token: " + std::string(1500, 't') + "\r\n\r\nbody\r\n";
  std::string d = BuildDsn(in, "BOUNDARY", 1'700'000'100'000'000);
  std::size_t longest = 0;
  for (std::size_t pos = 0, eol; (eol = d.find("\r\n", pos)) != std::string::npos; pos = eol + 2)
    longest = std::max(longest, eol - pos);
  EXPECT_LE(longest, 998u);
  EXPECT_NE(d.find("Final-Recipient: rfc822; bob@x.test\r\n"), std::string::npos);
  EXPECT_NE(d.find("Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: quoted-printable\r\n"), std::string::npos) << d;
}

}  // namespace
}  // namespace kurier::delivery
