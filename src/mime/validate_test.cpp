// Tests of the MIME builder's validation (mime/build.hpp): addresses, display names, custom header
// fields, and the JSON pointers of a spec's problems.
#include <gtest/gtest.h>

#include "common/encoding.hpp"
#include "mime/build.hpp"
#include "mime/build_test_reader.hpp"

namespace kurier::mime {
namespace {

using namespace test;

// ---- validation --------------------------------------------------------------------------------------

TEST(MimeValidate, Addresses) {
  struct Row {
    std::string email;
    bool ok;
  } rows[] = {
      {"user@example.com", true},
      {"first.last+tag@sub.example.co.uk", true},
      {"\"john doe\"@example.com", true},
      {"user@[192.0.2.1]", true},
      {"", false},
      {"user", false},
      {"@example.com", false},
      {"user@", false},
      {"us er@example.com", false},
      {"user@example.com\r\nBcc: victim@example.org", false},
      {"user@example.com\n", false},
      {std::string("user\0@example.com", 17), false},
      {"usér@example.com", false},
      {"user@exämple.com", false},
      {"user@exa_mple.com", false},
      {"user@-example.com", false},
      {".user@example.com", false},
      {"user..x@example.com", false},
      {"<user@example.com>", false},
      {"Name <user@example.com>", false},
      {std::string(64, 'a') + "@" + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd'), false},
  };
  for (const auto& r : rows) {
    auto problem = ValidateAddress(r.email);
    EXPECT_EQ(!problem.has_value(), r.ok) << r.email << ": " << problem.value_or("");
  }
  EXPECT_NE(ValidateAddress("usér@example.com")->find("xn--"), std::string::npos) << "says what to do";
}

// "jane@example.com" or "Jane <jane@example.com>", as API clients write an address (send and
// suppression routes alike).
TEST(MimeValidate, AddressTextTakesAnAddrSpecOrOneNameAddr) {
  struct Row {
    std::string text;
    bool ok;
    std::string email, name;
  } rows[] = {
      {"jane@example.com", true, "jane@example.com", ""},
      {"not an address", true, "not an address", ""},  // taken as it is: ValidateAddress refuses it
      {"Jane <jane@Example.COM>", true, "jane@example.com", "Jane"},
      {"\"Doe, John\" <john@example.com>", true, "john@example.com", "Doe, John"},
      {"=?utf-8?q?Zo=C3=AB?= <zoe@example.com>", true, "zoe@example.com", "Zo\xc3\xab"},
      {"<bare@example.com>", true, "bare@example.com", ""},
      {"a <a@example.com>, b <b@example.com>", false, "", ""},
      {"Team: a <a@example.com>;", false, "", ""},
      {"Jane <jane@", false, "", ""},
  };
  for (const auto& r : rows) {
    std::string why;
    auto a = ParseAddressText(r.text, why);
    ASSERT_EQ(a.has_value(), r.ok) << r.text << ": " << why;
    if (!a) continue;
    EXPECT_EQ(a->email, r.email) << r.text;
    EXPECT_EQ(a->name, r.name) << r.text;
  }
}

TEST(MimeValidate, DisplayNames) {
  EXPECT_FALSE(ValidateDisplayName(kPolish));
  EXPECT_FALSE(ValidateDisplayName("Ada \"AL\" <Lovelace>, Jr."));
  EXPECT_TRUE(ValidateDisplayName("Ada\r\nBcc: x@y.z"));
  EXPECT_TRUE(ValidateDisplayName("Ada\n"));
  EXPECT_TRUE(ValidateDisplayName(std::string("A\0da", 4)));
  EXPECT_TRUE(ValidateDisplayName("A\tda"));
  EXPECT_TRUE(ValidateDisplayName("\xff\xfe"));
  EXPECT_TRUE(ValidateDisplayName("\xc3"));        // truncated sequence
  EXPECT_TRUE(ValidateDisplayName("\xc0\xaf"));    // overlong '/'
  EXPECT_TRUE(ValidateDisplayName("\xed\xa0\x80"));  // surrogate
  EXPECT_TRUE(ValidateDisplayName(std::string(kMaxNameBytes + 1, 'a')));
}

TEST(MimeValidate, CustomHeaders) {
  struct Row {
    std::string name, value;
    const char* want;  // nullptr: accepted; otherwise a part of the problem text
  } rows[] = {
      {"X-Campaign", "spring", nullptr},
      {"List-Unsubscribe", "<https://example.com/u>, <mailto:u@example.com>", nullptr},
      {"X-Tab", "a\tb", nullptr},
      {"X-Utf8", kPolish, nullptr},
      {"X-Empty", "", nullptr},
      {"X-Slash/Tilde~", "ok", nullptr},
      {"X Bad", "v", "ftext"},
      {"X:Bad", "v", "ftext"},
      {"", "v", "empty"},
      {"X-Ünï", "v", "ftext"},
      {"X-\x01", "v", "ftext"},
      {std::string(77, 'X'), "v", "longer than 76"},
      {"Subject", "x", "cannot be given"},
      {"subject", "x", "cannot be given"},
      {"FROM", "x", "cannot be given"},
      {"To", "x", "cannot be given"},
      {"Cc", "x", "cannot be given"},
      {"bcc", "x", "cannot be given"},
      {"Date", "x", "cannot be given"},
      {"Message-Id", "x", "cannot be given"},
      {"Mime-Version", "x", "cannot be given"},
      {"CONTENT-TYPE", "x", "cannot be given"},
      {"Content-Transfer-Encoding", "x", "cannot be given"},
      {"content-disposition", "x", "cannot be given"},
      {"Content-ID", "x", "cannot be given"},
      {"Return-Path", "x", "cannot be given"},
      {"Received", "x", "cannot be given"},
      {"Dkim-Signature", "x", "cannot be given"},
      {"Reply-To", "x", "cannot be given"},
      {"Sender", "x", "cannot be given"},
      {"Authentication-Results", "x", "cannot be given"},
      {"ARC-Seal", "x", "cannot be given"},
      {"X-Inject", "a\r\nBcc: victim@example.org", "line break"},
      {"X-Inject", "a\nb", "line break"},
      {"X-Inject", "a\rb", "line break"},
      {"X-Inject", std::string("a\0b", 3), "NUL"},
      {"X-Inject", "a\x01" "b", "control"},
      {"X-Inject", "a\x7f", "control"},
      {"X-Bad", "\xff", "UTF-8"},
      {"X-Run", std::string(1000, 'r'), "998"},
      {"X-Huge", std::string(5000, 'r'), "longer than"},
  };
  for (const auto& r : rows) {
    auto problem = ValidateCustomHeader(r.name, r.value);
    if (!r.want) {
      EXPECT_FALSE(problem) << r.name << ": " << problem.value_or("");
    } else {
      ASSERT_TRUE(problem) << r.name << ": " << r.value;
      EXPECT_NE(problem->find(r.want), std::string::npos) << *problem;
    }
  }
  EXPECT_TRUE(IsReservedHeader("content-language"));
  EXPECT_FALSE(IsReservedHeader("X-Content-Type"));
  EXPECT_FALSE(IsReservedHeader("List-Id"));
}

TEST(MimeValidate, SpecProblemsNameTheField) {
  struct Row {
    const char* what;
    void (*change)(MessageSpec&);
    const char* pointer;
  } rows[] = {
      {"bad from", [](MessageSpec& s) { s.from.email = "nobody"; }, "/from/email"},
      {"from name LF", [](MessageSpec& s) { s.from.name = "A\nB"; }, "/from/name"},
      {"bad second to", [](MessageSpec& s) { s.to.push_back({"x@@y", ""}); }, "/to/1/email"},
      {"cc name CR", [](MessageSpec& s) { s.cc = {{"c@example.com", "C\rD"}}; }, "/cc/0/name"},
      {"bad bcc", [](MessageSpec& s) { s.bcc = {{"b c@example.com", ""}}; }, "/bcc/0/email"},
      {"bad reply_to", [](MessageSpec& s) { s.reply_to = {{"", ""}}; }, "/reply_to/0/email"},
      {"no recipients", [](MessageSpec& s) { s.to.clear(); }, "/to"},
      {"subject CRLF", [](MessageSpec& s) { s.subject = "Hi\r\nBcc: victim@example.org"; }, "/subject"},
      {"subject NUL", [](MessageSpec& s) { s.subject = std::string("a\0b", 3); }, "/subject"},
      {"subject too long", [](MessageSpec& s) { s.subject = std::string(kMaxSubjectBytes + 1, 's'); }, "/subject"},
      {"text not UTF-8", [](MessageSpec& s) { s.text = "\xff"; }, "/text"},
      {"html not UTF-8", [](MessageSpec& s) { s.html = "<p>\xc3</p>"; }, "/html"},
      {"empty", [](MessageSpec& s) { s.text.clear(); }, "/text"},
      {"reserved header", [](MessageSpec& s) { s.headers = {{"Bcc", "x@example.org"}}; }, "/headers/Bcc"},
      {"header pointer escaped", [](MessageSpec& s) { s.headers = {{"X/Y~Z", "a\nb"}}; }, "/headers/X~1Y~0Z"},
      {"no filename", [](MessageSpec& s) { s.attachments = {{"", "", "x", ""}}; }, "/attachments/0/filename"},
      {"filename CRLF", [](MessageSpec& s) { s.attachments = {{"a\r\n.pdf", "", "x", ""}}; }, "/attachments/0/filename"},
      {"filename NUL", [](MessageSpec& s) { s.attachments = {{std::string("a\0.pdf", 6), "", "x", ""}}; }, "/attachments/0/filename"},
      {"filename too long", [](MessageSpec& s) { s.attachments = {{std::string(256, 'f'), "", "x", ""}}; }, "/attachments/0/filename"},
      {"bad type", [](MessageSpec& s) { s.attachments = {{"a", "pdf", "x", ""}}; }, "/attachments/0/content_type"},
      {"type injection", [](MessageSpec& s) { s.attachments = {{"a", "text/plain\r\nX: y", "x", ""}}; }, "/attachments/0/content_type"},
      {"multipart type", [](MessageSpec& s) { s.attachments = {{"a", "multipart/mixed", "x", ""}}; }, "/attachments/0/content_type"},
      {"message type", [](MessageSpec& s) { s.attachments = {{"a.eml", "message/rfc822", "x", ""}}; }, "/attachments/0/content_type"},
      {"name param", [](MessageSpec& s) { s.attachments = {{"a", "text/plain; name=x", "x", ""}}; }, "/attachments/0/content_type"},
      {"bad content_id", [](MessageSpec& s) { s.attachments = {{"a.png", "", "x", "lo go"}}; }, "/attachments/0/content_id"},
      {"duplicate content_id",
       [](MessageSpec& s) { s.attachments = {{"a.png", "", "x", "logo"}, {"b.png", "", "x", "<logo>"}}; },
       "/attachments/1/content_id"},
      {"bad message_id", [](MessageSpec& s) { s.message_id = "no-at-sign"; }, "/message_id"},
      {"message_id space", [](MessageSpec& s) { s.message_id = "a b@c"; }, "/message_id"},
      {"bad id domain", [](MessageSpec& s) { s.message_id_domain = "bad domain"; }, "/message_id_domain"},
      {"date", [](MessageSpec& s) { s.date = 300000000000; }, "/date"},
  };
  for (const auto& r : rows) {
    MessageSpec s = Simple();
    r.change(s);
    auto problems = ValidateMessageSpec(s);
    ASSERT_EQ(problems.size(), 1u) << r.what << (problems.empty() ? "" : ": " + problems[0].pointer + " " + problems[0].detail);
    EXPECT_EQ(problems[0].pointer, r.pointer) << r.what << ": " << problems[0].detail;
    auto built = BuildMessage(s);
    ASSERT_FALSE(built.ok()) << r.what;
    EXPECT_EQ(built.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(built.error().message.find(r.pointer), std::string::npos) << built.error().message;
  }
  EXPECT_TRUE(ValidateMessageSpec(Simple()).empty());
}

}  // namespace
}  // namespace kurier::mime
