// cluster_member.cpp - heartbeat, housekeeping lock and take-over of a node (cluster_member.hpp).
#include "app/cluster_member.hpp"

#include <spdlog/spdlog.h>

#include "app/app.hpp"
#include "delivery/delivery_manager.hpp"
#include "spool/spool.hpp"
#include "spool/spool_storage.hpp"

namespace kurier::app {

ClusterMember::ClusterMember(const Config& config, spool::Spool& spool, const std::atomic<bool>& draining)
    : config_(config), spool_(spool), draining_(draining) {
  if (config.store_backend != "postgresql") return;
  if (auto r = spool_.Storage().Register(static_cast<int64_t>(config.lease_timeout) * 1'000'000); !r) Fail(r.error().message);
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
  cv_.notify_all();  // a first look for stopped nodes' messages now
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
  if (auto r = storage.Heartbeat(draining_.load(), leading_.load()); !r) spdlog::warn("{}", r.error().message);
  delivery::DeliveryManager* delivery = delivery_.load();
  if (!delivery) return;
  if (auto nodes = storage.Nodes(static_cast<int64_t>(config_.lease_timeout) * 1'000'000); nodes) {
    int live = 0;
    for (const auto& n : nodes.value()) live += n.alive && !n.draining ? 1 : 0;
    delivery->SetLiveNodes(live);
  }
  if (draining_.load()) return;
  auto taken = storage.TakeOver(static_cast<int64_t>(config_.lease_timeout) * 1'000'000);
  if (!taken) return spdlog::warn("{}", taken.error().message);
  if (!taken->empty()) delivery->Adopt(taken.value());
}

}  // namespace kurier::app
