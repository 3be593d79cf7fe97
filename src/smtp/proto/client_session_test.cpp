// Client session tests: scripted server replies in, client commands and per-recipient outcomes out.
#include "smtp/proto/client_session.hpp"

#include <gtest/gtest.h>

namespace kurier::smtp::proto {
namespace {

constexpr const char* kEhloFull =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n";

OutboundMessage Msg(std::vector<std::string> rcpts, std::string_view data = "Subject: x\r\n\r\nhi\r\n") {
  OutboundMessage m;
  m.mail_from = "a@sender.test";
  m.recipients = std::move(rcpts);
  m.data = data;
  return m;
}

TEST(ClientSession, PipelinedTransactionWithOneRejectedRecipient) {
  ClientSession c(ClientConfig{"out.test", TlsMode::kOpportunistic});
  c.Feed("220 mx.test ESMTP\r\n");
  EXPECT_EQ(c.TakeOutput(), "EHLO out.test\r\n");
  c.Feed(kEhloFull);
  ASSERT_EQ(c.status(), ClientSession::Status::kReady);
  EXPECT_TRUE(c.has_extension("PIPELINING"));
  EXPECT_EQ(c.size_limit(), 1000u);
  auto m = Msg({"b@x.test", "nobody@x.test", "c@x.test"});
  m.eight_bit = true;
  c.StartMessage(m);
  EXPECT_EQ(c.TakeOutput(),
            "MAIL FROM:<a@sender.test> SIZE=18 BODY=8BITMIME\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<nobody@x.test>\r\n"
            "RCPT TO:<c@x.test>\r\nDATA\r\n");
  c.Feed("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n");
  EXPECT_EQ(c.TakeOutput(), "Subject: x\r\n\r\nhi\r\n.\r\n");
  c.Feed("250 2.0.0 queued as X\r\n");
  ASSERT_EQ(c.status(), ClientSession::Status::kMessageDone);
  auto r = c.TakeResults();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(r[1].outcome, Outcome::kBounced);
  EXPECT_EQ(r[1].reply.ToString(), "550 5.1.1 no such user");
  EXPECT_EQ(r[1].command, "RCPT");  // the classifier reads the command a reply answered
  EXPECT_EQ(r[2].outcome, Outcome::kDelivered);
  EXPECT_EQ(r[2].reply.enhanced, "2.0.0");
  EXPECT_EQ(c.status(), ClientSession::Status::kReady);

  // the connection is reused for the next message
  c.StartMessage(Msg({"d@x.test"}));
  EXPECT_EQ(c.TakeOutput(), "MAIL FROM:<a@sender.test> SIZE=18\r\nRCPT TO:<d@x.test>\r\nDATA\r\n");
  c.Feed("250 ok\r\n250 ok\r\n354 go\r\n");
  c.TakeOutput();
  c.Feed("451 4.3.0 try later\r\n");
  r = c.TakeResults();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::kDeferred);
  EXPECT_EQ(r[0].command, "DATA");
  c.Quit();
  EXPECT_EQ(c.TakeOutput(), "QUIT\r\n");
  EXPECT_EQ(c.status(), ClientSession::Status::kClosed);
}

TEST(ClientSession, HeloFallbackAndSequentialCommands) {
  ClientSession c(ClientConfig{"out.test", TlsMode::kOpportunistic});
  c.Feed("220 old.test\r\n");
  c.TakeOutput();
  c.Feed("502 5.5.1 what?\r\n");
  EXPECT_EQ(c.TakeOutput(), "HELO out.test\r\n");
  c.Feed("250 old.test\r\n");
  ASSERT_EQ(c.status(), ClientSession::Status::kReady);
  c.StartMessage(Msg({"b@x.test", "c@x.test"}, "no final newline"));
  EXPECT_EQ(c.TakeOutput(), "MAIL FROM:<a@sender.test>\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(c.TakeOutput(), "RCPT TO:<b@x.test>\r\n");
  c.Feed("450 4.2.1 mailbox busy\r\n");
  EXPECT_EQ(c.TakeOutput(), "RCPT TO:<c@x.test>\r\n");
  c.Feed("250 ok\r\n");
  EXPECT_EQ(c.TakeOutput(), "DATA\r\n");
  c.Feed("354 go\r\n");
  EXPECT_EQ(c.TakeOutput(), "no final newline\r\n.\r\n");
  c.Feed("250 ok\r\n");
  auto r = c.TakeResults();
  EXPECT_EQ(r[0].outcome, Outcome::kDeferred);
  EXPECT_EQ(r[1].outcome, Outcome::kDelivered);
}

TEST(ClientSession, FailedMailIsResetBeforeTheNextMessage) {
  ClientSession c(ClientConfig{"out.test", TlsMode::kNone});
  c.Feed("220 mx\r\n");
  c.Feed(kEhloFull);
  c.TakeOutput();
  c.StartMessage(Msg({"b@x.test"}));
  c.TakeOutput();
  c.Feed("550 5.7.1 sender refused\r\n503 5.5.1 no mail\r\n554 5.5.1 no valid recipients\r\n");
  EXPECT_EQ(c.TakeOutput(), "RSET\r\n");
  auto r = c.TakeResults();
  EXPECT_EQ(r.at(0).outcome, Outcome::kBounced);
  EXPECT_EQ(r.at(0).reply.ToString(), "550 5.7.1 sender refused");
  c.Feed("250 2.0.0 ok\r\n");
  EXPECT_EQ(c.status(), ClientSession::Status::kReady);

  // found by fuzz/client_session_fuzz.cpp: the connection failing while the RSET is answered must
  // close the session, not report a second, empty set of results
  c.StartMessage(Msg({"b@x.test"}));
  c.Feed("550 5.7.1 sender refused\r\n503 5.5.1 no mail\r\n554 5.5.1 no valid recipients\r\n");
  ASSERT_EQ(c.TakeResults().size(), 1u);
  c.Feed("bogus\r\n");
  EXPECT_EQ(c.status(), ClientSession::Status::kClosed);
}

TEST(ClientSession, StartTlsAndPolicy) {
  ClientSession c(ClientConfig{"out.test", TlsMode::kOpportunistic});
  c.Feed("220 mx\r\n250-mx\r\n250 STARTTLS\r\n");
  EXPECT_EQ(c.TakeOutput(), "EHLO out.test\r\nSTARTTLS\r\n");
  c.Feed("220 2.0.0 go ahead\r\n");
  ASSERT_EQ(c.status(), ClientSession::Status::kNeedTls);
  c.OnTlsStarted();
  EXPECT_EQ(c.TakeOutput(), "EHLO out.test\r\n");
  c.Feed("250-mx\r\n250 PIPELINING\r\n");
  EXPECT_EQ(c.status(), ClientSession::Status::kReady);
  EXPECT_TRUE(c.tls_active());

  ClientSession required(ClientConfig{"out.test", TlsMode::kRequired});
  required.Feed("220 mx\r\n250 mx\r\n");
  EXPECT_EQ(required.status(), ClientSession::Status::kClosed);
  EXPECT_EQ(required.failure().code, 450);
  EXPECT_EQ(required.failure().enhanced, "4.7.10");
}

TEST(ClientSession, AuthOnlyUnderTls) {
  ClientConfig cfg{"out.test", TlsMode::kOpportunistic, false, "user", "pw"};
  ClientSession c(cfg);
  c.Feed("220 relay\r\n250-relay\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n");
  EXPECT_EQ(c.TakeOutput(), "EHLO out.test\r\nSTARTTLS\r\n");
  c.Feed("220 go\r\n");
  c.OnTlsStarted();
  c.Feed("250-relay\r\n250 AUTH PLAIN LOGIN\r\n");
  EXPECT_EQ(c.TakeOutput(), "EHLO out.test\r\nAUTH PLAIN AHVzZXIAcHc=\r\n");
  c.Feed("235 2.7.0 ok\r\n");
  EXPECT_EQ(c.status(), ClientSession::Status::kReady);

  ClientSession plain(cfg);
  plain.Feed("220 relay\r\n250-relay\r\n250 AUTH PLAIN\r\n");
  EXPECT_EQ(plain.TakeOutput().find("AUTH"), std::string::npos) << "no password without TLS";
  EXPECT_EQ(plain.status(), ClientSession::Status::kClosed);
  EXPECT_EQ(plain.failure().code, 450);

  cfg.implicit_tls = true;
  ClientSession implicit(cfg);
  implicit.Feed("220 relay\r\n250-relay\r\n250 AUTH PLAIN\r\n");
  EXPECT_NE(implicit.TakeOutput().find("AUTH PLAIN"), std::string::npos);
  implicit.Feed("535 5.7.8 bad credentials\r\n");
  EXPECT_EQ(implicit.status(), ClientSession::Status::kClosed);
  EXPECT_EQ(implicit.failure().code, 535);
}

TEST(ClientSession, LocalRefusalsTable) {
  struct Row {
    const char* name;
    const char* ehlo;
    OutboundMessage msg;
    int want_code;
  };
  OutboundMessage utf8 = Msg({"j\xc3\xb6rg@x.test"});
  utf8.smtputf8 = true;
  std::string big(2000, 'x');
  Row rows[] = {
      {"smtputf8 needed", "250-mx\r\n250 PIPELINING\r\n", utf8, 553},
      {"size over limit", "250-mx\r\n250 SIZE 100\r\n", Msg({"b@x.test"}, big), 552},
  };
  for (auto& r : rows) {
    ClientSession c(ClientConfig{"out.test", TlsMode::kNone});
    c.Feed("220 mx\r\n");
    c.Feed(r.ehlo);
    c.TakeOutput();
    c.StartMessage(r.msg);
    EXPECT_EQ(c.TakeOutput(), "") << r.name << ": nothing may be sent";
    auto res = c.TakeResults();
    ASSERT_EQ(res.size(), 1u) << r.name;
    EXPECT_EQ(res[0].reply.code, r.want_code) << r.name;
    EXPECT_EQ(res[0].outcome, Outcome::kBounced) << r.name;
    EXPECT_EQ(c.status(), ClientSession::Status::kReady) << r.name;
  }
}

TEST(ClientSession, GreetingRefusedAndConnectionLost) {
  ClientSession c(ClientConfig{});
  c.Feed("554 5.7.1 go away\r\n");
  EXPECT_EQ(c.status(), ClientSession::Status::kClosed);
  EXPECT_EQ(c.failure().code, 554);

  ClientSession d(ClientConfig{"out.test", TlsMode::kNone});
  d.Feed("220 mx\r\n");
  d.Feed(kEhloFull);
  d.StartMessage(Msg({"b@x.test", "c@x.test"}));
  d.Feed("250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n");
  d.OnConnectionLost("connection reset while waiting for the reply to the end of data");
  auto r = d.TakeResults();
  EXPECT_EQ(r[0].outcome, Outcome::kDeferred);
  EXPECT_TRUE(r[0].local);
  EXPECT_EQ(r[1].outcome, Outcome::kBounced);
  EXPECT_EQ(d.status(), ClientSession::Status::kClosed);

  ClientSession e(ClientConfig{});
  e.Feed("220 mx\r\n");
  e.Feed("garbage\r\n");
  EXPECT_EQ(e.status(), ClientSession::Status::kClosed);
}

TEST(EncodeData, NeverEmitsBareNewlinesOrSmuggling) {
  struct Row {
    std::string in, want;
  } rows[] = {
      {"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
      {"a\nb\n", "a\r\nb\r\n.\r\n"},
      {"a\rb", "a\r\nb\r\n.\r\n"},
      {".hidden\r\n..two\r\n", "..hidden\r\n...two\r\n.\r\n"},
      {"x\n.\nMAIL FROM:<e@v>\n", "x\r\n..\r\nMAIL FROM:<e@v>\r\n.\r\n"},
      {"x\r\n.\r\r\nQUIT\r\n", "x\r\n..\r\n\r\nQUIT\r\n.\r\n"},
      {"", ".\r\n"},
  };
  for (const auto& r : rows) {
    std::string got = EncodeData(r.in);
    EXPECT_EQ(got, r.want) << testing::PrintToString(r.in);
    // only the final terminator may be a line consisting of a single dot
    EXPECT_EQ(got.find("\r\n.\r\n"), got.size() >= 5 && got.substr(got.size() - 5) == "\r\n.\r\n" ? got.size() - 5 : std::string::npos);
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == '\n') EXPECT_TRUE(i > 0 && got[i - 1] == '\r');
      if (got[i] == '\r') EXPECT_TRUE(i + 1 < got.size() && got[i + 1] == '\n');
    }
  }
}

TEST(ReplyParser, MultiLineAndMalformed) {
  ReplyParser p;
  p.Feed("250-first\r\n250-SIZE 10\r\n250 last\r\n421 4.4.2 bye\r\n");
  auto a = p.Next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->lines.size(), 3u);
  auto b = p.Next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->enhanced, "4.4.2");
  EXPECT_EQ(b->Text(), "bye");
  EXPECT_FALSE(p.Next());
  EXPECT_FALSE(p.failed());
  for (const char* bad : {"hello\r\n", "250-a\r\n251 b\r\n", "25\r\n", "600 x\r\n"}) {
    ReplyParser q;
    q.Feed(bad);
    q.Next();
    EXPECT_TRUE(q.failed()) << bad;
  }
}

}  // namespace
}  // namespace kurier::smtp::proto
