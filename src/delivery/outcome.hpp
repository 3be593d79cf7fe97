// outcome.hpp - what a delivery attempt's results mean: per recipient delivered, deferred (retried on
// the queue.retry_* schedule), bounced or expired (queue.max_lifetime); the spool update and the
// delivery events; an RFC 3464 DSN to the sender for the failed; and the suppression check made just
// before a message is attempted. The decisions are pure functions (Decide, SplitSuppressed, MakeDsn);
// Outcomes applies them to the spool and store.
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "delivery/dsn.hpp"
#include "delivery/job.hpp"
#include "smtp/proto/client_session.hpp"
#include "spool/spool.hpp"
#include "store/store.hpp"

namespace kurier::delivery {

/// What one transaction's results decide.
struct Decision {
  std::vector<spool::RecipientUpdate> updates;
  std::vector<store::Event> events;  ///< delivered / deferred / bounced, one per recipient
  std::vector<DsnRecipient> failed;  ///< bounced (or expired) recipients, for the DSN
  Job retry;                         ///< the deferred recipients (empty rcpts: none), due at retry_due
  int64_t retry_due = 0;
};
/// `results` holds one result per recipient of `job`; `mx` and `tls` describe the connection,
/// `selectors` the DKIM keys that signed. Logs one line per recipient.
Decision Decide(const QueuePolicy& queue, const Job& job, const std::vector<smtp::proto::RecipientResult>& results,
                const std::string& mx, const std::string& tls, const std::vector<std::string>& selectors, int64_t now,
                std::mt19937& rng);

/// Recipients found on a suppression list become final as "suppressed"; `left` are the others.
struct SuppressionSplit {
  std::vector<spool::RecipientUpdate> updates;
  std::vector<store::Event> events;
  std::vector<Job::Rcpt> left;
};
SuppressionSplit SplitSuppressed(const Job& job, const std::vector<store::Suppression>& found, int64_t now);

/// The DSN (null sender, to the original's envelope sender) for `failed` recipients of `original`,
/// and its "dsn" event for the original message.
std::pair<spool::SpoolMessage, store::Event> MakeDsn(const std::string& hostname, const std::string& queue_id,
                                                     const spool::SpoolMessage& original,
                                                     const std::vector<DsnRecipient>& failed, int64_t now);

class Outcomes {
 public:
  Outcomes(const Config& config, store::Store& store, spool::Spool& spool, Clock clock);

  struct Retry {
    int64_t due = 0;
    Job job;
  };
  /// Applies one transaction's outcome: spool updates, events, a DSN; returns the deferred recipients'
  /// job for the queue. `message` is the spooled message when the caller has it loaded (needed only
  /// for a DSN).
  std::optional<Retry> Record(const Job& job, const std::vector<smtp::proto::RecipientResult>& results,
                              const std::string& mx, const std::string& tls, const spool::SpoolMessage* message,
                              const std::vector<std::string>& dkim_selectors = {});
  /// Every recipient of `job` gets the same (local) reply.
  std::optional<Retry> FailAll(const Job& job, const smtp::proto::ServerReply& reply, const std::string& mx);
  /// Recipients on the account's (or the global) suppression list are not attempted; false when no
  /// recipient is left.
  bool DropSuppressed(Job& job, const spool::SpoolMessage& message);

 private:
  void SendDsn(const Job& job, const std::vector<DsnRecipient>& failed, const spool::SpoolMessage* message,
               std::vector<store::Event>& events);

  const Config& config_;
  store::Store& store_;
  spool::Spool& spool_;
  Clock now_;
  std::mt19937 rng_;
};

}  // namespace kurier::delivery
