// dispatcher.hpp - the delivery queue: scheduled -> ready per destination -> dispatch to connections.
// Jobs wait in `scheduled` until due, then in their destination's ready queue until a connection takes
// them. Per destination: a connection limit, messages per connection, spacing between messages
// (rate_per_minute) and operator suspension. No I/O and no Asio: time comes from an injected clock,
// and opening a connection or arming the wake-up timer are hooks the owner (DeliveryManager) carries out.
//
// The seam for egress sources and provider shaping: a destination is named by a DestinationKey (today
// the recipient domain) and its limits come from a policy lookup; a pool or a provider's shaping rule
// changes what KeyOf and the lookup return, not the queue.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "delivery/job.hpp"

namespace kurier::delivery {

/// Where a job goes, as far as connection limits and spacing are concerned (the recipient domain).
using DestinationKey = std::string;

/// The limits of one destination.
struct DestinationPolicy {
  int max_connections = 10;
  int messages_per_connection = 100;
  int64_t spacing = 0;  ///< microseconds between two messages (0: unlimited)
};

/// The limits the configuration gives `domain`: [delivery.domain."..."] overrides, else the defaults.
DestinationPolicy ConfiguredPolicy(const DeliveryConfig& config, const std::string& domain);

/// One node's share of a destination's limits when `nodes` live nodes deliver (several nodes on one
/// database): connections divided (rounded down, so the nodes' sum stays within the limit, but at least
/// one each) and the rate divided (the spacing multiplied); messages per connection unchanged.
DestinationPolicy ShareOf(DestinationPolicy policy, int nodes);

/// A connection that waits, open, for the next job of its destination; Wake() ends the wait.
class IdleConnection {
 public:
  virtual void Wake() = 0;

 protected:
  ~IdleConnection() = default;
};

class Dispatcher {
 public:
  struct Hooks {
    /// Start a connection for the destination; its slot is taken already and is given back by
    /// ConnectionEnded (or ConnectionFailed). Called from Pump.
    std::function<void(const DestinationKey&)> open;
    /// Call OnWake() at this time (µs since the epoch), replacing any earlier request.
    std::function<void(int64_t when)> wake_at;
  };
  Dispatcher(Clock clock, std::function<DestinationPolicy(const DestinationKey&)> policy, Hooks hooks);

  static const DestinationKey& KeyOf(const Job& job) { return job.domain; }
  DestinationPolicy PolicyOf(const DestinationKey& key) const { return policy_(key); }

  /// Adds a job due at `due` (µs); Pump moves it on.
  void Schedule(int64_t due, Job job) { scheduled_.emplace(due, std::move(job)); }
  /// Moves due jobs to their ready queues, wakes idle connections for ready jobs and opens connections
  /// (one per few ready jobs, up to the limit); arms the wake-up for the next due job or spacing.
  void Pump();
  /// The wake-up requested through Hooks::wake_at came.
  void OnWake();
  /// The next ready job of the destination for a connection: none when suspended, empty or inside its
  /// spacing (then a wake-up is armed for when it ends).
  std::optional<Job> Take(const DestinationKey& key);
  /// Puts a job back at the head of its destination's ready queue (next in line for this connection).
  void PushFront(Job job) { domains_[KeyOf(job)].ready.push_front(std::move(job)); }
  /// A connection ended: its slot is given back and the queue pumped.
  void ConnectionEnded(const DestinationKey& key);
  /// A connection ended by an exception: the same, but only for a destination still known.
  void ConnectionFailed(const DestinationKey& key);
  void AddIdle(const DestinationKey& key, IdleConnection* c) { domains_[key].idle.push_back(c); }
  void RemoveIdle(const DestinationKey& key, IdleConnection* c);

  /// Operator actions. Suspend returns whether anything changed; RetryNow makes the message's
  /// scheduled jobs due now and returns how many recipients they hold; Forget drops its jobs.
  bool Suspend(const DestinationKey& key, bool on);
  bool suspended(const DestinationKey& key) const { return suspended_.count(key) > 0; }
  const std::set<DestinationKey>& suspended_destinations() const { return suspended_; }
  int RetryNow(const std::string& message_id);
  void Forget(const std::string& message_id);
  /// No connection is opened any more; idle ones are woken (they say QUIT).
  void Stop();
  /// Several nodes on one database: no job starts at or after `until` (µs since the epoch; 0: no limit).
  /// A node moves it on after each heartbeat it renewed, so one cut off from the database stops sending
  /// before another node may take its messages over (app/cluster_member.cpp). Pumps when it moves on.
  void FenceAt(int64_t until);
  bool fenced() const { return fence_at_ != 0 && now_() >= fence_at_; }
  /// The messages of the jobs waiting here (scheduled or ready), each once.
  std::vector<std::string> MessageIds() const;
  bool stopping() const { return stopping_; }

  // For tests and logs.
  size_t ready(const DestinationKey& key) const;
  int active(const DestinationKey& key) const;
  size_t scheduled() const { return scheduled_.size(); }

 private:
  struct Destination {
    std::deque<Job> ready;
    int active = 0;
    int64_t next_send = 0;  // rate limit: no message to this destination before this time (µs)
    std::deque<IdleConnection*> idle;  // connections waiting for the next message
  };
  void ArmWake(int64_t when);

  Clock now_;
  std::function<DestinationPolicy(const DestinationKey&)> policy_;
  Hooks hooks_;
  std::map<DestinationKey, Destination> domains_;
  std::multimap<int64_t, Job> scheduled_;  // due time (µs) -> job
  std::set<DestinationKey> suspended_;     // destinations an operator suspended: their jobs wait
  bool stopping_ = false;
  int64_t fence_at_ = 0;  // no job starts from this time on (µs), 0: no fence
  int64_t wake_at_ = 0;  // when the wake-up comes (µs), 0: not armed
};

}  // namespace kurier::delivery
