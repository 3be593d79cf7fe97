// pg_cluster.cpp - several nodes on one PostgreSQL database (issue 16): who is alive, who delivers which
// message and who runs the housekeeping (pg_spool_storage.hpp, SpoolStorage's cluster methods).
//
// Every node heartbeats its row of spool_nodes with the database's clock (never its own, so clock skew
// between machines does not matter). A message belongs to the node that accepted it (spool_messages.owner);
// a node delivers only its own. When a node's heartbeat is older than cluster.lease_timeout, the first
// other node to look takes its messages over (UPDATE ... FOR UPDATE SKIP LOCKED: one taker per message)
// and delivers their pending recipients. What the stopped node was sending when it stopped may be sent
// again (at most the transactions in flight on it); a node cut off from the database but still running
// fences itself by time (app/cluster_member.cpp) and, once back, keeps only what it still owns (OwnedAmong).
// The housekeeping leader holds a session-level advisory lock on a connection of its own: PostgreSQL frees
// it when that session ends (node stopped, crashed or cut off), and the next node to try takes it.
// A node that stops cleanly (SIGTERM, `kurier serve --drain`) leaves: it dates its heartbeat back to the
// epoch after its last commit, so the other nodes take its queue at their next look, not a lease later.
// STANDARDS: PostgreSQL 15 (pg_try_advisory_lock, SELECT ... FOR UPDATE SKIP LOCKED, clock_timestamp()).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "spool/postgres/pg_spool_storage.hpp"
#include "store/postgres/pg_args.hpp"
#include "store/postgres/pg_db.hpp"
#include "store/postgres/pg_pool.hpp"

namespace kurier::spool {

namespace pg = store::pg;
using pg::Args;

namespace {

// The database's clock in microseconds since the epoch.
constexpr const char* kNow = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";
// Any fixed 64-bit key: the housekeeping lock of every node of this database.
constexpr const char* kLeaderKey = "7212937146425930573";

std::string HostName() {
  char host[256] = {};
  (void)gethostname(host, sizeof host - 1);
  return host;
}

Error ClusterError(const std::string& what, const std::exception& e) {
  return MakeError(ErrorCode::kTemporary, "cluster: cannot " + what + ": " + e.what() +
                                              "; check that the PostgreSQL server in store.url runs and accepts this node");
}

}  // namespace

Result<void> PgSpoolStorage::Register(int64_t lease) {
  try {
    auto c = pool_->Acquire();
    auto r = c->Exec(std::string("SELECT instance, hostname, ") + kNow + " - heartbeat_at FROM spool_nodes WHERE name = $1",
                     Args(node_));
    // A fresh heartbeat under this name from another machine is another node configured with this name. From
    // this machine it is this node's previous process (killed, or restarted at once): one process per data
    // directory (the event journal's lock), and the default name holds the data directory.
    if (r.Rows() > 0 && r.Text(0, 0) != instance_ && r.Text(0, 1) != HostName() && r.Int(0, 2) < lease)
      return MakeError(ErrorCode::kConfig,
                       "another kurier node named '" + node_ + "' (on " + std::string(r.Text(0, 1)) +
                           ") is alive on this database (its heartbeat is " + std::to_string(r.Int(0, 2) / 1000000) +
                           " s old): give each node its own cluster.node_name, or stop the other one first");
  } catch (const std::exception& e) {
    return ClusterError("register this node", e);
  }
  return Heartbeat(false, false);
}

Result<void> PgSpoolStorage::Heartbeat(bool draining, bool leader) {
  try {
    auto c = pool_->Acquire();
    c->Exec(std::string("INSERT INTO spool_nodes (name, instance, hostname, started_at, heartbeat_at, draining, leader) "
                        "VALUES ($1, $2, $3, ") + kNow + ", " + kNow + ", $4, $5) ON CONFLICT (name) DO UPDATE SET "
                        "started_at = CASE WHEN spool_nodes.instance = excluded.instance THEN spool_nodes.started_at "
                        "ELSE excluded.started_at END, instance = excluded.instance, hostname = excluded.hostname, "
                        "heartbeat_at = excluded.heartbeat_at, draining = excluded.draining, leader = excluded.leader",
            Args(node_, instance_, HostName(), draining, leader));
  } catch (const std::exception& e) {
    return ClusterError("renew this node's heartbeat", e);
  }
  return {};
}

Result<std::vector<RecipientState>> PgSpoolStorage::TakeOver(int64_t lease) {
  try {
    auto c = pool_->Acquire();
    // Messages of nodes that stopped heartbeating, and of no registered node; SKIP LOCKED: a message
    // another node is taking (or whose owner's last transaction is still open) is left to it.
    auto r = c->Exec(
        std::string("WITH stale AS (SELECT name FROM spool_nodes WHERE heartbeat_at < ") + kNow +
            " - $2 AND name <> $1), "
            "moved AS (UPDATE spool_messages m SET owner = $1 WHERE m.id IN (SELECT id FROM spool_messages "
            "WHERE owner <> $1 AND (owner IN (SELECT name FROM stale) OR owner NOT IN (SELECT name FROM spool_nodes)) "
            "FOR UPDATE SKIP LOCKED) RETURNING m.id, m.received_at) "
            "SELECT r.message_id, r.idx, r.address, r.domain, r.status, r.attempts, r.next_attempt, r.last_reply, "
            "moved.received_at FROM spool_recipients r JOIN moved ON moved.id = r.message_id "
            "WHERE r.status = 'queued' ORDER BY r.message_id, r.idx",
        Args(node_, lease));
    std::vector<RecipientState> out;
    for (int i = 0; i < r.Rows(); ++i)
      out.push_back(RecipientState{std::string(r.Text(i, 0)), static_cast<int>(r.Int(i, 1)), FromBytea(r.Text(i, 2)),
                                   FromBytea(r.Text(i, 3)), std::string(r.Text(i, 4)), static_cast<int>(r.Int(i, 5)),
                                   r.Int(i, 6), FromBytea(r.Text(i, 7)), r.Int(i, 8)});
    return out;
  } catch (const std::exception& e) {
    return ClusterError("take over the messages of stopped nodes", e);
  }
}

Result<bool> PgSpoolStorage::Lead() {
  std::lock_guard lock(lead_mu_);
  try {
    if (leader_) {
      leader_->Exec("SELECT 1");  // the lock lives as long as this session
      return true;
    }
    auto c = std::make_unique<pg::Connection>(pg::Connection::Open(url_));
    if (c->Exec(std::string("SELECT pg_try_advisory_lock(") + kLeaderKey + ")").Text(0, 0) != "t") return false;
    leader_ = std::move(c);
    spdlog::info("cluster: node {} runs the housekeeping now", node_);
    return true;
  } catch (const std::exception& e) {
    if (leader_) spdlog::warn("cluster: node {} lost the housekeeping lock: {}", node_, e.what());
    leader_.reset();  // a lost session has freed the lock for another node
    return false;
  }
}

Result<std::vector<SpoolStorage::Node>> PgSpoolStorage::Nodes(int64_t lease) {
  try {
    auto c = pool_->Acquire();
    auto r = c->Exec(std::string("SELECT n.name, n.hostname, n.started_at, ") + kNow +
                         " - n.heartbeat_at, n.draining, n.leader, "
                         "(SELECT count(*) FROM spool_messages m WHERE m.owner = n.name) FROM spool_nodes n ORDER BY n.name",
                     {});
    std::vector<Node> out;
    for (int i = 0; i < r.Rows(); ++i) {
      Node n;
      n.name = r.Text(i, 0);
      n.hostname = r.Text(i, 1);
      n.started_at = r.Int(i, 2);
      n.heartbeat_age = r.Int(i, 3);
      n.alive = n.heartbeat_age < lease;
      n.draining = r.Text(i, 4) == "t";
      n.leader = n.alive && r.Text(i, 5) == "t";
      n.messages = r.Int(i, 6);
      out.push_back(std::move(n));
    }
    return out;
  } catch (const std::exception& e) {
    return ClusterError("list the nodes", e);
  }
}

Result<void> PgSpoolStorage::Leave() {
  {
    std::lock_guard lock(lead_mu_);
    leader_.reset();  // ends the session: the housekeeping lock is free for the next node at once
  }
  try {
    auto c = pool_->Acquire();
    // A heartbeat at the epoch: every other node sees this one stopped and takes its messages at its next
    // look. Only this process's row (instance): a restarted process with this name may have beaten already.
    c->Exec("UPDATE spool_nodes SET heartbeat_at = 0, draining = true, leader = false WHERE name = $1 AND instance = $2",
            Args(node_, instance_));
  } catch (const std::exception& e) {
    return ClusterError("hand this node's messages to the other nodes", e);
  }
  return {};
}

Result<bool> PgSpoolStorage::Owns(const std::string& id) {
  try {
    auto c = pool_->Acquire();
    return c->Exec("SELECT EXISTS(SELECT 1 FROM spool_messages WHERE id = $1 AND owner = $2)", Args(id, node_)).Text(0, 0) == "t";
  } catch (const std::exception& e) {
    return ClusterError("check that this node still owns message " + id, e);
  }
}

Result<std::optional<std::string>> PgSpoolStorage::RequestRetry(const std::string& id) {
  try {
    auto c = pool_->Acquire();
    // One statement: the owner is read and the request left (or its time renewed) together, so a message
    // deleted meanwhile leaves nothing (and its request goes with it, ON DELETE CASCADE).
    auto r = c->Exec(
        "WITH m AS (SELECT id, owner FROM spool_messages WHERE id = $1), "
        "r AS (INSERT INTO spool_retry_requests (message_id, requested_at) "
        "      SELECT id, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint FROM m WHERE owner <> $2 "
        "      ON CONFLICT (message_id) DO UPDATE SET requested_at = EXCLUDED.requested_at RETURNING 1) "
        "SELECT owner FROM m",
        Args(id, node_));
    if (r.Rows() == 0) return std::optional<std::string>();
    const std::string owner(r.Text(0, 0));
    return std::optional<std::string>(owner == node_ ? std::string() : owner);
  } catch (const std::exception& e) {
    return ClusterError("leave a retry of message " + id + " for the node that owns it", e);
  }
}

Result<std::vector<std::string>> PgSpoolStorage::TakeRetryRequests() {
  try {
    auto c = pool_->Acquire();
    auto r = c->Exec(
        "DELETE FROM spool_retry_requests r USING spool_messages m "
        "WHERE m.id = r.message_id AND m.owner = $1 RETURNING r.message_id",
        Args(node_));
    std::vector<std::string> ids;
    for (int i = 0; i < r.Rows(); ++i) ids.emplace_back(r.Text(i, 0));
    return ids;
  } catch (const std::exception& e) {
    return ClusterError("read the retries other nodes asked for", e);
  }
}

Result<std::vector<std::string>> PgSpoolStorage::OwnedAmong(const std::vector<std::string>& ids) {
  try {
    auto c = pool_->Acquire();
    std::vector<std::string> owned;
    constexpr std::size_t kChunk = 10000;  // ids per statement
    for (std::size_t start = 0; start < ids.size(); start += kChunk) {
      const std::vector<std::string> chunk(ids.begin() + start, ids.begin() + std::min(ids.size(), start + kChunk));
      auto r = c->Exec("SELECT id FROM spool_messages WHERE owner = $1 AND id = ANY($2::text[])",
                       Args(node_, ArrayOf(chunk)));
      for (int i = 0; i < r.Rows(); ++i) owned.emplace_back(r.Text(i, 0));
    }
    return owned;
  } catch (const std::exception& e) {
    return ClusterError("check which messages this node still owns", e);
  }
}

}  // namespace kurier::spool
