#include "smtp/proto/command_parser.hpp"

#include <gtest/gtest.h>

namespace kurier::smtp::proto {
namespace {

TEST(CommandParser, Verbs) {
  struct Row {
    const char* line;
    Verb verb;
    const char* args;
  } rows[] = {
      {"EHLO client.test", Verb::kEhlo, "client.test"}, {"ehlo x", Verb::kEhlo, "x"},
      {"MAIL FROM:<a@b>", Verb::kMail, "FROM:<a@b>"},   {"QUIT", Verb::kQuit, ""},
      {"StartTLS", Verb::kStartTls, ""},                {"BDAT 10 LAST", Verb::kBdat, "10 LAST"},
      {"XYZZY 1", Verb::kUnknown, "1"},                 {"", Verb::kUnknown, ""},
  };
  for (const auto& r : rows) {
    Command c = ParseCommand(r.line);
    EXPECT_EQ(c.verb, r.verb) << r.line;
    EXPECT_EQ(c.args, r.args) << r.line;
  }
}

TEST(CommandParser, Paths) {
  struct Row {
    const char* args;
    const char* keyword;
    bool ok;
    const char* mailbox;
    size_t params;
  } rows[] = {
      {"FROM:<a@b.test>", "FROM:", true, "a@b.test", 0},
      {"FROM: <a@b.test>", "FROM:", true, "a@b.test", 0},
      {"from:<a@b.test> SIZE=100 BODY=8BITMIME", "FROM:", true, "a@b.test", 2},
      {"FROM:<>", "FROM:", true, "", 0},
      {"TO:<>", "TO:", false, "", 0},
      {"TO:<Postmaster>", "TO:", true, "Postmaster", 0},
      {"TO:<@relay.test:u@d.test>", "TO:", true, "u@d.test", 0},
      {"TO:<\"john doe\"@d.test>", "TO:", true, "\"john doe\"@d.test", 0},
      {"TO:<\"a@b\"@d.test>", "TO:", true, "\"a@b\"@d.test", 0},
      {"TO:<u@[127.0.0.1]>", "TO:", true, "u@[127.0.0.1]", 0},
      {"TO:<u@[IPv6:::1]>", "TO:", true, "u@[IPv6:::1]", 0},
      {"TO:<j\xc3\xb6rg@b\xc3\xbc" "cher.test>", "TO:", true, "j\xc3\xb6rg@b\xc3\xbc" "cher.test", 0},
      {"TO:a@b.test", "TO:", false, "", 0},
      {"TO:<a@b.test", "TO:", false, "", 0},
      {"TO:<a.@b.test>", "TO:", false, "", 0},
      {"TO:<a..b@b.test>", "TO:", false, "", 0},
      {"TO:<a@-b.test>", "TO:", false, "", 0},
      {"TO:<a@b..test>", "TO:", false, "", 0},
      {"TO:<victim@ext.test@[127.0.0.1]>", "TO:", false, "", 0},
      {"TO:<\"victim@ext.test\">", "TO:", false, "", 0},
      {"TO:<ext.test!victim>", "TO:", false, "", 0},
      {"TO:<a@b.test> X=1 X=2", "TO:", false, "", 0},
      {"TO:<a@b.test>junk", "TO:", false, "", 0},
      {"TO:<a@[300.1.1.1]>", "TO:", false, "", 0},
      {"FROM:<a@b.test>", "TO:", false, "", 0},
  };
  for (const auto& r : rows) {
    std::string err;
    auto p = ParsePathArgument(r.args, r.keyword, std::string_view(r.keyword) == "FROM:", err);
    EXPECT_EQ(p.has_value(), r.ok) << r.args << " " << err;
    if (p && r.ok) {
      EXPECT_EQ(p->mailbox.ToString(), r.mailbox) << r.args;
      EXPECT_EQ(p->params.size(), r.params) << r.args;
    }
    if (!p) EXPECT_FALSE(err.empty()) << r.args;
  }
}

}  // namespace
}  // namespace kurier::smtp::proto
