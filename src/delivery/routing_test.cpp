// Routing and fail-over: targets per destination policy, relay order, and Open() against fake DNS and
// loopback servers (an unreachable MX fails over to a scripted backup relay; a domain that does not
// exist fails without one).
#include "delivery/routing.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>

#include "smtp/client/scripted_server.hpp"

namespace kurier::delivery {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

Config BaseConfig() {
  Config c;
  c.hostname = "mta.test";
  c.delivery.helo_name = "mta.test";
  c.delivery.connect_timeout = c.delivery.command_timeout = c.delivery.data_timeout = 2;
  c.delivery.greeting_timeout = 2;
  return c;
}

uint16_t ClosedPort(asio::io_context& ioc) {
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

struct Events {
  std::vector<std::pair<std::string, std::string>> list;
  Routing::EventSink Sink() {
    return [this](const std::string& type, const std::string& data) { list.emplace_back(type, data); };
  }
};

Routing::Dns FakeDns(dns::MxAnswer answer) {
  return Routing::Dns{[answer](const std::string&, std::function<void(dns::MxAnswer)> done) { done(answer); },
                      [](const std::string&, std::function<void(dns::AddressAnswer)> done) {
                        done(dns::AddressAnswer{dns::Rcode::kNxDomain, {}, ""});
                      }};
}

// A server on `listener` that follows `script` for one connection (an empty script: accepts, stays silent).
void Serve(asio::io_context& ioc, tcp::acceptor& listener, std::vector<smtp::client::testing::Step> script,
           std::string& received) {
  asio::co_spawn(
      ioc,
      [&listener, script = std::move(script), &received]() -> awaitable<void> {
        tcp::socket s = co_await listener.async_accept(asio::use_awaitable);
        co_await smtp::client::testing::RunScript(s, script, received);
      },
      asio::detached);
}

const std::vector<smtp::client::testing::Step> kReady{
    {"", "220 relay.test\r\n"}, {"EHLO", "250 relay.test\r\n"}, {"QUIT", "221 bye\r\n", true}};

// Runs Routing::Open for `domain` (and QUIT on what it opened) with everything else spawned on `ioc`.
Routing::Opened OpenOnce(asio::io_context& ioc, Routing& r, const std::string& domain) {
  Routing::Opened opened;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        opened = co_await r.Open(domain);
        if (opened.connection) co_await opened.connection->Quit();
        opened.connection.reset();
      },
      asio::detached);
  ioc.run();
  return opened;
}

TEST(Routing, TargetsFollowTheDestinationPolicy) {
  asio::io_context ioc;
  Config c = BaseConfig();
  c.delivery.port = 2525;
  DomainPolicy strict;
  strict.tls = "required";
  strict.verify_certificates = true;
  c.delivery.domains["bank.test"] = strict;
  Events ev;
  Routing r(c, asio::make_strand(ioc), FakeDns({}), ev.Sink());
  auto t = r.MxTarget("bank.test", "mx.bank.test", "192.0.2.7");
  EXPECT_EQ(t.client.tls, smtp::proto::TlsMode::kRequired);
  EXPECT_TRUE(t.verify);
  EXPECT_EQ(t.port, 2525);
  EXPECT_EQ(t.label, "mx.bank.test [192.0.2.7]");
  auto o = r.MxTarget("other.test", "mx.other.test", "192.0.2.8");
  EXPECT_EQ(o.client.tls, smtp::proto::TlsMode::kOpportunistic);
  EXPECT_FALSE(o.verify);

  auto relay = ParseRelayUrl("smtps://user:pw@relay.test");
  ASSERT_TRUE(relay);
  auto rt = r.RelayTarget(*relay, "192.0.2.9");
  EXPECT_TRUE(rt.client.implicit_tls);
  EXPECT_EQ(rt.client.auth_username, "user");
  EXPECT_EQ(rt.port, 465);
  EXPECT_EQ(rt.label, relay->url);
  EXPECT_EQ(rt.label.find("pw"), std::string::npos);  // the password never reaches logs and events
}

TEST(Routing, AnUnreachableMxFailsOverToABackupRelay) {
  asio::io_context ioc;
  Config c = BaseConfig();
  c.delivery.port = ClosedPort(ioc);  // the MX refuses connections
  tcp::acceptor relay_listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto bad = ParseRelayUrl("smtp://127.0.0.1:" + std::to_string(ClosedPort(ioc)));
  auto good = ParseRelayUrl("smtp://127.0.0.1:" + std::to_string(relay_listener.local_endpoint().port()));
  ASSERT_TRUE(bad && good);
  c.delivery.backup_relays = {*bad, *good};
  dns::MxAnswer mx{dns::Rcode::kOk, {dns::MxRecord{10, "127.0.0.1"}}, ""};
  Events ev;
  Routing r(c, asio::make_strand(ioc), FakeDns(mx), ev.Sink());
  EXPECT_EQ(r.RelayOrder(), (std::vector<size_t>{0, 1}));

  std::string received;
  Serve(ioc, relay_listener, kReady, received);
  Routing::Opened opened = OpenOnce(ioc, r, "x.test");
  EXPECT_EQ(opened.failure.code, 0);
  EXPECT_NE(received.find("EHLO mta.test"), std::string::npos);
  ASSERT_EQ(ev.list.size(), 1u);
  EXPECT_EQ(ev.list[0].first, "failover");
  auto data = boost::json::parse(ev.list[0].second).as_object();
  EXPECT_EQ(data.at("domain").as_string(), "x.test");
  EXPECT_EQ(data.at("relay").as_string(), good->url);
  // The reason names each route that failed once, flat: the MX, then the first relay.
  std::string reason(data.at("reason").as_string());
  EXPECT_EQ(reason, "cannot connect to 127.0.0.1 [127.0.0.1] port " + std::to_string(c.delivery.port) +
                        ": Connection refused; cannot connect to " + bad->url + " port " + std::to_string(bad->port) +
                        ": Connection refused");
}

// An MX that accepts the connection and never greets counts as unreachable after delivery.greeting_timeout:
// the backup relay takes the mail in the same attempt.
TEST(Routing, ASilentMxFailsOverAfterTheGreetingTimeout) {
  asio::io_context ioc;
  Config c = BaseConfig();
  c.delivery.command_timeout = 30;  // only the greeting timeout may end the wait
  c.delivery.greeting_timeout = 1;
  tcp::acceptor mx_listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::acceptor relay_listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  c.delivery.port = mx_listener.local_endpoint().port();
  auto relay = ParseRelayUrl("smtp://127.0.0.1:" + std::to_string(relay_listener.local_endpoint().port()));
  c.delivery.backup_relays = {*relay};
  Events ev;
  Routing r(c, asio::make_strand(ioc), FakeDns({dns::Rcode::kOk, {dns::MxRecord{10, "127.0.0.1"}}, ""}), ev.Sink());
  std::string mx_received, relay_received;
  Serve(ioc, mx_listener, {}, mx_received);
  Serve(ioc, relay_listener, kReady, relay_received);
  auto t0 = std::chrono::steady_clock::now();
  Routing::Opened opened = OpenOnce(ioc, r, "x.test");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(opened.failure.code, 0) << opened.failure.ToString();
  EXPECT_TRUE(opened.via_backup);
  EXPECT_NE(relay_received.find("EHLO mta.test"), std::string::npos);
  ASSERT_EQ(ev.list.size(), 1u);
  EXPECT_EQ(ev.list[0].first, "failover");
  auto data = boost::json::parse(ev.list[0].second).as_object();
  EXPECT_EQ(data.at("reason").as_string(), "127.0.0.1 [127.0.0.1] did not greet within 1 s");
}

// When every route fails, the reply says each once, flat, and `failed_at` names every host and relay.
TEST(Routing, WhenEveryRouteFailsEachIsNamedOnce) {
  asio::io_context ioc;
  Config c = BaseConfig();
  c.delivery.port = ClosedPort(ioc);
  tcp::acceptor busy_listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto refused = ParseRelayUrl("smtp://127.0.0.1:" + std::to_string(ClosedPort(ioc)));
  auto busy = ParseRelayUrl("smtp://127.0.0.1:" + std::to_string(busy_listener.local_endpoint().port()));
  c.delivery.backup_relays = {*refused, *busy};
  Events ev;
  Routing r(c, asio::make_strand(ioc), FakeDns({dns::Rcode::kOk, {dns::MxRecord{10, "127.0.0.1"}}, ""}), ev.Sink());
  std::string received;
  Serve(ioc, busy_listener, {{"", "421 4.3.2 busy, try later\r\n", true}}, received);
  Routing::Opened opened = OpenOnce(ioc, r, "x.test");
  EXPECT_NE(opened.failure.code, 0);
  const std::string mx = "127.0.0.1 [127.0.0.1]";
  EXPECT_EQ(opened.failure.ToString(),
            "451 4.4.1 every route failed: cannot connect to " + mx + " port " + std::to_string(c.delivery.port) +
                ": Connection refused; cannot connect to " + refused->url + " port " + std::to_string(refused->port) +
                ": Connection refused; " + busy->url + ": 421 4.3.2 busy, try later");
  EXPECT_TRUE(opened.failure.local);
  EXPECT_EQ(opened.failed_at, mx + ", " + refused->url + ", " + busy->url);
  EXPECT_TRUE(ev.list.empty());
}

// Fail-back by the health check: once the MX takes a connection again, the domain fails back and a relay
// connection opened for it stops taking its jobs (StillFailedOver), without waiting for a pause.
TEST(Routing, TheHealthCheckFailsBackWhenTheMxIsBack) {
  asio::io_context ioc;
  Config c = BaseConfig();
  c.delivery.port = ClosedPort(ioc);  // the MX is down at first
  tcp::acceptor relay_listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::acceptor mx_listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto relay = ParseRelayUrl("smtp://127.0.0.1:" + std::to_string(relay_listener.local_endpoint().port()));
  c.delivery.backup_relays = {*relay};
  Events ev;
  Routing r(c, asio::make_strand(ioc), FakeDns({dns::Rcode::kOk, {dns::MxRecord{10, "127.0.0.1"}}, ""}), ev.Sink());
  std::string relay_received, mx_received;
  Serve(ioc, relay_listener, kReady, relay_received);
  Serve(ioc, mx_listener, kReady, mx_received);
  Routing::Opened opened;
  bool before = false, after = true;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        opened = co_await r.Open("x.test");
        before = r.StillFailedOver("x.test", opened.failbacks_seen);
        co_await r.CheckFailedOver();  // still down: nothing changes
        c.delivery.port = mx_listener.local_endpoint().port();  // the MX is back
        co_await r.CheckFailedOver();
        after = r.StillFailedOver("x.test", opened.failbacks_seen);
        if (opened.connection) co_await opened.connection->Quit();
        opened.connection.reset();
      },
      asio::detached);
  ioc.run();
  EXPECT_TRUE(opened.via_backup);
  EXPECT_TRUE(before);
  EXPECT_FALSE(after);
  EXPECT_NE(mx_received.find("EHLO mta.test"), std::string::npos);
  ASSERT_EQ(ev.list.size(), 2u);
  EXPECT_EQ(ev.list[0].first, "failover");
  EXPECT_EQ(ev.list[1].first, "failback");
  auto data = boost::json::parse(ev.list[1].second).as_object();
  EXPECT_EQ(data.at("domain").as_string(), "x.test");
  EXPECT_EQ(data.at("found_by").as_string(), "health check");
}

TEST(Routing, ADomainThatDoesNotExistFailsWithoutARelay) {
  asio::io_context ioc;
  Config c = BaseConfig();
  auto relay = ParseRelayUrl("smtp://127.0.0.1:" + std::to_string(ClosedPort(ioc)));
  c.delivery.backup_relays = {*relay};
  Events ev;
  Routing r(c, asio::make_strand(ioc), FakeDns(dns::MxAnswer{dns::Rcode::kNxDomain, {}, ""}), ev.Sink());
  Routing::Opened opened;
  asio::co_spawn(ioc, [&]() -> awaitable<void> { opened = co_await r.Open("nowhere.test"); }, asio::detached);
  ioc.run();
  EXPECT_EQ(opened.connection, nullptr);
  EXPECT_EQ(opened.failure.code, 550);
  EXPECT_EQ(opened.failure.enhanced, "5.1.2");
  EXPECT_TRUE(ev.list.empty());
}

}  // namespace
}  // namespace kurier::delivery
