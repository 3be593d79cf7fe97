// retry_policy.cpp - exponential back-off with jitter and a maximum lifetime (RFC 5321 4.5.4.1 asks
// for retries of at least 30 minutes apart eventually and a give-up time of at least 4-5 days).
#include "delivery/retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace kurier::delivery {

int64_t RetryDelayMicros(const QueuePolicy& policy, int attempts, std::mt19937& rng) {
  double base = policy.retry_initial * std::pow(2.0, std::max(0, attempts - 1));
  base = std::min(base, static_cast<double>(policy.retry_max));
  std::uniform_real_distribution<double> jitter(0.9, 1.1);
  return static_cast<int64_t>(base * jitter(rng) * 1e6);
}

bool Expired(const QueuePolicy& policy, int64_t received_at, int64_t now) {
  return now - received_at >= int64_t{policy.max_lifetime} * 1000000;
}

}  // namespace kurier::delivery
