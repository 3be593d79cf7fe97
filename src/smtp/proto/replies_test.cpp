// The reply table: formatted server replies, and delivery's local replies with their arguments filled.
#include "smtp/proto/replies.hpp"

#include <gtest/gtest.h>

namespace kurier::smtp::proto {
namespace {

TEST(Replies, FormatReplyFillsTheArgument) {
  EXPECT_EQ(FormatReply(ReplyId::kQueued, "ABC"), "250 2.0.0 Ok: queued as ABC\r\n");
}

TEST(Replies, LocalRepliesAreDeliverysOwnTexts) {
  struct Case {
    ServerReply reply;
    const char* text;
  };
  const Case cases[] = {
      {LocalReply(ReplyId::kCannotConnect, {"mx.test [192.0.2.1]", "25", "Connection refused"}),
       "451 4.4.1 cannot connect to mx.test [192.0.2.1] port 25: Connection refused"},
      {LocalReply(ReplyId::kBackupRelayFailed, {"451 4.4.3 dns", "smtp://r.test", "451 4.4.2 x"}),
       "451 4.4.1 direct delivery failed (451 4.4.3 dns) and backup relay smtp://r.test failed: 451 4.4.2 x"},
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
  }
  EXPECT_EQ(LocalReply(ReplyId::kRouteTempFail, {"x"}).code, 451);
}

}  // namespace
}  // namespace kurier::smtp::proto
