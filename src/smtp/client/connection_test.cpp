// Transcript tests of the outbound connection driver over an in-memory socket pair: a scripted server
// on one end, smtp::client::Connection on the other; the results it returns are checked, as is what it
// wrote.
#include "smtp/client/connection.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>

#include "smtp/client/scripted_server.hpp"

namespace kurier::smtp::client {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using proto::Outcome;
using proto::RecipientResult;
using proto::ServerReply;
using testing::Step;

constexpr const char* kGreeting = "220 mx.test ESMTP\r\n";
constexpr const char* kEhlo = "250-mx.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";

proto::OutboundMessage Msg(std::vector<std::string> rcpts) {
  proto::OutboundMessage m;
  m.mail_from = "a@sender.test";
  m.recipients = std::move(rcpts);
  m.data = "Subject: x\r\n\r\nhi\r\n";
  return m;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Runs `client` against a scripted server over a socket pair; returns what the client wrote.
struct Transcript {
  asio::io_context ioc;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::string received;

  std::string Run(std::vector<Step> script, std::function<awaitable<void>(Connection&, tcp::socket)> client,
                  Timeouts timeouts = Timeouts{2, 2, 2, 2}) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    tcp::socket client_end(ioc);
    client_end.assign(tcp::v4(), fds[0]);  // the driver speaks over a TCP socket; any stream descriptor serves
    asio::local::stream_protocol::socket server_end(ioc, asio::local::stream_protocol(), fds[1]);
    Target t;
    t.host = "mx.test";
    t.addr = "192.0.2.1";
    t.client.helo_name = "out.test";
    t.client.tls = proto::TlsMode::kNone;
    t.label = "mx.test [192.0.2.1]";
    asio::co_spawn(ioc, testing::RunScript(server_end, std::move(script), received), asio::detached);
    // The connection lives in the client's coroutine: its watchdog's timer ends with it.
    auto run_client = [&, t, timeouts, s = std::move(client_end)]() mutable -> awaitable<void> {
      Connection conn(ioc.get_executor(), tls, t, timeouts);
      co_await client(conn, std::move(s));
    };
    asio::co_spawn(ioc, std::move(run_client), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    ioc.run();
    return received;
  }
};

TEST(SmtpClientConnection, PipelinesATransactionAndReusesTheConnection) {
  Transcript tr;
  std::vector<RecipientResult> first, second;
  ServerReply opened;
  std::string sent = tr.Run(
      {{"", kGreeting},
       {"EHLO out.test\r\n", kEhlo},
       // Nothing is answered before DATA arrives: a client that waited for MAIL's reply would time out.
       {"DATA\r\n", "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go\r\n"},
       {"\r\n.\r\n", "250 2.0.0 queued as A\r\n"},
       {"DATA\r\n", "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n"},
       {"\r\n.\r\n", "250 2.0.0 queued as B\r\n"},
       {"QUIT\r\n", "221 2.0.0 bye\r\n", true}},
      [&](Connection& c, tcp::socket s) -> awaitable<void> {
        opened = co_await c.Open(std::move(s));
        if (opened.code != 0) co_return;
        auto m1 = Msg({"b@x.test", "nobody@x.test"});
        first = co_await c.Send(m1);
        EXPECT_TRUE(c.ready());
        auto m2 = Msg({"c@x.test"});
        second = co_await c.Send(m2);
        co_await c.Quit();
      });
  ASSERT_EQ(opened.code, 0) << opened.ToString();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(first[0].reply.ToString(), "250 2.0.0 queued as A");
  EXPECT_EQ(first[1].outcome, Outcome::kBounced);
  EXPECT_EQ(first[1].reply.ToString(), "550 5.1.1 no such user");
  EXPECT_FALSE(first[1].local);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(second[0].reply.ToString(), "250 2.0.0 queued as B");
  EXPECT_EQ(Count(sent, "EHLO"), 1u);  // one connection, one greeting: reused
  EXPECT_EQ(Count(sent, "MAIL FROM:<a@sender.test>"), 2u);
  EXPECT_NE(sent.find("MAIL FROM:<a@sender.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<nobody@x.test>\r\nDATA\r\n"),
            std::string::npos);
  EXPECT_NE(sent.find("Subject: x\r\n\r\nhi\r\n.\r\n"), std::string::npos);
  EXPECT_EQ(sent.substr(sent.size() - 6), "QUIT\r\n");
}

TEST(SmtpClientConnection, A421MidSessionDefersTheMessageAndEndsTheConnection) {
  Transcript tr;
  std::vector<RecipientResult> first, second;
  bool ready_after = true;
  tr.Run({{"", kGreeting},
          {"EHLO out.test\r\n", kEhlo},
          {"DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"},
          {"\r\n.\r\n", "250 2.0.0 queued\r\n"},
          {"DATA\r\n", "421 4.3.2 mx.test shutting down\r\n", true}},
         [&](Connection& c, tcp::socket s) -> awaitable<void> {
           ServerReply r = co_await c.Open(std::move(s));
           EXPECT_EQ(r.code, 0);
           auto m1 = Msg({"b@x.test"});
           first = co_await c.Send(m1);
           auto m2 = Msg({"c@x.test", "d@x.test"});
           second = co_await c.Send(m2);
           if (c.resetting()) co_await c.Reset();
           ready_after = c.ready();
           co_await c.Quit();
         });
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].outcome, Outcome::kDelivered);
  ASSERT_EQ(second.size(), 2u);
  for (const auto& r : second) {
    EXPECT_EQ(r.outcome, Outcome::kDeferred);
    EXPECT_EQ(r.reply.code, 421) << r.reply.ToString();
  }
  EXPECT_FALSE(ready_after);  // the next message needs a new connection
}

TEST(SmtpClientConnection, AConnectionDroppedMidDataDefersEveryRecipient) {
  Transcript tr;
  std::vector<RecipientResult> results;
  tr.Run({{"", kGreeting},
          {"EHLO out.test\r\n", kEhlo},
          {"DATA\r\n", "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
          {"Subject: x", "", true}},  // part of the data arrived, then the server is gone
         [&](Connection& c, tcp::socket s) -> awaitable<void> {
           ServerReply r = co_await c.Open(std::move(s));
           EXPECT_EQ(r.code, 0);
           auto m = Msg({"b@x.test", "c@x.test"});
           results = co_await c.Send(m);
           EXPECT_FALSE(c.ready());
           co_await c.Quit();
         });
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, Outcome::kDeferred);
    EXPECT_TRUE(r.local);  // kurier decided: no server said so
    EXPECT_EQ(r.reply.code, 451);
    EXPECT_NE(r.reply.ToString().find("connection lost"), std::string::npos) << r.reply.ToString();
  }
}

TEST(SmtpClientConnection, ARefusedGreetingIsWhyTheTargetCannotBeUsed) {
  Transcript tr;
  ServerReply opened;
  tr.Run({{"", "554 5.7.1 no mail from you\r\n"}}, [&](Connection& c, tcp::socket s) -> awaitable<void> {
    opened = co_await c.Open(std::move(s));
  });
  EXPECT_EQ(opened.ToString(), "554 5.7.1 no mail from you");
}

TEST(SmtpClientConnection, AnUnpromptedReplyWhileIdleMakesTheConnectionUnusable) {
  Transcript tr;
  bool quiet_before = false, quiet_after = true;
  tr.Run({{"", kGreeting}, {"EHLO out.test\r\n", kEhlo}, {"", "421 4.4.2 idle too long\r\n", true, 50}},
         [&](Connection& c, tcp::socket s) -> awaitable<void> {
           ServerReply r = co_await c.Open(std::move(s));
           EXPECT_EQ(r.code, 0);
           quiet_before = c.Quiet();
           asio::steady_timer wait(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
           co_await wait.async_wait(asio::use_awaitable);
           quiet_after = c.Quiet();
           co_await c.Quit();
         });
  EXPECT_TRUE(quiet_before);
  EXPECT_FALSE(quiet_after);
}

TEST(SmtpClientConnection, OpenReportsARefusedPortAsALocalDeferral) {
  asio::io_context ioc;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  uint16_t port;
  {
    tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  Target t;
  t.host = "127.0.0.1";
  t.addr = "127.0.0.1";
  t.port = port;
  t.label = "relay.test";
  ServerReply r;
  bool unreachable = false;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        Connection conn(ioc.get_executor(), tls, t, Timeouts{2, 2, 2, 2});
        r = co_await conn.Open();
        unreachable = conn.unreachable();
      },
      asio::detached);
  ioc.run();
  EXPECT_TRUE(unreachable);
  EXPECT_TRUE(r.local);
  EXPECT_EQ(r.code, 451);
  EXPECT_EQ(r.enhanced, "4.4.1");
  EXPECT_EQ(r.ToString(), "451 4.4.1 cannot connect to relay.test port " + std::to_string(port) + ": Connection refused");
}

// A server that accepts the connection and then stays silent (or hangs, or drops it) before it is ready
// counts as unreachable after the greeting timeout, not after the 300-s command timeout; one that
// answers with a refusal was reached. Command timeout 30 s here: only the greeting timeout can end these.
TEST(SmtpClientConnection, ASilentOrHungServerIsUnreachableAfterTheGreetingTimeout) {
  struct Case {
    std::vector<Step> script;
    std::string reply;  ///< what the reply starts with
    bool unreachable;
  };
  const Case cases[] = {
      {{}, "451 4.4.1 mx.test [192.0.2.1] did not greet within 1 s", true},
      {{{"", kGreeting}}, "451 4.4.1 mx.test [192.0.2.1] did not answer within 1 s", true},
      {{{"", kGreeting, true}}, "451 4.4.2 connection to mx.test [192.0.2.1] lost: ", true},  // EOF or EPIPE
      {{{"", "554 5.7.1 no mail from you\r\n"}}, "554 5.7.1 no mail from you", false},
      {{{"", kGreeting}, {"EHLO", "421 4.3.2 busy\r\n", true}}, "421 4.3.2 busy", false},
  };
  for (const Case& c : cases) {
    Transcript tr;
    ServerReply r;
    bool unreachable = !c.unreachable;
    auto t0 = std::chrono::steady_clock::now();
    tr.Run(
        c.script,
        [&](Connection& conn, tcp::socket s) -> awaitable<void> {
          r = co_await conn.Open(std::move(s));
          unreachable = conn.unreachable();
        },
        Timeouts{2, 30, 30, 1});
    EXPECT_EQ(r.ToString().rfind(c.reply, 0), 0u) << r.ToString();
    EXPECT_EQ(unreachable, c.unreachable) << c.reply;
    EXPECT_EQ(r.local, c.unreachable) << c.reply;  // kurier's own finding, or the server's words
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << c.reply;
  }
}

// Once the server is ready, replies get the command timeout again: a slower answer than the greeting
// timeout is waited for.
TEST(SmtpClientConnection, TheGreetingTimeoutEndsWhenTheServerIsReady) {
  Transcript tr;
  std::vector<RecipientResult> results;
  tr.Run({{"", kGreeting},
          {"EHLO out.test\r\n", kEhlo},
          {"DATA\r\n", "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n", false, 1500},
          {"\r\n.\r\n", "250 2.0.0 queued\r\n"}},
         [&](Connection& c, tcp::socket s) -> awaitable<void> {
           ServerReply r = co_await c.Open(std::move(s));
           EXPECT_EQ(r.code, 0);
           auto m = Msg({"b@rcpt.test"});  // named: no temporaries into a coroutine (GCC 12)
           if (r.code == 0) results = co_await c.Send(m);
           co_await c.Quit();
         },
         Timeouts{2, 5, 5, 1});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kDelivered) << results[0].reply.ToString();
}

}  // namespace
}  // namespace kurier::smtp::client
