// pg_spool_storage.hpp - the spool's PostgreSQL backend (issue 16): the twin of
// sqlite/sqlite_spool_storage.hpp for nodes that share one database. The committer's transaction holds a
// connection of its own; the reads (from any thread) lease connections from a bounded pool.
// STANDARDS: PostgreSQL 15 (libpq, bytea, PL/pgSQL, SET LOCAL synchronous_commit).
// Durability: Begin(true) runs its transaction with synchronous_commit = on, so Commit returns only after
// the server flushed the commit record to its WAL (and to a synchronous standby when one is configured);
// only then does the spool acknowledge the batch's messages. Begin(false) (delivery results alone) uses
// synchronous_commit = off: a server crash may lose the last such commits, which only repeats deliveries.
// A COMMIT that fails (connection lost, server shut down) is reported as a failure, so nothing is
// acknowledged; the transaction may still have committed, and the senders' retries then spool the same
// message twice (the SQLite backend has no such window).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "spool/spool_storage.hpp"
#include "store/postgres/pg_migrate.hpp"

namespace kurier::store::pg {
class Pool;
}  // namespace kurier::store::pg

namespace kurier::spool {

/// A bytea value as the server sends it in text: the hex format ("\x..."), or the escape format.
std::string FromBytea(std::string_view text);
/// A PostgreSQL array literal of `items` ({"a","b\"c"}), each element quoted: one text[] parameter.
std::string ArrayOf(const std::vector<std::string>& items);

class PgSpoolStorage final : public SpoolStorage {
 public:
  /// Connects to `url` (store.url), applies the spool's migrations (Migrations()) when `migrate` (else the
  /// schema must be the one this kurier knows: `kurier serve`) and opens a pool of at most `pool_size`
  /// connections for the reads. Refused, saying what to do, when the server cannot be reached or the
  /// database's spool schema is not one this kurier can use.
  /// `node` (cluster.node_name) owns the messages this storage inserts and delivers its own (TakeOver).
  static Result<std::unique_ptr<PgSpoolStorage>> Open(const std::string& url, std::size_t pool_size = 4,
                                                      bool migrate = true, const std::string& node = "");
  /// The spool's schema history (tables spool_messages, spool_recipients, spool_suspended_domains and the
  /// function spool_apply_updates), for `kurier db migrate`.
  static store::pg::MigrationSet Migrations();
  ~PgSpoolStorage() override;

  Result<void> Begin(bool durable) override;
  Result<void> Insert(const std::vector<const SpoolMessage*>& messages) override;
  Result<std::optional<store::MessageContext>> Context(const std::string& message_id) override;
  Result<void> Apply(const SpoolChanges& changes) override;
  Result<bool> Events(const std::vector<store::Event>& events) override;
  /// How Events() writes into the batch's transaction: the store's event rules on the spool's connection
  /// (store::postgres::PgStore::WriteEventsOn, the same database), returning the webhook deliveries it
  /// queued; `committed` gets their number after the commit. Unset: Events() leaves them to the spool.
  using EventWriter = std::function<Result<int>(store::pg::Connection&, const std::vector<store::Event>&)>;
  void SetEventWriter(EventWriter write, std::function<void(int)> committed);
  Result<void> Commit() override;
  void Rollback() override;

  Result<std::vector<RecipientState>> PendingRecipients() override;
  Result<std::vector<SpoolMessage>> List(std::size_t limit) override;
  Result<std::optional<SpoolMessage>> Get(const std::string& id) override;
  Result<int64_t> Count() override;
  Result<QueueCounts> CountByState(int64_t now) override;
  Result<std::vector<SpoolMessage>> ListPage(const QueuePage& page) override;
  Result<std::vector<std::string>> SuspendedDomains() override;
  // pg_cluster.cpp
  Result<void> Register(int64_t lease) override;
  Result<void> Heartbeat(bool draining, bool leader) override;
  Result<std::vector<RecipientState>> TakeOver(int64_t lease) override;
  Result<bool> Lead() override;
  Result<std::vector<Node>> Nodes(int64_t lease) override;
  Result<void> Leave() override;
  Result<std::vector<std::string>> OwnedAmong(const std::vector<std::string>& ids) override;
  Result<bool> Owns(const std::string& id) override;
  Result<std::vector<int64_t>> CampaignSent(const std::string& campaign_id, const std::vector<int64_t>& contact_ids) override;
  Result<int64_t> CampaignSentCount(const std::string& campaign_id) override;
  Result<std::optional<std::string>> RequestRetry(const std::string& id) override;
  Result<std::vector<std::string>> TakeRetryRequests() override;

 private:
  PgSpoolStorage(std::string url, std::unique_ptr<store::pg::Connection> writer, std::size_t pool_size);
  /// The committer's connection inside its transaction; throws PgError when the transaction already
  /// failed (it can only be rolled back) or there is none.
  store::pg::Connection& Writer();

  const std::string url_;
  std::unique_ptr<store::pg::Connection> writer_;  // the committer's (committer thread only); null: reconnect
  bool in_tx_ = false;     // Begin succeeded and neither Commit nor Rollback ran yet (committer only)
  EventWriter event_writer_;                 // set before the spool starts
  std::function<void(int)> events_committed_;
  int webhooks_in_tx_ = 0;  // webhook deliveries queued by this transaction's events (committer only)
  bool tx_failed_ = false;  // a statement of the open transaction failed: it can only be rolled back
  const std::size_t pool_size_;
  std::unique_ptr<store::pg::Pool> pool_;  // the reads'
  std::string node_;      // cluster.node_name: owner of what this node inserts
  std::string instance_;  // this process's random id: another live process with the same node name is refused
  std::mutex lead_mu_;
  std::unique_ptr<store::pg::Connection> leader_;  // the session holding the housekeeping lock; null: not held
};

}  // namespace kurier::spool
