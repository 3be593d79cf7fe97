// The reply table: formatted server replies, and delivery's local replies with their arguments filled.
#include "smtp/proto/replies.hpp"

#include <gtest/gtest.h>

namespace kurier::smtp::proto {
namespace {

TEST(Replies, FormatReplyFillsTheArgument) {
  EXPECT_EQ(FormatReply(ReplyId::kQueued, "ABC"), "250 2.0.0 Ok: queued as ABC\r\n");
}

TEST(Replies, AnArgumentWithLineBreaksStaysOneReplyLine) {
  EXPECT_EQ(FormatReply(ReplyId::kStorageFailed, "server closed the connection\n\tThis probably means\r\nx"),
            "451 4.3.0 Could not store the message (server closed the connection This probably means x); try again later\r\n");
}

TEST(Replies, LocalRepliesAreDeliverysOwnTexts) {
  struct Case {
    ServerReply reply;
    const char* text;
  };
  const Case cases[] = {
      {LocalReply(ReplyId::kCannotConnect, {"mx.test [192.0.2.1]", "25", "Connection refused"}),
       "451 4.4.1 cannot connect to mx.test [192.0.2.1] port 25: Connection refused"},
      {LocalReply(ReplyId::kEveryRouteFailed, {"mx.test [192.0.2.1]: refused; smtp://r.test:25: 421 busy"}),
       "451 4.4.1 every route failed: mx.test [192.0.2.1]: refused; smtp://r.test:25: 421 busy"},
      {LocalReply(ReplyId::kNoGreeting, {"mx.test [192.0.2.1]", "30"}), "451 4.4.1 mx.test [192.0.2.1] did not greet within 30 s"},
      {LocalReply(ReplyId::kRouteNullMx, {"example.test accepts no mail (null MX, RFC 7505)"}),
       "556 5.1.10 example.test accepts no mail (null MX, RFC 7505)"},
      {LocalReply(ReplyId::kPrepareFailed, {"boom {}"}),  // an argument is never read as a placeholder
       "451 4.3.0 internal error while preparing the message (boom {}); it is retried"},
      {LocalReply(ReplyId::kConnectionFailed, {}), "451 4.4.2 connection to {} failed"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.reply.ToString(), c.text);
    ASSERT_EQ(c.reply.lines.size(), 1u);
    EXPECT_EQ(c.reply.lines[0].substr(0, c.reply.enhanced.size()), c.reply.enhanced);
    EXPECT_TRUE(c.reply.local) << c.text;  // told apart from a server's reply in events and DSNs
  }
  EXPECT_EQ(LocalReply(ReplyId::kRouteTempFail, {"x"}).code, 451);
}

}  // namespace
}  // namespace kurier::smtp::proto
