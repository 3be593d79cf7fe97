#include "common/cidr.hpp"

#include <gtest/gtest.h>

namespace kurier {
namespace {

TEST(Cidr, ParseAndContains) {
  struct Row {
    const char* net;
    const char* addr;
    bool want;
  } rows[] = {
      {"127.0.0.0/8", "127.0.0.1", true},      {"127.0.0.0/8", "127.255.1.2", true},
      {"127.0.0.0/8", "128.0.0.1", false},     {"10.0.0.0/8", "127.0.0.1", false},
      {"127.0.0.1/8", "127.9.9.9", true},      {"192.168.1.0/24", "192.168.1.77", true},
      {"192.168.1.0/24", "192.168.2.1", false}, {"::1/128", "::1", true},
      {"::1/128", "::2", false},               {"127.0.0.0/8", "::ffff:127.0.0.1", true},
      {"fd00::/8", "fd12::1", true},           {"0.0.0.0/0", "8.8.8.8", true},
      {"0.0.0.0/0", "::1", false},             {"10.1.2.3", "10.1.2.3", true},
      {"10.1.2.3", "10.1.2.4", false},         {"192.168.0.0/17", "192.168.127.1", true},
      {"192.168.0.0/17", "192.168.128.1", false},
  };
  for (const auto& r : rows) {
    auto c = Cidr::Parse(r.net);
    ASSERT_TRUE(c) << r.net;
    EXPECT_EQ(c->Contains(r.addr), r.want) << r.net << " " << r.addr;
  }
}

TEST(Cidr, RejectsMalformed) {
  for (const char* bad : {"", "127.0.0.0/33", "::1/129", "abc", "1.2.3.4/", "1.2.3.4/x", "1.2.3/8"})
    EXPECT_FALSE(Cidr::Parse(bad)) << bad;
}

}  // namespace
}  // namespace kurier
