// sqlite_spool_storage.hpp - the spool's embedded backend: one SQLite file in WAL mode, a writer
// connection for the committer (synchronous=FULL for commits that acknowledge messages), a reader
// connection beside it, and WAL checkpoints on a thread of their own.
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>

#include "spool/spool_storage.hpp"

namespace kurier::store::sqlite {
class Db;
class BackgroundCheckpointer;
}  // namespace kurier::store::sqlite

namespace kurier::spool {

class SqliteSpoolStorage final : public SpoolStorage {
 public:
  /// Opens (creating and migrating) the spool file; `fsync` false: no fsync at all (tests, benchmarks).
  static Result<std::unique_ptr<SqliteSpoolStorage>> Open(const std::filesystem::path& path, bool fsync);
  ~SqliteSpoolStorage() override;

  Result<void> Begin(bool durable) override;
  Result<void> Insert(const std::vector<const SpoolMessage*>& messages) override;
  Result<std::optional<store::MessageContext>> Context(const std::string& message_id) override;
  Result<void> Apply(const SpoolChanges& changes) override;
  Result<void> Commit() override;
  void Rollback() override;

  Result<std::vector<RecipientState>> PendingRecipients() override;
  Result<std::vector<SpoolMessage>> List(std::size_t limit) override;
  Result<std::vector<int64_t>> CampaignSent(const std::string& campaign_id, const std::vector<int64_t>& contact_ids) override;
  Result<int64_t> CampaignSentCount(const std::string& campaign_id) override;
  Result<std::optional<SpoolMessage>> Get(const std::string& id) override;
  Result<int64_t> Count() override;
  Result<QueueCounts> CountByState(int64_t now) override;
  Result<std::vector<SpoolMessage>> ListPage(const QueuePage& page) override;
  Result<std::vector<std::string>> SuspendedDomains() override;

 private:
  SqliteSpoolStorage(std::unique_ptr<store::sqlite::Db> db, std::unique_ptr<store::sqlite::Db> reader,
                     std::unique_ptr<store::sqlite::BackgroundCheckpointer> checkpointer, bool fsync);
  /// The recipients of `m` (with their states), read through `reader_` (read_mu_ held).
  Result<void> ReadRecipients(SpoolMessage& m);

  std::unique_ptr<store::sqlite::Db> db_;      // the writer: used by the committer thread only
  std::unique_ptr<store::sqlite::Db> reader_;  // reads (WAL lets them run beside a commit)
  std::unique_ptr<store::sqlite::BackgroundCheckpointer> checkpointer_;  // WAL checkpoints beside the commits
  std::mutex read_mu_;                         // serialises users of `reader_`
  bool fsync_ = true;
  bool full_sync_ = true;                      // the writer's current synchronous mode (committer only)
};

}  // namespace kurier::spool
