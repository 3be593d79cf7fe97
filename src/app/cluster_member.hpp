// cluster_member.hpp - this node's part in a cluster of nodes sharing one PostgreSQL database (issue 16):
// it registers at start, heartbeats every cluster.lease_timeout / 3, tries for the housekeeping lock
// (retention and DKIM rotation checks run on the holder only) and hands the messages of nodes that
// stopped heartbeating to its delivery (SpoolStorage's cluster methods, spool/postgres/pg_cluster.cpp).
// A node cut off from the database stops starting deliveries half a lease after its last renewed heartbeat
// (fencing), and once back forgets the queued messages other nodes took over meanwhile.
// A single SQLite node is always its own leader and has nothing to take over.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/config.hpp"

namespace kurier::spool {
class Spool;
}
namespace kurier::delivery {
class DeliveryManager;
}

namespace kurier::app {

class ClusterMember {
 public:
  /// Registers this node (exits with the reason when another live node has its name) and starts its
  /// heartbeat thread when the store is PostgreSQL.
  ClusterMember(const Config& config, spool::Spool& spool, const std::atomic<bool>& draining);
  ~ClusterMember();
  /// From now on, messages of stopped nodes go to `delivery` (null: this node does not deliver).
  void SetDelivery(delivery::DeliveryManager* delivery);
  /// This node stops (after the spool's last commit): no more heartbeats; its queued messages go to the
  /// other nodes at once (SpoolStorage::Leave). Nothing for a single SQLite node.
  void Leave();
  /// Whether this node runs the housekeeping now.
  bool Leading() const { return leading_.load(); }

 private:
  void Run();
  void Beat();
  void StopBeating();
  bool Resync(delivery::DeliveryManager& delivery);
  int64_t Lease() const;  ///< cluster.lease_timeout in microseconds
  const Config& config_;
  spool::Spool& spool_;
  const std::atomic<bool>& draining_;
  std::atomic<bool> leading_{true};
  std::atomic<int64_t> last_beat_{0};  ///< when the last renewed heartbeat started (µs since the epoch)
  bool resync_ = false;  ///< the lease lapsed: the queue must drop what other nodes took before delivering again
  std::atomic<delivery::DeliveryManager*> delivery_{nullptr};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kurier::app
