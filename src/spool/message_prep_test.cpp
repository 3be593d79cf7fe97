#include "spool/message_prep.hpp"

#include <gtest/gtest.h>

namespace kurier::spool {
namespace {

TraceInfo Trace() {
  TraceInfo t;
  t.helo = "client.test";
  t.client_ip = "127.0.0.1";
  t.hostname = "mx.test";
  t.queue_id = "abc123";
  t.tls = true;
  t.authenticated = true;
  t.tls_version = "TLSv1.3";
  t.tls_cipher = "TLS_AES_256_GCM_SHA384";
  t.recipients = {"b@x.test"};
  t.time = 1'700'000'000'000'000;
  return t;
}

TEST(MessagePrep, AddsMissingHeadersKeepsBody) {
  struct Row {
    std::string in;
    bool want_msgid_added, want_date_added;
  } rows[] = {
      {"Subject: a\r\n\r\nbody\r\n", true, true},
      {"Message-ID: <x@y>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n", false, false},
      {"message-id : <x@y>\r\n\r\nbody\r\n", false, true},
      {"Subject: a\r\n X-Message-ID: folded\r\n\r\nMessage-ID: in body\r\n", true, true},
      {"\r\nno headers at all\r\n", true, true},
  };
  for (const auto& r : rows) {
    std::string out = PrepareMessage(r.in, Trace());
    EXPECT_EQ(out.rfind("Received: from client.test ([127.0.0.1])\r\n\tby mx.test (kurier) with ESMTPSA id abc123", 0), 0u) << out;
    EXPECT_EQ(out.find("Message-ID: <abc123@mx.test>") != std::string::npos, r.want_msgid_added) << r.in;
    EXPECT_EQ(out.find("\r\nDate: ") != std::string::npos || out.find("Date: Tue") != std::string::npos,
              r.want_date_added || r.in.find("Date:") != std::string::npos) << r.in;
    // the body is untouched: the original message's body is a suffix of the result
    auto body_at = r.in.find("\r\n\r\n");
    std::string body = body_at == std::string::npos ? r.in.substr(2) : r.in.substr(body_at + 4);
    EXPECT_EQ(out.substr(out.size() - body.size()), body) << r.in;
  }
}

TEST(MessagePrep, ReceivedProtocolNames) {
  TraceInfo t = Trace();
  t.tls = false;
  t.authenticated = false;
  EXPECT_NE(ReceivedHeader(t).find("with ESMTP id"), std::string::npos);
  t.smtputf8 = true;
  t.tls = true;
  t.authenticated = true;
  EXPECT_NE(ReceivedHeader(t).find("with UTF8SMTPSA id"), std::string::npos);
}

}  // namespace
}  // namespace kurier::spool
