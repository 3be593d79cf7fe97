#include "smtp/server/auth_service.hpp"

#include <gtest/gtest.h>

namespace kurier::smtp::server {
namespace {

TEST(AuthThrottle, CoolDownAfterMaxFailuresWithinWindow) {
  AuthPolicy p;
  p.max_failures = 3;
  p.failure_window = 60;
  p.cooldown = 120;
  AuthThrottle t(p);
  auto t0 = AuthThrottle::Clock::time_point{} + std::chrono::hours(1);
  using std::chrono::seconds;
  struct Step {
    int at;           // seconds after t0
    bool fail;        // record a failure at this time (after checking)
    bool want_block;  // Blocked() before recording
  } steps[] = {
      {0, true, false}, {10, true, false},
      {100, true, false},  // the first two fell out of the 60 s window: still 1 in window
      {110, true, false}, {120, true, false},  // third within window -> blocked from 120 s
      {121, false, true}, {239, false, true}, {241, false, false},
  };
  for (const auto& s : steps) {
    EXPECT_EQ(t.Blocked("ip:1", t0 + seconds(s.at)).has_value(), s.want_block) << "at " << s.at;
    if (s.fail) t.RecordFailure("ip:1", t0 + seconds(s.at));
  }
  EXPECT_FALSE(t.Blocked("ip:2", t0 + seconds(130)).has_value()) << "other keys are not affected";
}

}  // namespace
}  // namespace kurier::smtp::server
