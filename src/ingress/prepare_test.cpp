#include "ingress/prepare.hpp"
#include "mime/header_fields.hpp"

#include <gtest/gtest.h>

namespace kurier::ingress {
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

TEST(SubmissionOptions, ReadsTheFieldsAndRefusesWhatCannotBeUsed) {
  struct Row {
    const char* header;
    const char* tags;
    const char* metadata;
    std::optional<bool> opens, clicks, unsubscribe;
    const char* error;  // a part of the error, "" when none
  };
  const Row rows[] = {
      {"Subject: a\r\n", "[]", "{}", {}, {}, {}, ""},
      {"X-Kurier-Tag: news, spring\r\nx-kurier-tag:  vip \r\n", R"(["news","spring","vip"])", "{}", {}, {}, {}, ""},
      {"X-Kurier-Tag: a,, b ,\r\n", R"(["a","b"])", "{}", {}, {}, {}, ""},
      {"X-Kurier-Metadata: {\"order\": \"42\",\r\n  \"n\": 7}\r\n", "[]", R"({"order":"42","n":7})", {}, {}, {}, ""},
      {"X-Kurier-Track-Opens: yes\r\nX-Kurier-Track-Clicks: No\r\nX-Kurier-List-Unsubscribe: true\r\n", "[]", "{}", true,
       false, true, ""},
      {"X-Kurier-Track-Clicks: maybe\r\n", "[]", "{}", {}, {}, {}, "X-Kurier-Track-Clicks must be yes or no"},
      {"X-Kurier-Metadata: [1, 2]\r\n", "[]", "{}", {}, {}, {}, "is not a JSON object"},
      {"X-Kurier-Metadata: {}\r\nX-Kurier-Metadata: {}\r\n", "[]", "{}", {}, {}, {}, "appears twice"},
      {"X-Kurier-Tag: 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21\r\n", "[]", "{}", {}, {}, {}, "more than 20"},
      // Text that is not UTF-8 cannot become a JSON string (it once ended the server in the committer).
      {"X-Kurier-Tag: \xe0\x91\x9a\x88\r\n", "[]", "{}", {}, {}, {}, "X-Kurier-Tag is not valid UTF-8"},
      {"X-Kurier-Tag: ok, \xc0\xaf\r\n", "[]", "{}", {}, {}, {}, "is not valid UTF-8"},
      {"X-Kurier-Metadata: {\"a\": \"\xff\"}\r\n", "[]", "{}", {}, {}, {}, "X-Kurier-Metadata is not valid UTF-8"},
      {"X-Kurier-Tag: za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87\r\n", "[\"za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87\"]", "{}", {}, {}, {}, ""},
      // Another X-Kurier-* field (a DSN's X-Kurier-Queue-ID) is not an option.
      {"X-Kurier-Queue-ID: Q1\r\n", "[]", "{}", {}, {}, {}, ""},
  };
  for (const auto& r : rows) {
    const std::string message = std::string(r.header) + "\r\nX-Kurier-Tag: in the body\r\n";
    auto o = ReadSubmissionOptions(message);
    EXPECT_NE(o.error.find(r.error), std::string::npos) << r.header << " -> " << o.error;
    if (*r.error) continue;
    EXPECT_TRUE(o.error.empty()) << r.header << " -> " << o.error;
    EXPECT_EQ(o.tags, r.tags) << r.header;
    EXPECT_EQ(o.metadata, r.metadata) << r.header;
    EXPECT_EQ(o.track_opens, r.opens) << r.header;
    EXPECT_EQ(o.track_clicks, r.clicks) << r.header;
    EXPECT_EQ(o.list_unsubscribe, r.unsubscribe) << r.header;
  }
  std::string long_tag = "X-Kurier-Tag: " + std::string(129, 'a') + "\r\n\r\n";
  EXPECT_NE(ReadSubmissionOptions(long_tag).error.find("longer than 128"), std::string::npos);
}

TEST(SubmissionOptions, PresentOnlyWhenTheHeaderHasAField) {
  auto o = ReadSubmissionOptions("X-Kurier-Track-Opens: yes\r\nSubject: s\r\n\r\nbody\r\n");
  EXPECT_TRUE(o.error.empty() && o.present) << o.error;
  EXPECT_EQ(o.track_opens, std::optional<bool>(true));
  EXPECT_EQ(o.track_clicks, std::nullopt);
  EXPECT_FALSE(ReadSubmissionOptions("Subject: s\r\n\r\nX-Kurier-Tag: body\r\n").present);
}

TEST(SubmissionOptions, RemovesOnlyTheOptionFieldsWithTheirFoldedLines) {
  const std::string in =
      "Received: x\r\nX-Kurier-Tag: a,\r\n b\r\nSubject: s\r\nX-Kurier-Metadata: {}\r\nX-Kurier-Queue-ID: q\r\n"
      "x-kurier-track-opens: no\r\n\r\nX-Kurier-Tag: body line\r\n";
  EXPECT_EQ(RemoveSubmissionOptionFields(in),
            "Received: x\r\nSubject: s\r\nX-Kurier-Queue-ID: q\r\n\r\nX-Kurier-Tag: body line\r\n");
  const std::string none = "Subject: s\r\n\r\nbody\r\n";
  EXPECT_EQ(RemoveSubmissionOptionFields(none), none);
}

}  // namespace
}  // namespace kurier::ingress
