// job.hpp - what the delivery queue moves: the recipients of one message at one destination (one SMTP
// transaction), and the clock delivery reads (injectable, so the queue and the outcome rules are tested
// with a fake one).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kurier::spool {
struct SpoolMessage;
}

namespace kurier::delivery {

/// Microseconds since the epoch (common/ids.hpp NowMicros in production).
using Clock = std::function<int64_t()>;

// The recipients of one message for one domain: what one SMTP transaction delivers.
struct Job {
  std::string message_id;
  std::string domain;
  int64_t received_at = 0;
  struct Rcpt {
    int idx = 0;
    std::string address;
    int attempts = 0;
  };
  std::vector<Rcpt> rcpts;
  /// The message as just committed, kept for the first attempt so that delivery need not read it
  /// back; retries read it from the spool, so deferred mail costs no memory for its content.
  std::shared_ptr<const spool::SpoolMessage> message;
};

}  // namespace kurier::delivery
