// spool.hpp - node-local durable message storage with group commit.
//
// Submit() hands a message to the committer thread; the completion runs only once the message is on
// stable storage (fsync), so the caller may then acknowledge it (SMTP 250). Messages that arrive while
// a commit is in flight are committed together in the next one, sharing its fsync.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"

namespace kurier::store {
class Store;
}
namespace kurier::store::sqlite {
class Db;
}

namespace kurier::spool {

struct SpoolMessage {
  std::string id;
  int64_t received_at = 0;  ///< microseconds since the epoch
  std::string account;
  std::string credential;  ///< SMTP username, empty for the relay listener
  std::string client_ip;
  std::string helo;
  std::string tls_version, tls_cipher;
  std::string mail_from;
  std::vector<std::string> recipients;
  std::string body_type;  ///< "7BIT" or "8BITMIME"
  bool smtputf8 = false;
  std::size_t size = 0;
  std::string data;  ///< the message as stored (with kurier's Received: header)
};

struct SpoolOptions {
  bool fsync = true;
  int max_batch = 512;
};

class Spool {
 public:
  using Done = std::function<void(Result<std::string>)>;

  /// Opens the spool, recovering it after a crash: SQLite's WAL replay keeps every committed message
  /// exactly once and drops uncommitted ones. `events` (may be null) receives an `accepted` event per
  /// message, appended by the committer before the completion runs.
  static Result<std::unique_ptr<Spool>> Open(const std::filesystem::path& path, SpoolOptions options,
                                             store::Store* events);
  ~Spool();

  /// Queues `message` for the next group commit; `done` runs on the committer thread with the id or an error.
  void Submit(SpoolMessage message, Done done);
  /// Stops accepting, commits what is queued, joins the committer.
  void Stop();

  Result<std::vector<SpoolMessage>> List(std::size_t limit = 100000);
  Result<std::optional<SpoolMessage>> Get(const std::string& id);
  Result<int64_t> Count();

  struct Stats {
    uint64_t commits = 0, messages = 0;
    uint64_t commit_micros = 0;  ///< time spent in commits (write + fsync), in total
    uint64_t largest_batch = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    SpoolMessage message;
    Done done;
  };
  Spool(std::unique_ptr<store::sqlite::Db> db, SpoolOptions options, store::Store* events);
  void Run();
  Result<void> CommitBatch(std::vector<Pending>& batch);

  std::unique_ptr<store::sqlite::Db> db_;  // used by the committer thread; readers take `read_mu_`
  std::mutex read_mu_;
  SpoolOptions options_;
  store::Store* events_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread committer_;
};

}  // namespace kurier::spool
