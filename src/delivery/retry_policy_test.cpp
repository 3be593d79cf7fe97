#include "delivery/retry_policy.hpp"

#include <gtest/gtest.h>

namespace kurier::delivery {
namespace {

TEST(RetryPolicy, DoublesWithJitterUpToTheCap) {
  QueuePolicy p;
  p.retry_initial = 60;
  p.retry_max = 3600;
  std::mt19937 rng(7);
  struct Row {
    int attempts;
    double want_seconds;
  } rows[] = {{1, 60}, {2, 120}, {3, 240}, {6, 1920}, {7, 3600}, {30, 3600}};
  for (const auto& r : rows) {
    for (int i = 0; i < 20; ++i) {
      double got = RetryDelayMicros(p, r.attempts, rng) / 1e6;
      EXPECT_GE(got, r.want_seconds * 0.9 - 1e-6) << r.attempts;
      EXPECT_LE(got, r.want_seconds * 1.1 + 1e-6) << r.attempts;
    }
  }
}

TEST(RetryPolicy, Expiry) {
  QueuePolicy p;
  p.max_lifetime = 100;
  EXPECT_FALSE(Expired(p, 0, 99'999'999));
  EXPECT_TRUE(Expired(p, 0, 100'000'000));
}

}  // namespace
}  // namespace kurier::delivery
