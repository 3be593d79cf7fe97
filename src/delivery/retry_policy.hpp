// retry_policy.hpp - when a deferred recipient is tried again, and when it gives up.
#pragma once
#include <cstdint>
#include <random>

#include "common/config.hpp"

namespace kurier::delivery {

/// Microseconds to wait after the `attempts`-th failed attempt: retry_initial doubled per attempt,
/// capped at retry_max, with +-10 % jitter so that deferred mail does not retry in lockstep.
int64_t RetryDelayMicros(const QueuePolicy& policy, int attempts, std::mt19937& rng);

/// True when a recipient received at `received_at` has outlived queue.max_lifetime at `now`.
bool Expired(const QueuePolicy& policy, int64_t received_at, int64_t now);

}  // namespace kurier::delivery
