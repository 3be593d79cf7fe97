// dispatcher.cpp - the delivery queue (moved out of delivery_manager.cpp): scheduled -> ready per
// destination -> connections, with per-destination limits and spacing.
// STANDARDS: RFC 5321 4.5.4 (retry strategy: one connection carries several messages; limits per
// destination).
#include "delivery/dispatcher.hpp"

#include <algorithm>
#include <vector>

namespace kurier::delivery {

DestinationPolicy ConfiguredPolicy(const DeliveryConfig& config, const std::string& domain) {
  DestinationPolicy out;
  auto it = config.domains.find(domain);
  const DomainPolicy* p = it == config.domains.end() ? nullptr : &it->second;
  out.max_connections = p && p->max_connections ? *p->max_connections : config.max_connections_per_domain;
  out.messages_per_connection = p && p->messages_per_connection ? *p->messages_per_connection : config.max_messages_per_connection;
  out.spacing = p && p->rate_per_minute && *p->rate_per_minute > 0 ? 60'000'000 / *p->rate_per_minute : 0;
  return out;
}

DestinationPolicy ShareOf(DestinationPolicy policy, int nodes) {
  if (nodes <= 1) return policy;
  policy.max_connections = std::max(1, policy.max_connections / nodes);
  policy.spacing *= nodes;
  return policy;
}

Dispatcher::Dispatcher(Clock clock, std::function<DestinationPolicy(const DestinationKey&)> policy, Hooks hooks)
    : now_(std::move(clock)), policy_(std::move(policy)), hooks_(std::move(hooks)) {}

void Dispatcher::Pump() {
  if (stopping_) return;
  const int64_t now = now_();
  while (!scheduled_.empty() && scheduled_.begin()->first <= now) {
    Job job = std::move(scheduled_.begin()->second);
    scheduled_.erase(scheduled_.begin());
    domains_[KeyOf(job)].ready.push_back(std::move(job));
  }
  if (fenced()) return;  // FenceAt pumps again when the fence moves on
  for (auto& [name, d] : domains_) {
    if (suspended_.count(name)) continue;
    // One connection per few ready jobs, up to the per-domain limit.
    if (d.next_send > now) {  // rate-limited: come back when the next message may go
      ArmWake(d.next_send);
      continue;
    }
    // Connections kept open for this destination take its ready jobs first.
    for (size_t woken = 0; woken < d.ready.size() && !d.idle.empty(); ++woken) {
      d.idle.front()->Wake();
      d.idle.pop_front();
    }
    while (!d.ready.empty() && d.active < policy_(name).max_connections &&
           static_cast<size_t>(d.active) * 4 < d.ready.size() + 3) {
      ++d.active;
      hooks_.open(name);
    }
  }
  // Idle domains are forgotten, unless suspended or still inside their rate-limit spacing.
  std::erase_if(domains_, [this, now](const auto& kv) {
    return kv.second.ready.empty() && kv.second.active == 0 && kv.second.next_send <= now && !suspended_.count(kv.first);
  });
  if (!scheduled_.empty()) ArmWake(scheduled_.begin()->first);
}

// Makes sure Pump runs again at `when` (µs since the epoch) or earlier.
void Dispatcher::ArmWake(int64_t when) {
  if (wake_at_ != 0 && wake_at_ <= when && wake_at_ > now_()) return;
  wake_at_ = when;
  hooks_.wake_at(when);
}

void Dispatcher::OnWake() {
  wake_at_ = 0;
  Pump();
}

std::optional<Job> Dispatcher::Take(const DestinationKey& key) {
  if (suspended_.count(key) || fenced()) return std::nullopt;
  auto it = domains_.find(key);
  if (it == domains_.end() || it->second.ready.empty()) return std::nullopt;
  if (int64_t spacing = policy_(key).spacing) {
    const int64_t now = now_();
    if (it->second.next_send > now) {
      ArmWake(it->second.next_send);
      return std::nullopt;
    }
    it->second.next_send = std::max(now, it->second.next_send) + spacing;
  }
  Job j = std::move(it->second.ready.front());
  it->second.ready.pop_front();
  return j;
}

void Dispatcher::ConnectionEnded(const DestinationKey& key) {
  domains_[key].active--;
  Pump();
}

void Dispatcher::ConnectionFailed(const DestinationKey& key) {
  if (auto it = domains_.find(key); it != domains_.end() && it->second.active > 0) it->second.active--;
  Pump();
}

void Dispatcher::RemoveIdle(const DestinationKey& key, IdleConnection* c) {
  auto& waiting = domains_[key].idle;
  waiting.erase(std::remove(waiting.begin(), waiting.end(), c), waiting.end());
}

bool Dispatcher::Suspend(const DestinationKey& key, bool on) {
  return on ? suspended_.insert(key).second : suspended_.erase(key) > 0;
}

int Dispatcher::RetryNow(const std::string& id) {
  int moved = 0;
  const int64_t now = now_();
  std::vector<Job> jobs;
  for (auto it = scheduled_.begin(); it != scheduled_.end();) {
    if (it->second.message_id == id) {
      jobs.push_back(std::move(it->second));
      it = scheduled_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& j : jobs) {
    moved += static_cast<int>(j.rcpts.size());
    scheduled_.emplace(now, std::move(j));
  }
  return moved;
}

void Dispatcher::Forget(const std::string& id) {
  std::erase_if(scheduled_, [&](const auto& kv) { return kv.second.message_id == id; });
  for (auto& [name, d] : domains_) std::erase_if(d.ready, [&](const Job& j) { return j.message_id == id; });
}

void Dispatcher::FenceAt(int64_t until) {
  fence_at_ = until;
  Pump();
}

std::vector<std::string> Dispatcher::MessageIds() const {
  std::set<std::string> ids;
  for (const auto& [due, job] : scheduled_) ids.insert(job.message_id);
  for (const auto& [name, d] : domains_)
    for (const auto& job : d.ready) ids.insert(job.message_id);
  return {ids.begin(), ids.end()};
}

void Dispatcher::Stop() {
  stopping_ = true;
  for (auto& [name, d] : domains_) {  // idle connections say QUIT now
    for (auto* c : d.idle) c->Wake();
    d.idle.clear();
  }
}

size_t Dispatcher::ready(const DestinationKey& key) const {
  auto it = domains_.find(key);
  return it == domains_.end() ? 0 : it->second.ready.size();
}

int Dispatcher::active(const DestinationKey& key) const {
  auto it = domains_.find(key);
  return it == domains_.end() ? 0 : it->second.active;
}

}  // namespace kurier::delivery
