// delivery_manager.hpp - the outbound side: scheduled -> ready queue per recipient domain ->
// connections that resolve the domain's route and deliver with connection reuse.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"

namespace boost::asio {
class io_context;
}
namespace kurier::store {
class Store;
}
namespace kurier::spool {
class Spool;
struct SpoolMessage;
struct RecipientState;
}
namespace kurier::dns {
class Resolver;
}
namespace kurier::tracking {
struct Outbound;
}

namespace kurier::delivery {

class DeliveryManager {
 public:
  DeliveryManager(const Config& config, store::Store& store, spool::Spool& spool, dns::Resolver& resolver,
                  boost::asio::io_context& ioc);
  ~DeliveryManager();
  /// Rebuilds the queue from the spool and starts delivering; new messages arrive through the
  /// spool's commit listener.
  Result<void> Start();
  /// Stops starting new connections (current transactions finish or are cut by shutdown).
  void Stop();
  /// Delivers recipients this node took over from a stopped node (SpoolStorage::TakeOver); any thread.
  void Adopt(const std::vector<spool::RecipientState>& pending);
  /// How many live nodes deliver from the same database: each takes its share of every destination's
  /// connection and rate limits (ShareOf), so the cluster as a whole keeps them. Any thread.
  void SetLiveNodes(int nodes);
  /// Several nodes: no delivery starts at or after `until` (µs since the epoch; Dispatcher::FenceAt). Any thread.
  void FenceAt(int64_t until);
  /// The messages of the jobs waiting in the queue; nullopt when the manager's strand did not answer within
  /// `wait` (stopped). Any thread but the manager's own.
  std::optional<std::vector<std::string>> QueuedMessages(std::chrono::milliseconds wait);
  /// Drops the waiting jobs of these messages, leaving the spool as it is (another node owns them now). Any thread.
  void Forget(std::vector<std::string> message_ids);
  /// Several nodes: the destinations suspended in the database, read at `read_at` (µs since the epoch), so a
  /// `queue suspend|resume` through another node holds or frees this node's queue too. A destination this
  /// node suspended or resumed itself less than 2 s before `read_at` keeps its own state (its commit may not be
  /// in the database yet). Any thread.
  void MatchSuspensions(std::vector<std::string> suspended, int64_t read_at);

  /// Operator actions; `done` receives a one-line answer (on the manager's strand).
  void Retry(const std::string& message_id, std::function<void(bool, std::string)> done);
  /// Retries other nodes asked for (`queue retry` through them) of messages this node owns.
  void RetryRequested(std::vector<std::string> message_ids);
  void Delete(const std::string& message_id, std::function<void(bool, std::string)> done);
  void Suspend(const std::string& domain, bool suspended, std::function<void(bool, std::string)> done);

  struct DrillResult {
    std::string relay;  ///< masked URL
    bool ok = false;
    std::string detail;  ///< what passed, or why it failed
  };
  /// The fail-over drill: a probe through every backup relay; `done` runs on the manager's strand.
  /// Each outcome is also an event (failover_test / failover_test_failed), and given to `each` as soon
  /// as it is known (each relay's probe is bounded by delivery.greeting_timeout until it greets).
  void Drill(std::function<void(std::vector<DrillResult>)> done, std::function<void(const DrillResult&)> each = {});

  /// Open/click tracking and List-Unsubscribe as each message leaves, before DKIM signing
  /// (tracking::TrackSubmitted with `outbound`'s link base, key, mailto: addresses and account defaults).
  /// None until this is called.
  void SetTracking(const tracking::Outbound& outbound);
  /// A message's copy as it leaves: `data` "" leaves the message as stored; `per_recipient` says the
  /// copy names its recipient (tracked links), so each recipient gets a transaction of its own, one after
  /// another on the same connection.
  struct Transformed {
    std::string data;
    bool per_recipient = false;
  };

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kurier::delivery
