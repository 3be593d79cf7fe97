// bounce/intake.hpp - what the bounce listener (smtp.inbound) does with a message: read it as a
// bounce, complaint or auto-reply (bounce/report.hpp), find the message it is about (its signed VERP
// address), and record `bounced` or `complained` events for the right recipients. The store's event
// transaction then suppresses hard-bounced and complaining addresses and queues the webhooks. Mail to a
// message's mailto: List-Unsubscribe address (bounce/verp.hpp) becomes an `unsubscribed` event.
#pragma once
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"

namespace kurier::store {
class Store;
}

namespace kurier::bounce {
struct Report;
}

namespace kurier::bounce {

class FeedbackIntake {
 public:
  FeedbackIntake(const Config& config, store::Store& store, std::string secret);

  /// True for the return-path domains of the sending domains (domains.return_path_prefix + "." + the
  /// domain), from a list refreshed every 30 s.
  bool Accepts(const std::string& domain);
  /// The signed mailto: List-Unsubscribe address (RFC 2369) of message `id` sent from `from_domain`, at
  /// its return-path domain; "" when this listener does not take mail for that domain.
  std::string UnsubscribeAddress(const std::string& id, const std::string& from_domain);

  /// Records what `message` reports; "" when done (also for mail that reports nothing: it is logged
  /// and dropped, never retried), else a reason to answer 451 with.
  std::string Process(const std::string& mail_from, const std::vector<std::string>& recipients,
                      const std::string& client_ip, const std::string& message);

 private:
  std::string Unsubscribe(const std::string& id, const std::string& mail_from, const std::string& client_ip,
                          const bounce::Report& report);
  const Config& config_;
  store::Store& store_;
  std::string secret_;
  std::mutex mu_;
  std::set<std::string> domains_;
  int64_t loaded_at_ = 0;
};

}  // namespace kurier::bounce
