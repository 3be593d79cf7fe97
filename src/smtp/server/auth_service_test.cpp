#include "smtp/server/auth_service.hpp"

#include <gtest/gtest.h>

namespace kurier::smtp::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

AuthPolicy Policy() {
  AuthPolicy p;
  p.max_failures = 6;
  p.failure_window = 60;
  p.cooldown = 120;
  p.free_failures = 2;
  p.max_delay = 8;
  p.user_delay = 1;
  return p;
}

const auto t0 = AuthThrottle::Clock::time_point{} + std::chrono::hours(1);

// One timeline per row: at `at` seconds, `ip`/`user` checks (expecting `want_block` and `want_delay_ms`),
// then records a failure or a success when asked.
struct Step {
  int at;
  const char* ip;
  const char* user;
  bool want_block;
  int want_delay_ms;
  char then;  // 'f' failure, 's' success, '-' nothing
};

void RunSteps(AuthThrottle& t, const std::vector<Step>& steps) {
  for (const auto& s : steps) {
    auto d = t.Check(s.ip, s.user, t0 + seconds(s.at));
    EXPECT_EQ(d.blocked_seconds.has_value(), s.want_block) << "at " << s.at << " " << s.ip << " " << s.user;
    EXPECT_EQ(d.delay, milliseconds(s.want_delay_ms)) << "at " << s.at << " " << s.ip << " " << s.user;
    if (s.then == 'f') t.RecordFailure(s.ip, s.user, t0 + seconds(s.at));
    if (s.then == 's') t.RecordSuccess(s.ip, s.user);
  }
}

TEST(AuthThrottle, FailuresOfOneAddressNeverLockTheUserOutElsewhere) {
  AuthThrottle t(Policy());
  RunSteps(t, {
             {0, "10.0.0.2", "x", false, 0, 'f'},    {1, "10.0.0.2", "x", false, 0, 'f'},
             {2, "10.0.0.2", "x", false, 1000, 'f'},  // free failures spent: 1 s
             {3, "10.0.0.2", "x", false, 2000, 'f'},  {4, "10.0.0.2", "x", false, 4000, 'f'},
             {5, "10.0.0.3", "x", false, 0, 's'},     // the owner elsewhere: at once
             {6, "10.0.0.2", "x", false, 8000, 'f'},  // 6th failure of the address: blocked now
             {7, "10.0.0.2", "x", true, 0, '-'},      {7, "10.0.0.2", "other", true, 0, '-'},
             {8, "10.0.0.3", "x", false, 1000, 's'},  // username-wide signal: a small delay, never a refusal
             {125, "10.0.0.2", "x", true, 0, '-'},    {126, "10.0.0.2", "x", false, 0, '-'},  // cooldown over
         });
}

TEST(AuthThrottle, DelaysGrowToTheCapAndASuccessResetsThePair) {
  AuthPolicy p = Policy();
  p.max_failures = 100;
  AuthThrottle t(p);
  RunSteps(t, {
             {0, "a", "u", false, 0, 'f'},     {0, "a", "u", false, 0, 'f'},     {0, "a", "u", false, 1000, 'f'},
             {0, "a", "u", false, 2000, 'f'},  {0, "a", "u", false, 4000, 'f'},  {0, "a", "u", false, 8000, 'f'},
             {0, "a", "u", false, 8000, 'f'},  // capped at auth.max_delay
             {0, "a", "v", false, 0, 'f'},     // another username from the same address: its own pair
             {1, "a", "u", false, 8000, 's'},  // the right password: answered (after the delay), pair reset
             {2, "a", "u", false, 0, 'f'},
             {70, "a", "v", false, 0, '-'},    // failures leave the window
         });
}

TEST(AuthThrottle, TheOwnerMistypingThreeTimesIsNeverRefused) {
  AuthThrottle t(AuthPolicy{});  // the defaults
  RunSteps(t, {
             {0, "127.0.0.1", "owner", false, 0, 'f'},
             {5, "127.0.0.1", "owner", false, 0, 'f'},
             {9, "127.0.0.1", "owner", false, 1000, 'f'},
             {12, "127.0.0.1", "owner", false, 2000, 's'},
             {13, "127.0.0.1", "owner", false, 0, '-'},
         });
}

TEST(AuthThrottle, StatusAndUnblock) {
  AuthThrottle t(Policy());
  for (int i = 0; i < 6; ++i) t.RecordFailure("10.0.0.9", "u" + std::to_string(i % 2), t0);
  t.RecordFailure("10.0.0.8", "u0", t0);
  auto st = t.Status(t0 + seconds(1));
  int blocked = 0, pairs = 0, addresses = 0;
  for (const auto& e : st) {
    if (e.kind == "address") ++addresses;
    if (e.kind == "address" && e.blocked_seconds) {
      ++blocked;
      EXPECT_EQ(e.ip, "10.0.0.9");
      EXPECT_EQ(*e.blocked_seconds, 119);
    }
    if (e.kind == "pair") ++pairs;
  }
  EXPECT_EQ(blocked, 1);
  EXPECT_EQ(addresses, 2);
  EXPECT_EQ(pairs, 3);
  EXPECT_TRUE(t.Check("10.0.0.9", "u0", t0 + seconds(2)).blocked_seconds.has_value());
  EXPECT_EQ(t.Unblock(std::string("10.0.0.9"), std::nullopt), 3u);  // the address and its two pairs
  EXPECT_FALSE(t.Check("10.0.0.9", "u0", t0 + seconds(2)).blocked_seconds.has_value());
  EXPECT_EQ(t.Unblock(std::nullopt, std::string("u0")), 2u);  // the username and its remaining pair
  EXPECT_EQ(t.Unblock(std::nullopt, std::string("nobody")), 0u);
}

}  // namespace
}  // namespace kurier::smtp::server
