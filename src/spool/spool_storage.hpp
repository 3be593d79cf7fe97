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
};

}  // namespace kurier::spool
