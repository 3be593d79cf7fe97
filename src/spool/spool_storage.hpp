// spool_storage.hpp - what the spool needs from a storage backend: the transaction of one group commit
// (messages in, delivery results applied, messages' contexts read before a final result removes them)
// and the reads that rebuild the queue. The spool keeps the committer thread, the batching and the
// acknowledgement after the durable commit; a backend only stores and queries. The embedded backend is
// SQLite (sqlite/sqlite_spool_storage.hpp); several nodes share one PostgreSQL database through
// postgres/pg_spool_storage.hpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "spool/spool.hpp"
#include "store/message_context.hpp"
#include "store/store.hpp"

namespace kurier::spool {

class SpoolStorage {
 public:
  virtual ~SpoolStorage() = default;

  // One group commit, from the committer thread only: Begin, then any of Insert / Context / Apply,
  // then Commit, or Rollback after a failure (or an exception).
  /// `durable`: the commit must be on stable storage when Commit returns (new messages are
  /// acknowledged after it); otherwise it may reach the disk with the next durable one.
  virtual Result<void> Begin(bool durable) = 0;
  virtual Result<void> Insert(const std::vector<const SpoolMessage*>& messages) = 0;
  /// The account, sender, tags and metadata of a message still in the spool (nullopt: not there).
  virtual Result<std::optional<store::MessageContext>> Context(const std::string& message_id) = 0;
  virtual Result<void> Apply(const SpoolChanges& changes) = 0;
  /// Records `events` (the messages' accepted events, the results' delivery events) in this transaction,
  /// so they commit with what they tell of: true when it did; false when this backend leaves them to the
  /// spool, which records them after the commit (SQLite: the store is another file).
  virtual Result<bool> Events(const std::vector<store::Event>& events) { return false; }
  virtual Result<void> Commit() = 0;
  virtual void Rollback() = 0;

  // Reads, from any thread, beside the commits.
  virtual Result<std::vector<RecipientState>> PendingRecipients() = 0;
  virtual Result<std::vector<SpoolMessage>> List(std::size_t limit) = 0;
  virtual Result<std::optional<SpoolMessage>> Get(const std::string& id) = 0;
  virtual Result<int64_t> Count() = 0;
  /// The message states are spool/message_state.hpp's, decided by the backend's query as
  /// RecipientStatus and MessageStatus decide them (spool_test holds the two together).
  virtual Result<QueueCounts> CountByState(int64_t now) = 0;
  virtual Result<std::vector<SpoolMessage>> ListPage(const QueuePage& page) = 0;
  virtual Result<std::vector<std::string>> SuspendedDomains() = 0;

  /// Campaigns: which of `contact_ids` have a message of campaign `campaign_id` (recorded with the message
  /// by Insert, SpoolMessage::campaign_id), and how many contacts have one.
  virtual Result<std::vector<int64_t>> CampaignSent(const std::string& campaign_id, const std::vector<int64_t>& contact_ids) {
    return MakeError(ErrorCode::kInternal, "this spool storage keeps no campaign sends");
  }
  virtual Result<int64_t> CampaignSentCount(const std::string& campaign_id) {
    return MakeError(ErrorCode::kInternal, "this spool storage keeps no campaign sends");
  }

  // Several nodes on one database (the PostgreSQL backend; a single-node backend keeps these defaults).
  // A message belongs to the node that accepted it, or that took it over from a node that stopped
  // heartbeating; PendingRecipients gives this node's only, so no two live nodes deliver one message.
  /// A node as the cluster sees it (`kurier cluster status`).
  struct Node {
    std::string name, hostname;
    int64_t started_at = 0;     ///< microseconds
    int64_t heartbeat_age = 0;  ///< microseconds since its last heartbeat (the database's clock)
    bool alive = false, draining = false, leader = false;
    int64_t messages = 0;       ///< messages it owns
  };
  /// Registers this node at start; refused when another live node (heartbeat within `lease`) has its name.
  virtual Result<void> Register(int64_t lease) { return {}; }
  /// Renews this node's heartbeat (every cluster.lease_timeout / 3), with whether it drains and leads.
  virtual Result<void> Heartbeat(bool draining, bool leader) { return {}; }
  /// Makes this node the owner of the messages of nodes whose heartbeat is older than `lease` (and of
  /// messages of no registered node); returns their pending recipients for delivery.
  virtual Result<std::vector<RecipientState>> TakeOver(int64_t lease) { return std::vector<RecipientState>{}; }
  /// Whether this node runs the housekeeping (retention, DKIM rotation checks): one node at a time holds
  /// it, until it stops; a single node always does.
  virtual Result<bool> Lead() { return true; }
  /// Every registered node, `lease` deciding which are alive.
  virtual Result<std::vector<Node>> Nodes(int64_t lease) { return std::vector<Node>{}; }
  /// This node stops cleanly (after its last commit): its queued messages go to the other nodes at their
  /// next look (TakeOver), without waiting for the lease to run out, and it gives up the housekeeping.
  virtual Result<void> Leave() { return {}; }
  /// Which of these messages this node still owns (a node whose lease ran out asks, and forgets the rest:
  /// another node took them over). A single node owns every message it has.
  virtual Result<std::vector<std::string>> OwnedAmong(const std::vector<std::string>& ids) { return ids; }
  /// Whether this node still owns the message, asked just before a delivery transaction: not when it was
  /// deleted or cancelled through another node, or taken over while this node was cut off. A single node
  /// answers true without asking (its queue is the spool).
  virtual Result<bool> Owns(const std::string& id) { return true; }
  /// `queue retry` through a node that does not own the message: leaves the request for its owner and
  /// answers the owner's name (nullopt: no such message; empty: this node owns it, nothing to leave).
  virtual Result<std::optional<std::string>> RequestRetry(const std::string& id) { return std::optional<std::string>(""); }
  /// The retries other nodes asked for this node's messages since the last call (each given once).
  virtual Result<std::vector<std::string>> TakeRetryRequests() { return std::vector<std::string>{}; }
};

}  // namespace kurier::spool
