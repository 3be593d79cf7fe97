// cluster_member.cpp - heartbeat, housekeeping lock and take-over of a node (cluster_member.hpp).
#include "app/cluster_member.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "app/app.hpp"
#include "common/ids.hpp"
#include "delivery/delivery_manager.hpp"
#include "spool/spool.hpp"
#include "spool/spool_storage.hpp"

namespace kurier::app {

ClusterMember::ClusterMember(const Config& config, spool::Spool& spool, const std::atomic<bool>& draining)
    : config_(config), spool_(spool), draining_(draining) {
  if (config.store_backend != "postgresql") return;
  last_beat_ = NowMicros();
  if (auto r = spool_.Storage().Register(Lease()); !r) Fail(r.error().message);
  leading_ = false;
  Beat();
  thread_ = std::thread([this] { Run(); });
}

ClusterMember::~ClusterMember() { StopBeating(); }

void ClusterMember::StopBeating() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClusterMember::Leave() {
  if (config_.store_backend != "postgresql") return;
  StopBeating();
  leading_ = false;
  if (auto r = spool_.Storage().Leave(); !r) return spdlog::warn("{}", r.error().message);
  spdlog::info("cluster: node {} left; the other nodes take its queued messages now", config_.node_name);
}

void ClusterMember::SetDelivery(delivery::DeliveryManager* delivery) {
  delivery_ = delivery;
  if (delivery && config_.store_backend == "postgresql") delivery->FenceAt(last_beat_.load() + Lease() / 2);
  cv_.notify_all();  // a first look for stopped nodes' messages now
}

int64_t ClusterMember::Lease() const { return static_cast<int64_t>(config_.lease_timeout) * 1'000'000; }

// The heartbeat renewed after a gap longer than the lease: other nodes may have taken this node's messages
// over meanwhile. Its queue keeps only the jobs of messages it still owns; false when that is not known.
bool ClusterMember::Resync(delivery::DeliveryManager& delivery) {
  auto queued = delivery.QueuedMessages(std::chrono::seconds(5));
  if (!queued) return false;
  auto owned = spool_.Storage().OwnedAmong(queued.value());
  if (!owned) {
    spdlog::warn("{}", owned.error().message);
    return false;
  }
  const std::set<std::string> keep(owned->begin(), owned->end());
  std::vector<std::string> gone;
  for (auto& id : queued.value())
    if (!keep.count(id)) gone.push_back(std::move(id));
  if (gone.empty()) return true;
  spdlog::warn("cluster: node {} was cut off from the database for longer than cluster.lease_timeout; {} of its queued "
               "message(s) now belong to other nodes and are dropped from its queue", config_.node_name, gone.size());
  delivery.Forget(std::move(gone));
  return true;
}

void ClusterMember::Run() {
  const auto interval = std::chrono::milliseconds(std::max(1000, config_.lease_timeout * 1000 / 3));
  std::unique_lock l(mu_);
  while (!stop_) {
    cv_.wait_for(l, interval);
    if (stop_) break;
    l.unlock();
    Beat();
    l.lock();
  }
}

void ClusterMember::Beat() {
  spool::SpoolStorage& storage = spool_.Storage();
  auto lead = storage.Lead();
  const bool was = leading_.exchange(lead && lead.value());
  if (was && !leading_) spdlog::warn("cluster: node {} no longer runs the housekeeping", config_.node_name);
  // Fencing: the other nodes count this node stopped once its heartbeat (the database's time of the
  // UPDATE, after `started`) is older than the lease. Deliveries start only until half a lease after the
  // last renewed heartbeat, so a node cut off from the database stops sending well before another may
  // take its messages over (whatever the heartbeat call does meanwhile: it may hang on a lost network).
  const int64_t started = NowMicros();
  delivery::DeliveryManager* delivery = delivery_.load();
  if (auto r = storage.Heartbeat(draining_.load(), leading_.load()); !r) {
    spdlog::warn("{}", r.error().message);
    return;
  }
  // Lapsed: the database may have seen no heartbeat for longer than the lease (up to when this one finished).
  if (NowMicros() - last_beat_.exchange(started) > Lease()) resync_ = true;
  if (!delivery) return;
  if (resync_ && !Resync(*delivery)) return;  // fenced until it knows which queued messages are still its own
  resync_ = false;
  delivery->FenceAt(started + Lease() / 2);
  if (auto nodes = storage.Nodes(Lease()); nodes) {
    int live = 0;
    for (const auto& n : nodes.value()) live += n.alive && !n.draining ? 1 : 0;
    delivery->SetLiveNodes(live);
  }
  // A `queue suspend|resume` through another node reaches this one's queue at its next beat.
  const int64_t read_at = NowMicros();
  if (auto suspended = storage.SuspendedDomains(); suspended) delivery->MatchSuspensions(std::move(suspended.value()), read_at);
  if (auto retries = storage.TakeRetryRequests(); !retries) {
    spdlog::warn("{}", retries.error().message);
  } else if (!retries->empty()) {
    delivery->RetryRequested(std::move(retries.value()));
  }
  if (draining_.load()) return;
  auto taken = storage.TakeOver(Lease());
  if (!taken) return spdlog::warn("{}", taken.error().message);
  if (!taken->empty()) delivery->Adopt(taken.value());
}

}  // namespace kurier::app
