#include "dns/mx_route.hpp"

#include <gtest/gtest.h>

#include <set>

namespace kurier::dns {
namespace {

TEST(PlanRoute, Table) {
  std::mt19937 rng(42);
  struct Row {
    const char* name;
    MxAnswer mx;
    RouteKind kind;
    std::vector<std::string> hosts;
  } rows[] = {
      {"preference order", {Rcode::kOk, {{20, "b.test"}, {10, "a.test"}, {30, "c.test"}}, ""}, RouteKind::kMx,
       {"a.test", "b.test", "c.test"}},
      {"duplicates removed", {Rcode::kOk, {{10, "a.test"}, {10, "a.test"}, {20, "a.test"}}, ""}, RouteKind::kMx, {"a.test"}},
      {"no MX: implicit", {Rcode::kNoData, {}, ""}, RouteKind::kImplicit, {"example.test"}},
      {"null MX", {Rcode::kOk, {{0, ""}}, ""}, RouteKind::kNullMx, {}},
      {"nxdomain", {Rcode::kNxDomain, {}, ""}, RouteKind::kNxDomain, {}},
      {"servfail", {Rcode::kTempFail, {}, "SERVFAIL"}, RouteKind::kTempFail, {}},
  };
  for (const auto& r : rows) {
    Route route = PlanRoute("example.test", r.mx, rng);
    EXPECT_EQ(route.kind, r.kind) << r.name;
    EXPECT_EQ(route.hosts, r.hosts) << r.name;
    EXPECT_FALSE(route.detail.empty()) << r.name;
  }
}

TEST(PlanRoute, EqualPreferencesAreShuffled) {
  MxAnswer mx{Rcode::kOk, {{10, "a.test"}, {10, "b.test"}, {10, "c.test"}, {5, "first.test"}}, ""};
  std::mt19937 rng(1);
  std::set<std::string> seconds;
  for (int i = 0; i < 50; ++i) {
    Route r = PlanRoute("x.test", mx, rng);
    ASSERT_EQ(r.hosts.size(), 4u);
    EXPECT_EQ(r.hosts[0], "first.test");
    seconds.insert(r.hosts[1]);
  }
  EXPECT_EQ(seconds.size(), 3u) << "every equal-preference host comes first sometimes";
}

TEST(DecodeMxRdata, WireFormat) {
  const unsigned char ok[] = {0, 10, 2, 'M', 'x', 4, 't', 'e', 's', 't', 0};
  auto mx = DecodeMxRdata(ok, sizeof ok);
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->exchange, "mx.test");
  const unsigned char null_mx[] = {0, 0, 0};
  mx = DecodeMxRdata(null_mx, sizeof null_mx);
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->exchange, "");
  const unsigned char truncated[] = {0, 10, 5, 'a', 'b'};
  EXPECT_FALSE(DecodeMxRdata(truncated, sizeof truncated));
  const unsigned char pointer[] = {0, 10, 0xc0, 0x0c};
  EXPECT_FALSE(DecodeMxRdata(pointer, sizeof pointer));
  const unsigned char trailing[] = {0, 10, 0, 'x'};
  EXPECT_FALSE(DecodeMxRdata(trailing, sizeof trailing));
}

}  // namespace
}  // namespace kurier::dns
