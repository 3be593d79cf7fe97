// Session tests that read like transcripts: client bytes in, server replies out.
#include "smtp/proto/server_session.hpp"

#include <gtest/gtest.h>

#include "common/encoding.hpp"

namespace kurier::smtp::proto {
namespace {

// Drives a session: requests are completed at once (TLS ok, "user"/"secret" valid, store ok).
struct Driver {
  explicit Driver(SessionConfig cfg = Submission()) : s(std::move(cfg)) { s.Greet(); Drain(); }
  static SessionConfig Submission() {
    SessionConfig c;
    c.hostname = "mx.test";
    return c;
  }
  static SessionConfig Relay() {
    SessionConfig c = Submission();
    c.mode = ListenerMode::kRelay;
    return c;
  }
  std::string Send(std::string_view bytes) {
    s.Feed(bytes);
    return Drain();
  }
  std::string Drain() {
    std::string out;
    for (;;) {
      out += s.TakeOutput();
      switch (s.pending()) {
        case Request::kNone: return out;
        case Request::kStartTls: s.OnTlsStarted(); ++handshakes; break;
        case Request::kAuthenticate: {
          AuthResult r;
          const auto& q = s.auth_request();
          if (q.username == "user" && q.password == "secret") {
            r.status = AuthResult::Status::kOk;
            r.account = "acme";
            r.sender_domains = {"acme.test"};
            r.sandbox = sandbox;
            r.verified_domains = verified;
          }
          s.OnAuthResult(r);
          break;
        }
        case Request::kStore:
          stored.push_back(s.TakeMessage());
          envelopes.push_back(s.envelope());
          s.OnStored(StoreResult{true, "Q" + std::to_string(stored.size()), ""});
          break;
      }
    }
  }
  void Login() {
    Send("EHLO c.test\r\nSTARTTLS\r\n");
    Send("EHLO c.test\r\nAUTH PLAIN " + Base64Encode(std::string("\0user\0secret", 12)) + "\r\n");
    ASSERT_TRUE(s.authenticated());
  }
  bool sandbox = true;
  std::vector<std::string> verified;
  ServerSession s;
  std::vector<std::string> stored;
  std::vector<Envelope> envelopes;
  int handshakes = 0;
};

// Reply codes of a transcript, one per reply line ending (multi-line replies give their last line).
std::vector<std::string> Codes(const std::string& out) {
  std::vector<std::string> codes;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find("\r\n", start);
    std::string line = out.substr(start, end - start);
    if (line.size() >= 4 && line[3] == ' ') codes.push_back(line.substr(0, line.find(' ', 4)));
    else if (line.size() == 3) codes.push_back(line);
    start = end + 2;
  }
  return codes;
}

TEST(ServerSession, GreetingAndEhloBeforeTls) {
  Driver d;
  std::string out = d.Send("EHLO client.test\r\n");
  EXPECT_NE(out.find("250-PIPELINING"), std::string::npos);
  EXPECT_NE(out.find("250-SIZE 26214400"), std::string::npos);
  EXPECT_NE(out.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(out.find("AUTH"), std::string::npos) << "AUTH must not be offered before TLS";
}

TEST(ServerSession, TranscriptTable) {
  struct Row {
    const char* name;
    bool login;
    std::string input;
    std::vector<std::string> want;  // "code enhanced" per reply
  } rows[] = {
      {"auth before tls refused", false, "EHLO c\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n", {"250 STARTTLS", "538 5.7.11"}},
      {"mail before auth refused", false, "EHLO c\r\nMAIL FROM:<a@acme.test>\r\n", {"250 STARTTLS", "530 5.7.0"}},
      {"rcpt before mail", true, "RCPT TO:<b@x.test>\r\n", {"503 5.5.1"}},
      {"mail then rcpt then data", true,
       "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nFrom: a@acme.test\r\nSubject: hi\r\n\r\nbody\r\n.\r\n",
       {"250 2.1.0", "250 2.1.5", "354 End", "250 2.0.0"}},
      {"header from at a foreign domain", true,
       "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nFrom: \"a@acme.test\" <x@evil.test>\r\n\r\nb\r\n.\r\n",
       {"250 2.1.0", "250 2.1.5", "354 End", "550 5.7.1"}},
      {"no header from", true, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nSubject: hi\r\n\r\nb\r\n.\r\n",
       {"250 2.1.0", "250 2.1.5", "354 End", "550 5.6.0"}},
      {"two header froms", true,
       "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nFrom: a@acme.test\r\nFrom: a@acme.test\r\n\r\n.\r\n",
       {"250 2.1.0", "250 2.1.5", "354 End", "550 5.6.0"}},
      {"header sender at a foreign domain", true,
       "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nFrom: a@acme.test\r\nSender: ceo@bank.test\r\n\r\n.\r\n",
       {"250 2.1.0", "250 2.1.5", "354 End", "550 5.7.1"}},
      {"foreign sender domain", true, "MAIL FROM:<a@evil.test>\r\n", {"550 5.7.1"}},
      {"null sender on submission", true, "MAIL FROM:<>\r\n", {"550 5.7.1"}},
      {"bad sender syntax", true, "MAIL FROM:a@acme.test\r\n", {"501 5.1.7"}},
      {"size too big", true, "MAIL FROM:<a@acme.test> SIZE=999999999\r\n", {"552 5.3.4"}},
      {"unknown param", true, "MAIL FROM:<a@acme.test> RET=FULL\r\n", {"555 5.5.4"}},
      {"utf8 without smtputf8", true, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<j\xc3\xb6rg@x.test>\r\n",
       {"250 2.1.0", "553 5.6.7"}},
      {"utf8 with smtputf8", true, "MAIL FROM:<a@acme.test> SMTPUTF8\r\nRCPT TO:<j\xc3\xb6rg@x.test>\r\n",
       {"250 2.1.0", "250 2.1.5"}},
      {"data without rcpt", true, "MAIL FROM:<a@acme.test>\r\nDATA\r\n", {"250 2.1.0", "554 5.5.1"}},
      {"nested mail", true, "MAIL FROM:<a@acme.test>\r\nMAIL FROM:<a@acme.test>\r\n", {"250 2.1.0", "503 5.5.1"}},
      {"unknown command", false, "FOO bar\r\n", {"500 5.5.1"}},
      {"bare lf command", false, "NOOP\n", {"500 5.5.2"}},
      {"quit", false, "QUIT\r\nNOOP\r\n", {"221 2.0.0"}},
      {"helo without name", false, "HELO\r\n", {"501 5.5.4"}},
      {"rset and noop", true, "RSET\r\nNOOP\r\n", {"250 2.0.0", "250 2.0.0"}},
      {"relay tricks refused before auth", false,
       "EHLO c\r\nMAIL FROM:<x@ext.test>\r\nRCPT TO:<victim%ext.test@mx.test>\r\n", {"250 STARTTLS", "530 5.7.0", "503 5.5.1"}},
      {"bdat message", true, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nBDAT 24\r\nFrom: a@acme.test\r\nab\r\nxBDAT 3 LAST\r\nyz\n",
       {"250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0"}},
      {"bdat without mail consumes chunk", true, "BDAT 6 LAST\r\nNOOP\r\nNOOP\r\n", {"503 5.5.1", "250 2.0.0"}},
      {"data after bdat refused", true, "MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nBDAT 1\r\nxDATA\r\n",
       {"250 2.1.0", "250 2.1.5", "250 2.0.0", "503 5.5.1"}},
  };
  for (const auto& r : rows) {
    Driver d;
    if (r.login) d.Login();
    std::vector<std::string> got = Codes(d.Send(r.input));
    ASSERT_EQ(got.size(), r.want.size()) << r.name;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i].substr(0, r.want[i].size()), r.want[i]) << r.name << " reply " << i;
  }
}

TEST(ServerSession, VerificationGateOutsideSandbox) {
  struct Row {
    bool sandbox;
    std::vector<std::string> verified;
    std::string want;
  } rows[] = {
      {true, {}, "250 2.1.0"},                // sandbox: a listed sender domain is enough
      {false, {}, "550 5.7.1"},               // outside it the domain must be verified
      {false, {"acme.test"}, "250 2.1.0"},
      {false, {"other.test"}, "550 5.7.1"},
  };
  for (const auto& r : rows) {
    Driver d;
    d.sandbox = r.sandbox;
    d.verified = r.verified;
    d.Login();
    std::string out = d.Send("MAIL FROM:<a@acme.test>\r\n");
    EXPECT_EQ(out.substr(0, 9), r.want) << out;
    if (r.want[0] == '5') EXPECT_NE(out.find("kurier domain check acme.test"), std::string::npos) << out;
  }
}

TEST(ServerSession, StoresDotUnstuffedBody) {
  Driver d;
  d.Login();
  d.Send("MAIL FROM:<a@acme.test> BODY=8BITMIME\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n");
  std::string out = d.Send("From: a@acme.test\r\n\r\n..leading dot\r\n.\r\n");
  EXPECT_EQ(out, "250 2.0.0 Ok: queued as Q1\r\n");
  ASSERT_EQ(d.stored.size(), 1u);
  EXPECT_EQ(d.stored[0], "From: a@acme.test\r\n\r\n.leading dot\r\n");
  EXPECT_EQ(d.envelopes[0].reverse_path.ToString(), "a@acme.test");
  ASSERT_EQ(d.envelopes[0].forward_paths.size(), 2u);
  EXPECT_EQ(d.envelopes[0].body_type, BodyType::k8BitMime);
}

TEST(ServerSession, DataSplitAcrossFeeds) {
  Driver d;
  d.Login();
  d.Send("MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
  std::string msg = "From: a@acme.test\r\n\r\nline one\r\nline two\r\n.\r\n";
  std::string out;
  for (char c : msg) out += d.Send(std::string(1, c));
  EXPECT_EQ(out, "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_EQ(d.stored.at(0), "From: a@acme.test\r\n\r\nline one\r\nline two\r\n");
}

TEST(ServerSession, SmugglingVariantsNeverEndDataEarly) {
  // Each variant is followed by a smuggled transaction and then the real end of data.
  const std::string variants[] = {"\n.\n", "\n.\r\n", "\r.\r", "\r.\r\n", std::string("\r\n\x00.\r\n", 6), "\n.\r", "\r.\n",
                                  "\r\n.\r\r\n"};
  for (const auto& v : variants) {
    Driver d;
    d.Login();
    d.Send("MAIL FROM:<a@acme.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
    std::string out = d.Send("Subject: s\r\n\r\nhello" + v +
                             "MAIL FROM:<a@acme.test>\r\nRCPT TO:<smuggled@x.test>\r\nDATA\r\nevil\r\n.\r\n");
    EXPECT_TRUE(d.stored.empty()) << "variant stored a message: " << testing::PrintToString(v);
    EXPECT_EQ(out.substr(0, 9), "550 5.5.2") << out;
    EXPECT_EQ(Codes(out).size(), 1u) << "smuggled commands must not run: " << out;
  }
}

TEST(ServerSession, StartTlsDiscardsPipelinedPlaintext) {
  Driver d;
  std::string out = d.Send("EHLO c\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<a@acme.test>\r\n");
  EXPECT_EQ(d.handshakes, 1);
  std::vector<std::string> codes = Codes(out);
  ASSERT_EQ(codes.size(), 2u) << out;  // EHLO's and STARTTLS's replies only
  EXPECT_EQ(codes[1].substr(0, 3), "220");
  // After TLS the session starts over: EHLO needed again.
  EXPECT_EQ(d.Send("MAIL FROM:<a@acme.test>\r\n").substr(0, 9), "503 5.5.1");
}

TEST(ServerSession, AuthLoginAndFailures) {
  Driver d;
  d.Send("EHLO c\r\nSTARTTLS\r\n");
  d.Send("EHLO c\r\n");
  EXPECT_EQ(d.Send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(d.Send(Base64Encode("user") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(d.Send(Base64Encode("wrong") + "\r\n").substr(0, 9), "535 5.7.8");
  EXPECT_FALSE(d.s.authenticated());
  EXPECT_EQ(d.Send("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(d.Send("*\r\n").substr(0, 9), "501 5.0.0");
  EXPECT_EQ(d.Send("AUTH PLAIN !!!\r\n").substr(0, 9), "501 5.5.2");
  EXPECT_EQ(d.Send("AUTH CRAM-MD5\r\n").substr(0, 9), "504 5.5.4");
  EXPECT_EQ(d.Send("AUTH LOGIN " + Base64Encode("user") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(d.Send(Base64Encode("secret") + "\r\n").substr(0, 9), "235 2.7.0");
  EXPECT_TRUE(d.s.authenticated());
  EXPECT_EQ(d.s.account(), "acme");
}

TEST(ServerSession, LimitsTable) {
  SessionConfig cfg = Driver::Submission();
  cfg.limits.max_message_size = 50;
  cfg.limits.max_recipients = 2;
  cfg.limits.max_data_line = 1000;
  Driver d(cfg);
  d.Login();
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@acme.test>\r\nRCPT TO:<1@x.test>\r\nRCPT TO:<2@x.test>\r\nRCPT TO:<3@x.test>\r\n")),
            (std::vector<std::string>{"250 2.1.0", "250 2.1.5", "250 2.1.5", "452 4.5.3"}));
  std::string out = d.Send("DATA\r\n" + std::string(100, 'x') + "\r\n.\r\n");
  EXPECT_EQ(Codes(out).back(), "552 5.3.4");
  EXPECT_TRUE(d.stored.empty());
  d.Send("MAIL FROM:<a@acme.test>\r\nRCPT TO:<1@x.test>\r\nDATA\r\n");
  out = d.Send(std::string(5000, 'y') + "\r\n.\r\n");
  EXPECT_EQ(Codes(out).back(), "550 5.6.0") << out;  // the over-long line is noticed first
  // over-long command line is skipped to its end and answered once
  out = d.Send(std::string(20000, 'A') + "\r\nNOOP\r\n");
  EXPECT_EQ(Codes(out), (std::vector<std::string>{"500 5.5.2", "250 2.0.0"}));
}

TEST(ServerSession, LongDataLineRefused) {
  SessionConfig cfg = Driver::Submission();
  cfg.limits.max_data_line = 1000;
  Driver d(cfg);
  d.Login();
  d.Send("MAIL FROM:<a@acme.test>\r\nRCPT TO:<1@x.test>\r\nDATA\r\n");
  std::string out = d.Send("a\r\n" + std::string(3000, 'z') + "\r\nb\r\n.\r\n");
  EXPECT_EQ(Codes(out).back(), "550 5.6.0");
  EXPECT_TRUE(d.stored.empty());
}

TEST(ServerSession, TooManyErrorsCloses) {
  SessionConfig cfg = Driver::Submission();
  cfg.limits.max_errors = 3;
  Driver d(cfg);
  std::string out = d.Send("X\r\nX\r\nX\r\nX\r\nNOOP\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(Codes(out).back(), "421 4.7.0");
}

TEST(ServerSession, RelayModeNeedsNoAuth) {
  Driver d(Driver::Relay());
  std::string out = d.Send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(Codes(out), (std::vector<std::string>{"250 STARTTLS", "250 2.1.0", "250 2.1.5", "354 End", "250 2.0.0", "221 2.0.0"}));
  EXPECT_EQ(out.find("AUTH"), std::string::npos);
  EXPECT_EQ(d.stored.at(0), "x\r\n");
}

TEST(ServerSession, InboundModeTakesOnlyBounceDomains) {
  SessionConfig c = Driver::Submission();
  c.mode = ListenerMode::kInbound;
  c.accepted_domain = [](const std::string& d) { return d == "bounces.shop.test"; };
  Driver d(c);
  std::string out = d.Send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b+tok@Bounces.Shop.TEST>\r\nRCPT TO:<someone@elsewhere.test>\r\n"
                           "DATA\r\nx\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(Codes(out), (std::vector<std::string>{"250 STARTTLS", "250 2.1.0", "250 2.1.5", "550 5.7.1", "354 End", "250 2.0.0",
                                                  "221 2.0.0"}));
  EXPECT_NE(out.find("<someone@elsewhere.test>: this server takes only bounces"), std::string::npos) << out;
  EXPECT_EQ(out.find("AUTH"), std::string::npos);
  // Without a domain check configured, nothing is accepted: never an open relay.
  SessionConfig none = c;
  none.accepted_domain = nullptr;
  Driver closed(none);
  EXPECT_EQ(Codes(closed.Send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@bounces.shop.test>\r\n")),
            (std::vector<std::string>{"250 STARTTLS", "250 2.1.0", "550 5.7.1"}));
}

TEST(ServerSession, TimeoutAndShutdown) {
  Driver d;
  d.s.OnTimeout();
  EXPECT_EQ(d.Drain().substr(0, 9), "421 4.4.2");
  EXPECT_TRUE(d.s.closed());
}

// The relay listener (trusted networks) is not a submission: its header From is not checked.
TEST(ServerSession, RelayHeaderFromIsNotChecked) {
  Driver d(Driver::Relay());
  std::string out = d.Send("EHLO c\r\nMAIL FROM:<a@any.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"
                           "From: x@evil.test\r\nFrom: y@evil.test\r\n\r\nb\r\n.\r\n");
  EXPECT_NE(out.find("250 2.0.0 Ok: queued"), std::string::npos) << out;
}

// Each clock has its own text, naming what happened and the key that sets it (issue 12, item 5).
TEST(ServerSession, TimeoutTextsSayWhatHappened) {
  struct Case {
    TimeoutKind kind;
    const char* want;
  } cases[] = {
      {TimeoutKind::kCommand, "no complete command line within 300 s (smtp.limits.command_timeout)"},
      {TimeoutKind::kData, "no message data for 300 s (smtp.limits.command_timeout)"},
      {TimeoutKind::kDataRate, "too slow: fewer than 1024 octets per second over 30 s (smtp.limits.data_min_rate)"},
      {TimeoutKind::kSession, "Session exceeded 1800 s (smtp.limits.session_timeout)"},
  };
  for (const auto& c : cases) {
    Driver d;
    d.s.OnTimeout(c.kind);
    std::string out = d.Drain();
    EXPECT_EQ(out.substr(0, 9), "421 4.4.2") << out;
    EXPECT_NE(out.find(c.want), std::string::npos) << out;
    EXPECT_EQ(out.find("no input for too long"), std::string::npos) << out;
    EXPECT_TRUE(d.s.closed());
  }
}

// progress() and partial_input() let the I/O layer see that one command line is still arriving, so its
// timeout does not restart with every byte (slowloris).
TEST(ServerSession, ProgressCountsLinesNotBytes) {
  Driver d(Driver::Relay());
  const auto p0 = d.s.progress();
  EXPECT_FALSE(d.s.partial_input());
  for (char ch : std::string("EHLO c.test")) {
    d.Send(std::string(1, ch));
    EXPECT_EQ(d.s.progress(), p0) << "a byte of an unfinished line is no progress";
    EXPECT_TRUE(d.s.partial_input());
  }
  d.Send("\r\n");
  EXPECT_EQ(d.s.progress(), p0 + 1);
  EXPECT_FALSE(d.s.partial_input());
  d.Send("NOOP\r\nNO");  // a line pipelined behind a complete one
  EXPECT_EQ(d.s.progress(), p0 + 2);
  EXPECT_TRUE(d.s.partial_input());
  d.Send("OP\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
  const auto p1 = d.s.progress();
  d.Send("Subject: x\r\n\r\nbody\r\n");
  EXPECT_TRUE(d.s.in_data());
  d.Send(".\r\n");
  EXPECT_FALSE(d.s.in_data());
  EXPECT_GT(d.s.progress(), p1);
  // an over-long line being skipped is still one unfinished line
  const auto p2 = d.s.progress();
  d.Send(std::string(20000, 'x'));
  EXPECT_TRUE(d.s.partial_input());
  EXPECT_EQ(d.s.progress(), p2);
}

}  // namespace
}  // namespace kurier::smtp::proto
