#include "mime/parse.hpp"

#include <gtest/gtest.h>

#include "common/test_text.hpp"

#include <random>

namespace kurier::mime {
namespace {

using kurier::test_text::Crlf;

TEST(MimeParseHeaders, UnfoldsAndLooksUpIgnoringCase) {
  struct Case {
    std::string block;
    std::string name;
    std::string want;
  };
  const Case cases[] = {
      {"Subject: hello\n", "subject", "hello"},
      {"Subject: hello\n world\n", "Subject", "hello world"},
      {"Subject: hello\n\tworld\n", "SUBJECT", "hello\tworld"},
      {"X-A: 1\nX-B:2\n", "x-b", "2"},
      {"X-A :  spaced  \n", "X-A", "spaced"},
      {"From MAILER-DAEMON Thu Apr 29 23:34:45 2015\nTo: a@b.example\n", "To", "a@b.example"},
      {"Received: from a\n by b\n for <c@d.example>;\n\tThu, 29 Apr 2015\n", "received",
       "from a by b for <c@d.example>;\tThu, 29 Apr 2015"},
  };
  for (const Case& c : cases) {
    for (const std::string& block : {c.block, Crlf(c.block)}) {
      Headers h = ParseHeaders(block);
      ASSERT_TRUE(h.Get(c.name).has_value()) << c.block;
      EXPECT_EQ(*h.Get(c.name), c.want) << c.block;
    }
  }
  Headers h = ParseHeaders("Received: a\nReceived: b\nreceived: c\n");
  EXPECT_EQ(h.GetAll("RECEIVED"), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_FALSE(h.Get("To").has_value());
}

TEST(MimeParseHeaders, SplitsHeaderFromBodyWithEitherLineEnd) {
  for (std::string raw : {std::string("A: 1\nB: 2\n\nbody\nmore\n"), Crlf("A: 1\nB: 2\n\nbody\nmore\n")}) {
    auto [head, body] = SplitHeaderBody(raw);
    EXPECT_EQ(ParseHeaders(head).fields().size(), 2u);
    EXPECT_EQ(body.substr(0, 4), "body");
  }
  auto [head, body] = SplitHeaderBody("A: 1\nB: 2\n");
  EXPECT_EQ(head, "A: 1\nB: 2\n");
  EXPECT_TRUE(body.empty());
}

TEST(MimeParseContentType, ParsesTypeAndParameters) {
  struct Case {
    std::string value;
    std::string mime_type;
    std::string param;
    std::string want;
  };
  const Case cases[] = {
      {"text/plain; charset=us-ascii", "text/plain", "charset", "us-ascii"},
      {"Multipart/Report; report-type=delivery-status;\n\tboundary=\"=_abc; def\"", "multipart/report", "boundary",
       "=_abc; def"},
      {"multipart/mixed; BOUNDARY=\"Boundary_(ID_000)\"", "multipart/mixed", "boundary", "Boundary_(ID_000)"},
      {"text/plain (comment); charset=\"utf-8\" (another)", "text/plain", "charset", "utf-8"},
      {"application/x-stuff; title*0*=us-ascii'en'This%20is%20; title*1=\"a title\"", "application/x-stuff", "title",
       "This is a title"},
      {"text/plain; name*=utf-8''%E2%9C%93.txt", "text/plain", "name", "\xE2\x9C\x93.txt"},
      {"", "text/plain", "charset", ""},
      {"garbage", "text/plain", "charset", ""},
      {"/;;;=", "text/plain", "x", ""},
  };
  for (const Case& c : cases) {
    ContentType ct = ParseContentType(c.value);
    EXPECT_EQ(ct.MimeType(), c.mime_type) << c.value;
    EXPECT_EQ(ct.Param(c.param), c.want) << c.value;
  }
}

TEST(MimeParseDecode, TransferEncodings) {
  struct Case {
    std::string encoding;
    std::string in;
    std::string want;
  };
  const Case cases[] = {
      {"base64", "aGVsbG8gd29ybGQ=", "hello world"},
      {"BASE64", "aGVs\r\nbG8g\nd29y bGQ=", "hello world"},
      {"base64", "aGVsbG8*!gd29ybGQ", "hello world"},
      {"quoted-printable", "caf=C3=A9 =3D ok", "caf\xC3\xA9 = ok"},
      {"quoted-printable", "soft=\r\nbreak and=\nlf", "softbreak andlf"},
      {"quoted-printable", "bad =ZZ escape=", "bad =ZZ escape"},
      {"7bit", "as =3D is", "as =3D is"},
      {"", "plain", "plain"},
  };
  for (const Case& c : cases) EXPECT_EQ(DecodeTransferEncoding(c.in, c.encoding), c.want) << c.in;
}

TEST(MimeParseDecode, EncodedWords) {
  struct Case {
    std::string in;
    std::string want;
  };
  const Case cases[] = {
      {"=?utf-8?B?44OG44K544OI?=", "\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"},
      {"=?ISO-8859-1?Q?Caf=E9_au_lait?=", "Caf\xC3\xA9 au lait"},
      {"=?iso-8859-15?Q?Delivery_Status_Notification_=28Failure=29?=", "Delivery Status Notification (Failure)"},
      {"Re: =?utf-8?q?a?= =?utf-8?q?b?= end", "Re: ab end"},
      {"=?us-ascii?Q?plain?=", "plain"},
      // A multi-byte character split across two words still decodes.
      {"=?utf-8?B?5pel?= =?utf-8?B?5pys?=", "\xE6\x97\xA5\xE6\x9C\xAC"},
      {"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"},
      {"=?x-unknown-charset?Q?abc?= tail", "=?x-unknown-charset?Q?abc?= tail"},
      {"no words here", "no words here"},
      {"=?broken", "=?broken"},
  };
  for (const Case& c : cases) EXPECT_EQ(DecodeEncodedWords(c.in), c.want) << c.in;
}

const char* kReport =
    "From: MAILER-DAEMON@example.net\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"OUTER\"\n"
    "\n"
    "preamble\n"
    "--OUTER\n"
    "Content-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Caf=E9\n"
    "--OUTER\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Final-Recipient: rfc822; a@example.org\n"
    "--OUTER\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: inner\n"
    "Content-Type: multipart/alternative; boundary=INNER\n"
    "\n"
    "--INNER\n"
    "Content-Type: text/plain\n"
    "\n"
    "one\n"
    "--INNER\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>two</p>\n"
    "--INNER--\n"
    "--OUTER--\n"
    "epilogue\n";

TEST(MimeParse, NestedMultipartAndMessage) {
  for (std::string raw : {std::string(kReport), Crlf(kReport)}) {
    Entity e = Parse(raw);
    ASSERT_TRUE(e.IsMultipart());
    ASSERT_EQ(e.parts.size(), 3u);
    EXPECT_EQ(e.parts[0].body, "Caf\xE9");
    EXPECT_EQ(e.parts[0].charset(), "iso-8859-1");
    EXPECT_EQ(ToUtf8(e.parts[0].body, e.parts[0].charset()).value_or(""), "Caf\xC3\xA9");
    EXPECT_EQ(e.parts[1].content_type.MimeType(), "message/delivery-status");
    EXPECT_EQ(e.parts[1].body.substr(0, 16), "Final-Recipient:");
    ASSERT_EQ(e.parts[2].parts.size(), 1u) << "message/rfc822 holds the enclosed message";
    const Entity& inner = e.parts[2].parts[0];
    EXPECT_EQ(inner.headers.Get("Subject").value_or(""), "inner");
    ASSERT_EQ(inner.parts.size(), 2u);
    EXPECT_EQ(inner.parts[1].body, "<p>two</p>");
    EXPECT_EQ(Flatten(e).size(), 7u);
  }
}

TEST(MimeParse, ToleratesMissingCloseAndMissingBoundaryParameter) {
  Entity e = Parse("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\n\nsecond, never closed\n");
  ASSERT_EQ(e.parts.size(), 2u);
  EXPECT_EQ(e.parts[1].body, "second, never closed\n");

  Entity guessed = Parse("Content-Type: multipart/report;\n\n--2015x\n\nfirst\n--2015x\n\nsecond\n--2015x--\n");
  ASSERT_EQ(guessed.parts.size(), 2u) << "the boundary is taken from the body when the parameter is missing";
  EXPECT_EQ(guessed.parts[0].body, "first");

  Entity absent = Parse("Content-Type: multipart/report; boundary=nowhere\n\nplain text after all\n");
  EXPECT_TRUE(absent.parts.empty());
  EXPECT_EQ(absent.body, "plain text after all\n") << "an unsplittable multipart stays readable as text";
}

TEST(MimeParse, Base64EncodedEnclosedMessage) {
  // RFC 2046 forbids it, but some systems base64-encode message/rfc822.
  Entity e = Parse(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n"
      "Content-Transfer-Encoding: base64\n\nU3ViamVjdDogaGkKCmJvZHkK\n--b--\n");
  ASSERT_EQ(e.parts.size(), 1u);
  ASSERT_EQ(e.parts[0].parts.size(), 1u);
  EXPECT_EQ(e.parts[0].parts[0].headers.Get("Subject").value_or(""), "hi");
}

TEST(MimeParse, LimitsDepthAndParts) {
  // 50 nested multiparts: the reader stops descending at max_depth and keeps the rest as a leaf.
  std::string raw;
  for (int i = 0; i < 50; ++i) raw += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
  raw += "\ninnermost\n";
  Limits limits;
  Entity e = Parse(raw, limits);
  int depth = 0;
  for (const Entity* p = &e; !p->parts.empty(); p = &p->parts.front()) ++depth;
  EXPECT_LE(depth, limits.max_depth);

  std::string many = "Content-Type: multipart/mixed; boundary=x\n\n";
  for (int i = 0; i < 2000; ++i) many += "--x\n\npart\n";
  many += "--x--\n";
  EXPECT_LE(Flatten(Parse(many)).size(), limits.max_parts);

  std::string big(limits.max_input + 1000, 'a');
  Entity b = Parse("Subject: big\n\n" + big);
  EXPECT_LE(b.body.size(), limits.max_input);
}

TEST(MimeParse, SurvivesGarbage) {
  std::mt19937 rng(42);
  const std::string alphabet = "ab=?:;\"-\r\n \t<>@/Content-Type:multipart/mixed;boundary=--";
  for (int round = 0; round < 300; ++round) {
    std::string s;
    std::size_t n = rng() % 2000;
    for (std::size_t i = 0; i < n; ++i)
      s += (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    Entity e = Parse(s);
    for (const Entity* p : Flatten(e)) (void)p->charset();
    (void)DecodeEncodedWords(s);
    (void)DecodeQuotedPrintable(s);
    (void)DecodeBase64(s);
  }
}

}  // namespace
}  // namespace kurier::mime
