// Table-driven tests of the RFC 5322 address-list parser and the header sender check.
#include "smtp/proto/header_from.hpp"

#include <gtest/gtest.h>

namespace kurier::smtp::proto {
namespace {

std::string Domains(const AddressList& l) {
  std::string s;
  for (const auto& a : l.addresses) s += (s.empty() ? "" : " ") + a.local + "@" + a.domain;
  return s;
}

TEST(ParseAddressList, Table) {
  struct Case {
    const char* value;
    const char* want;  // the addresses found, "local@domain" separated by spaces; "ERR" for an error
  } cases[] = {
      {"a@ok.test", "a@ok.test"},
      {"<a@ok.test>", "a@ok.test"},
      {"Alice <a@OK.Test>", "a@ok.test"},
      {"\"a@ok.test\" <x@evil.test>", "x@evil.test"},                // the display name is not the address
      {"x@evil.test (a@ok.test)", "x@evil.test"},                     // nor is a comment
      {"(a@ok.test) x@evil.test", "x@evil.test"},
      {"x@evil.test (a (nested (deeper)) @ok.test)", "x@evil.test"},  // nested comments
      {"\"Doe, John\" <j@ok.test>", "j@ok.test"},                     // a comma inside quotes
      {"\"Doe, John\" <j@ok.test>, x@evil.test", "j@ok.test x@evil.test"},
      {"a@ok.test, x@evil.test", "a@ok.test x@evil.test"},            // two addresses, one bad
      {"Team: a@ok.test, Bob <b@ok.test>;", "a@ok.test b@ok.test"},   // group (RFC 6854)
      {"Team: a@ok.test;, x@evil.test", "a@ok.test x@evil.test"},
      {"undisclosed-recipients:;", ""},                              // empty group: no mailbox
      {"=?utf-8?Q?a@ok.test?= <x@evil.test>", "x@evil.test"},        // encoded word as display name
      {"=?UTF-8?B?w6lsw6hu?= <e@ok.test>", "e@ok.test"},
      {"Alice\r\n <a@ok.test>", "a@ok.test"},                         // folded
      {"Alice\r\n\t<a@ok.test>,\r\n x@evil.test", "a@ok.test x@evil.test"},
      {"\"john doe\"@ok.test", "\"john doe\"@ok.test"},
      {"<@route.test,@r2.test:a@ok.test>", "a@ok.test"},              // obs-route
      {"a@[192.0.2.1]", "a@[192.0.2.1]"},
      {", a@ok.test,,", "a@ok.test"},                                 // obs empty list elements
      {"Mr. Smith <s@ok.test>", "s@ok.test"},                         // obs-phrase with '.'
      {"José <j@ok.test>", "j@ok.test"},                              // RFC 6532 UTF-8
      {"", ""},
      {"a@ok.test <x@evil.test>", "ERR"},                             // an addr-spec cannot have a display part after it
      {"a@ok.test@evil.test", "ERR"},
      {"Alice", "ERR"},
      {"<a@ok.test", "ERR"},
      {"\"unterminated <a@ok.test>", "ERR"},
      {"a@ok.test (unterminated", "ERR"},
      {"a@", "ERR"},
      {"a@ok..test", "ERR"},
      {"a@.ok.test", "ERR"},
      {"a@ok.test>", "ERR"},
      {"G: a@ok.test", "ERR"},                                        // group not closed
      {"G: H: a@ok.test;;", "ERR"},                                   // nested group
      {"<>", "ERR"},
      {"a@ok.test; x@evil.test", "ERR"},
      {"a@b\\c.test", "ERR"},
  };
  for (const auto& c : cases) {
    AddressList l = ParseAddressList(c.value);
    if (std::string(c.want) == "ERR") {
      EXPECT_FALSE(l.error.empty()) << c.value << " parsed as " << Domains(l);
    } else {
      EXPECT_EQ(l.error, "") << c.value;
      EXPECT_EQ(Domains(l), c.want) << c.value;
    }
  }
}

TEST(ParseAddressList, DisplayNameAndGroupAreKept) {
  AddressList l = ParseAddressList("Team: \"Doe, J\" <j@ok.test>;, Bob <b@ok.test>");
  ASSERT_EQ(l.error, "");
  ASSERT_EQ(l.addresses.size(), 2u);
  EXPECT_EQ(l.addresses[0].display, "Doe, J");
  EXPECT_EQ(l.addresses[0].group, "Team");
  EXPECT_EQ(l.addresses[1].display, "Bob");
  EXPECT_EQ(l.addresses[1].group, "");
  EXPECT_EQ(l.groups, 1u);
}

TEST(ParseAddressList, DeepCommentsDoNotRecurse) {
  std::string v = "a@ok.test " + std::string(100000, '(') + std::string(100000, ')');
  EXPECT_EQ(Domains(ParseAddressList(v)), "a@ok.test");
}

TEST(CheckHeaderSenders, Table) {
  SenderRules rules{"acme", {"ok.test", "Also.Test"}, true, {}};
  using V = HeaderSenderCheck::Verdict;
  struct Case {
    const char* message;
    V want;
    const char* field;
    const char* needle;  // in the reason
  } cases[] = {
      {"From: a@ok.test\r\n\r\nbody\r\n", V::kOk, "", ""},
      {"from : Alice <a@also.test>\r\nSender: s@ok.test\r\n\r\n", V::kOk, "", ""},
      {"From: Team: a@ok.test, b@also.test;\r\n\r\n", V::kOk, "", ""},
      {"Subject: x\r\n\r\nFrom: a@ok.test\r\n", V::kMalformed, "From", "no From: header field"},  // body is not header
      {"From: a@ok.test\r\nFROM: b@ok.test\r\n\r\n", V::kMalformed, "From", "2 From: header fields"},
      {"From: a@ok.test\r\nSender: a@ok.test\r\nSender: b@ok.test\r\n\r\n", V::kMalformed, "Sender", "2 Sender:"},
      {"From: Alice\r\n\r\n", V::kMalformed, "From", "not an RFC 5322 address list"},
      {"From: undisclosed:;\r\n\r\n", V::kMalformed, "From", "names no mailbox"},
      {"From: a@ok.test\r\nSender: a@ok.test, b@ok.test\r\n\r\n", V::kMalformed, "Sender", "exactly one mailbox"},
      {"From: \"PayPal\" <service@paypal.test>\r\n\r\n", V::kNotAllowed, "From", "paypal.test"},
      {"From: \"a@ok.test\" <x@evil.test>\r\n\r\n", V::kNotAllowed, "From", "evil.test"},
      {"From: x@evil.test (a@ok.test)\r\n\r\n", V::kNotAllowed, "From", "evil.test"},
      {"From: a@ok.test, x@evil.test\r\n\r\n", V::kNotAllowed, "From", "kurier account add-domain acme evil.test"},
      {"From: G: a@ok.test, x@evil.test;\r\n\r\n", V::kNotAllowed, "From", "evil.test"},
      {"From: Alice\r\n <a@ok.test>,\r\n\tx@evil.test\r\n\r\n", V::kNotAllowed, "From", "evil.test"},  // folded
      {"From: me@ok.test\r\nSender: ceo@bank.test\r\n\r\n", V::kNotAllowed, "Sender", "bank.test"},
      {"From: me@ok.test\nSender: ceo@bank.test\n\n", V::kNotAllowed, "Sender", "bank.test"},  // LF only
  };
  for (const auto& c : cases) {
    HeaderSenderCheck r = CheckHeaderSenders(c.message, rules);
    EXPECT_EQ(r.verdict, c.want) << c.message << " -> " << r.reason;
    EXPECT_EQ(r.field, c.field) << c.message;
    EXPECT_NE(r.reason.find(c.needle), std::string::npos) << c.message << " -> " << r.reason;
  }
}

TEST(CheckHeaderSenders, OutsideSandboxTheDomainMustBeVerified) {
  SenderRules rules{"acme", {"ok.test", "new.test"}, false, {"ok.test"}};
  EXPECT_EQ(CheckHeaderSenders("From: a@ok.test\r\n\r\n", rules).verdict, HeaderSenderCheck::Verdict::kOk);
  auto r = CheckHeaderSenders("From: a@new.test\r\n\r\n", rules);
  EXPECT_EQ(r.verdict, HeaderSenderCheck::Verdict::kNotAllowed);
  EXPECT_NE(r.reason.find("kurier domain check new.test"), std::string::npos) << r.reason;
}

}  // namespace
}  // namespace kurier::smtp::proto
