// Dispatcher tests with a fake clock: scheduling, connections per destination, idle connections first,
// spacing, suspension, operator retry/delete, stop.
#include "delivery/dispatcher.hpp"

#include <gtest/gtest.h>

namespace kurier::delivery {
namespace {

struct FakeIdle : IdleConnection {
  int woken = 0;
  void Wake() override { ++woken; }
};

struct Fixture {
  int64_t now = 1'000'000'000;
  DestinationPolicy policy;
  std::vector<std::string> opened;
  std::vector<int64_t> wakes;
  Dispatcher d{[this] { return now; }, [this](const DestinationKey&) { return policy; },
               Dispatcher::Hooks{[this](const DestinationKey& k) { opened.push_back(k); },
                                 [this](int64_t when) { wakes.push_back(when); }}};

  Job MakeJob(std::string id, std::string domain = "example.com", int rcpts = 1) {
    Job j;
    j.message_id = std::move(id);
    j.domain = std::move(domain);
    for (int i = 0; i < rcpts; ++i) j.rcpts.push_back(Job::Rcpt{i, "r" + std::to_string(i) + "@" + j.domain, 0});
    return j;
  }
};

TEST(Dispatcher, AJobWaitsUntilDueThenOpensAConnection) {
  Fixture f;
  f.d.Schedule(f.now + 10'000'000, f.MakeJob("m1"));
  f.d.Pump();
  EXPECT_TRUE(f.opened.empty());
  ASSERT_EQ(f.wakes.size(), 1u);
  EXPECT_EQ(f.wakes[0], f.now + 10'000'000);
  f.now += 10'000'000;
  f.d.OnWake();
  ASSERT_EQ(f.opened, std::vector<std::string>{"example.com"});
  EXPECT_EQ(f.d.active("example.com"), 1);
  auto job = f.d.Take("example.com");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->message_id, "m1");
  EXPECT_FALSE(f.d.Take("example.com"));
  f.d.ConnectionEnded("example.com");
  EXPECT_EQ(f.d.active("example.com"), 0);
}

TEST(Dispatcher, OneConnectionPerFewReadyJobsUpToTheLimit) {
  struct Case {
    int ready, max_connections;
    size_t opened;
  };
  for (const Case& c : {Case{1, 10, 1}, Case{5, 10, 2}, Case{9, 10, 3}, Case{100, 10, 10}, Case{100, 2, 2}}) {
    Fixture f;
    f.policy.max_connections = c.max_connections;
    for (int i = 0; i < c.ready; ++i) f.d.Schedule(f.now, f.MakeJob("m" + std::to_string(i)));
    f.d.Pump();
    EXPECT_EQ(f.opened.size(), c.opened) << c.ready << " ready, limit " << c.max_connections;
  }
}

TEST(Dispatcher, IdleConnectionsTakeReadyJobsBeforeNewOnesOpen) {
  Fixture f;
  f.d.Schedule(f.now, f.MakeJob("m1"));
  f.d.Pump();
  ASSERT_EQ(f.opened.size(), 1u);
  ASSERT_TRUE(f.d.Take("example.com"));
  FakeIdle idle;
  f.d.AddIdle("example.com", &idle);
  f.d.Schedule(f.now, f.MakeJob("m2"));
  f.d.Pump();
  EXPECT_EQ(idle.woken, 1);
  EXPECT_EQ(f.opened.size(), 1u);  // the idle connection takes it
  f.d.RemoveIdle("example.com", &idle);
  EXPECT_TRUE(f.d.Take("example.com"));
}

TEST(Dispatcher, SpacingHoldsTheNextMessageBack) {
  Fixture f;
  f.policy.spacing = 1'000'000;  // rate_per_minute 60
  f.d.Schedule(f.now, f.MakeJob("m1"));
  f.d.Schedule(f.now, f.MakeJob("m2"));
  f.d.Pump();
  ASSERT_TRUE(f.d.Take("example.com"));
  EXPECT_FALSE(f.d.Take("example.com"));
  ASSERT_FALSE(f.wakes.empty());
  EXPECT_EQ(f.wakes.back(), f.now + 1'000'000);
  f.now += 1'000'000;
  auto j = f.d.Take("example.com");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->message_id, "m2");
}

TEST(Dispatcher, ASuspendedDestinationKeepsItsJobs) {
  Fixture f;
  EXPECT_TRUE(f.d.Suspend("example.com", true));
  EXPECT_FALSE(f.d.Suspend("example.com", true));  // already
  f.d.Schedule(f.now, f.MakeJob("m1"));
  f.d.Pump();
  EXPECT_TRUE(f.opened.empty());
  EXPECT_FALSE(f.d.Take("example.com"));
  EXPECT_EQ(f.d.ready("example.com"), 1u);
  EXPECT_TRUE(f.d.Suspend("example.com", false));
  f.d.Pump();
  EXPECT_EQ(f.opened.size(), 1u);
}

TEST(Dispatcher, RetryNowAndForget) {
  Fixture f;
  f.d.Schedule(f.now + 3'600'000'000, f.MakeJob("m1", "a.test", 2));
  f.d.Schedule(f.now + 3'600'000'000, f.MakeJob("m1", "b.test", 1));
  f.d.Schedule(f.now + 3'600'000'000, f.MakeJob("m2", "a.test", 1));
  EXPECT_EQ(f.d.RetryNow("m1"), 3);
  EXPECT_EQ(f.d.RetryNow("nope"), 0);
  f.d.Pump();
  EXPECT_EQ(f.d.ready("a.test"), 1u);
  EXPECT_EQ(f.d.ready("b.test"), 1u);
  EXPECT_EQ(f.d.scheduled(), 1u);
  f.d.Forget("m1");
  f.d.Forget("m2");
  EXPECT_EQ(f.d.ready("a.test"), 0u);
  EXPECT_EQ(f.d.scheduled(), 0u);
}

TEST(Dispatcher, AFencedNodeStartsNoJobUntilItsFenceMovesOn) {
  Fixture f;
  f.d.FenceAt(f.now + 10);  // renewed heartbeat: deliveries may start until now + 10 µs
  f.d.Schedule(f.now, f.MakeJob("m1"));
  f.d.Pump();
  ASSERT_EQ(f.opened.size(), 1u);
  f.now += 10;  // the fence is reached: the heartbeat was not renewed in time
  EXPECT_TRUE(f.d.fenced());
  EXPECT_FALSE(f.d.Take("example.com"));  // the open connection gets nothing
  f.d.Schedule(f.now, f.MakeJob("m2", "b.test"));
  f.d.Pump();
  EXPECT_EQ(f.opened.size(), 1u);  // and no new connection opens
  EXPECT_EQ(f.d.ready("b.test"), 1u);
  EXPECT_EQ(f.d.MessageIds(), (std::vector<std::string>{"m1", "m2"}));
  f.d.Forget("m1");  // taken over by another node meanwhile
  f.d.FenceAt(f.now + 1'000'000);  // renewed again: the queue moves on
  EXPECT_FALSE(f.d.fenced());
  EXPECT_EQ(f.opened.size(), 2u);
  EXPECT_FALSE(f.d.Take("example.com"));
  EXPECT_TRUE(f.d.Take("b.test"));
  f.d.FenceAt(0);  // no fence (a single node)
  f.now += 3'600'000'000;
  EXPECT_FALSE(f.d.fenced());
}

TEST(Dispatcher, PushFrontPutsAJobNextInLine) {
  Fixture f;
  f.d.Schedule(f.now, f.MakeJob("m1"));
  f.d.Pump();
  f.d.PushFront(f.MakeJob("m0"));
  EXPECT_EQ(f.d.Take("example.com")->message_id, "m0");
}

TEST(Dispatcher, StopWakesIdleConnectionsAndOpensNoMore) {
  Fixture f;
  FakeIdle idle;
  f.d.AddIdle("example.com", &idle);
  f.d.Stop();
  EXPECT_TRUE(f.d.stopping());
  EXPECT_EQ(idle.woken, 1);
  f.d.Schedule(f.now, f.MakeJob("m1"));
  f.d.Pump();
  EXPECT_TRUE(f.opened.empty());
}

TEST(Dispatcher, EachLiveNodeTakesItsShareOfADestinationsLimits) {
  struct Case {
    int connections;
    int64_t spacing;
    int nodes;
    int want_connections;
    int64_t want_spacing;
  } cases[] = {
      {10, 0, 1, 10, 0},        // one node: the whole limit
      {10, 0, 0, 10, 0},        // no count yet: as one node
      {10, 1000, 2, 5, 2000},   // two nodes: half the connections, half the rate
      {10, 1000, 3, 3, 3000},   // rounded down: 3 x 3 <= 10
      {2, 0, 3, 1, 0},          // at least one connection each
  };
  for (const auto& c : cases) {
    DestinationPolicy p{c.connections, 100, c.spacing};
    auto share = ShareOf(p, c.nodes);
    EXPECT_EQ(share.max_connections, c.want_connections) << c.connections << "/" << c.nodes;
    EXPECT_EQ(share.spacing, c.want_spacing) << c.spacing << "*" << c.nodes;
    EXPECT_EQ(share.messages_per_connection, 100);
  }
}

TEST(Dispatcher, ConfiguredPolicyUsesOverridesThenDefaults) {
  DeliveryConfig c;
  c.max_connections_per_domain = 7;
  c.max_messages_per_connection = 50;
  DomainPolicy p;
  p.max_connections = 2;
  p.rate_per_minute = 120;
  c.domains["slow.test"] = p;
  auto slow = ConfiguredPolicy(c, "slow.test");
  EXPECT_EQ(slow.max_connections, 2);
  EXPECT_EQ(slow.messages_per_connection, 50);
  EXPECT_EQ(slow.spacing, 500'000);
  auto other = ConfiguredPolicy(c, "other.test");
  EXPECT_EQ(other.max_connections, 7);
  EXPECT_EQ(other.spacing, 0);
}

}  // namespace
}  // namespace kurier::delivery
