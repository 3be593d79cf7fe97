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
  Routing::Opened opened;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        tcp::socket s = co_await relay_listener.async_accept(asio::use_awaitable);
        std::vector<smtp::client::testing::Step> script{
            {"", "220 relay.test\r\n"}, {"EHLO", "250 relay.test\r\n"}, {"QUIT", "221 bye\r\n", true}};
        co_await smtp::client::testing::RunScript(s, std::move(script), received);
      },
      asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        opened = co_await r.Open("x.test");
        if (opened.connection) co_await opened.connection->Quit();
        opened.connection.reset();
      },
      asio::detached);
  ioc.run();
  EXPECT_EQ(opened.failure.code, 0);
  EXPECT_NE(received.find("EHLO mta.test"), std::string::npos);
  ASSERT_EQ(ev.list.size(), 1u);
  EXPECT_EQ(ev.list[0].first, "failover");
  auto data = boost::json::parse(ev.list[0].second).as_object();
  EXPECT_EQ(data.at("domain").as_string(), "x.test");
  EXPECT_EQ(data.at("relay").as_string(), good->url);
  // The reason names the first relay's failure after the MX's.
  std::string reason(data.at("reason").as_string());
  EXPECT_NE(reason.find("direct delivery failed (451 4.4.1 cannot connect to 127.0.0.1"), std::string::npos) << reason;
  EXPECT_NE(reason.find("backup relay " + bad->url + " failed"), std::string::npos) << reason;
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
