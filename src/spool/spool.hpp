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
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "store/store.hpp"

namespace kurier::spool {

class SpoolStorage;

/// The lower-case domain of a forward-path: the destination queue it belongs to.
std::string RecipientDomain(const std::string& address);

/// A recipient's delivery state as the spool keeps it.
struct RecipientState {
  std::string message_id;
  int idx = 0;
  std::string address;
  std::string domain;  ///< lower-case recipient domain: the destination queue
  std::string status;  ///< "queued" (waiting or deferred), "delivered", "bounced"
  int attempts = 0;
  int64_t next_attempt = 0;  ///< microseconds since the epoch
  std::string last_reply;    ///< the last remote (or local) reply, e.g. "451 4.3.0 try later"
  int64_t received_at = 0;   ///< of the message
};

/// A change of a recipient's state after a delivery attempt.
struct RecipientUpdate {
  std::string message_id;
  int idx = 0;
  std::string status;
  int attempts = 0;
  int64_t next_attempt = 0;
  std::string last_reply;
};

/// Changes of queued messages, applied in a group commit after its new messages.
struct SpoolChanges {
  std::vector<RecipientUpdate> updates;  ///< a message whose recipients are all final leaves the spool
  std::vector<std::string> deletes;      ///< message ids to remove
  std::vector<std::pair<std::string, bool>> suspensions;  ///< domain, suspended
};

/// What a message asks of delivery beyond its envelope, decided once at acceptance (ingress: an SMTP
/// submission's X-Kurier-* fields, an API send's flags) and stored with it, not in its text.
struct SendOptions {
  /// Tracking and List-Unsubscribe for this message; unset: the account's default (SMTP submissions),
  /// off (API sends, which decide when they build the message).
  std::optional<bool> track_opens, track_clicks, list_unsubscribe;
  /// Test mode (the account's, at acceptance): delivery signs and records the message but sends nothing.
  bool test = false;
  /// Takes the tracking and List-Unsubscribe flags of `from` (another SendOptions, or the X-Kurier-*
  /// fields ingress read: anything with these three members), keeping `test`. The one copy of them, for
  /// SMTP submissions (ingress::Prepare) and API sends.
  template <class Flags>
  void SetTracking(const Flags& from) {
    track_opens = from.track_opens;
    track_clicks = from.track_clicks;
    list_unsubscribe = from.list_unsubscribe;
  }
  bool operator==(const SendOptions&) const = default;
};

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
  int64_t not_before = 0;         ///< scheduled sending (API send_at), microseconds; 0: at once
  std::string tags = "[]";        ///< JSON array of strings (API), carried into events
  std::string metadata = "{}";    ///< JSON object (API), carried into events
  SendOptions options;
  /// Spooled by a version that left the X-Kurier-* fields in the text (before the spool's schema 5):
  /// delivery reads and removes them then.
  bool option_fields_in_data = false;
  /// A campaign's message to one contact: the spool records (campaign_id, contact_id) in the transaction
  /// that stores the message, so a campaign knows after any crash exactly whom it has sent to.
  std::string campaign_id;
  int64_t contact_id = 0;
  std::string subject;            ///< for the accepted event only (not stored)
  std::vector<RecipientState> states;  ///< filled by Get()
};

/// The queue by message state (the names of spool/message_state.hpp), counted by the storage.
struct QueueCounts {
  std::map<std::string, int64_t, std::less<>> by_state;  ///< every MessageStates() name, 0 when none
  int64_t total = 0;
  int64_t oldest = 0;  ///< received_at of the oldest message; 0: the spool is empty
};

/// Which messages a page of the queue holds: the oldest first.
struct QueuePage {
  std::string state;           ///< only messages in this message state; empty: every message
  std::size_t limit = 0;       ///< at most this many; 0: all
  int64_t now = 0;             ///< the time the states are taken at (scheduled vs queued)
  bool recipients = true;      ///< false: only the messages' own fields (no recipients or states)
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
  /// message, recorded by the committer (Store::RecordEvent: through the event journal when the store
  /// has one) before the completion runs, and the delivery events.
  /// The embedded backend (SQLite, sqlite/sqlite_spool_storage.cpp) at `path`.
  static Result<std::unique_ptr<Spool>> Open(const std::filesystem::path& path, SpoolOptions options,
                                             store::Store* events);
  /// Over any storage backend (spool_storage.hpp).
  static Result<std::unique_ptr<Spool>> Open(std::unique_ptr<SpoolStorage> storage, SpoolOptions options,
                                             store::Store* events);
  /// The storage backend, for what the spool does not wrap (cluster membership, spool_storage.hpp).
  SpoolStorage& Storage() { return *storage_; }
  ~Spool();

  /// Queues `message` for the next group commit; `done` runs on the committer thread with the id or an error.
  void Submit(SpoolMessage message, Done done);
  /// Records delivery results (and their events) in the next group commit. A message whose recipients
  /// are all delivered or bounced leaves the spool in the same transaction.
  void Update(std::vector<RecipientUpdate> updates, std::vector<store::Event> events);
  /// Removes a message and its recipients (operator action), with the given events.
  void Delete(const std::string& id, std::vector<store::Event> events);
  /// Records that delivery to `domain` is suspended (or resumed); kept across restarts.
  void SetSuspended(const std::string& domain, bool suspended);
  Result<std::vector<std::string>> SuspendedDomains();
  /// Called on the committer thread after each commit with the messages it made durable.
  void SetCommitListener(std::function<void(const std::vector<const SpoolMessage*>&)> listener);
  /// Stops accepting, commits what is queued, joins the committer.
  void Stop();

  /// Every recipient still waiting for delivery (status "queued"), for rebuilding the queue at start.
  Result<std::vector<RecipientState>> PendingRecipients();

  Result<std::vector<SpoolMessage>> List(std::size_t limit = 100000);
  Result<std::optional<SpoolMessage>> Get(const std::string& id);
  Result<int64_t> Count();
  /// The messages by state at `now`, counted by the storage (not read into memory).
  Result<QueueCounts> CountByState(int64_t now);
  /// A page of the queue, oldest first, filtered by state in the storage: it costs the page, not the spool.
  Result<std::vector<SpoolMessage>> ListPage(const QueuePage& page);

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
  struct UpdateBatch {
    SpoolChanges changes;
    std::vector<store::Event> events;
  };
  Spool(std::unique_ptr<SpoolStorage> storage, SpoolOptions options, store::Store* events);
  void Run();
  /// Writes one group commit: `messages` (which the caller acknowledges after it) and `updates`.
  Result<void> CommitBatch(const std::vector<const SpoolMessage*>& messages, std::vector<UpdateBatch>& updates);
  /// Gives delivery events their message's account and context (store::AddMessageContext), read before
  /// a final update may remove the message.
  void AddContexts(std::vector<UpdateBatch>& updates);
  /// Records events through the store (its event journal when it has one), logging failures.
  void Record(const std::vector<store::Event>& events);

  std::unique_ptr<SpoolStorage> storage_;  // group commits from the committer thread; reads from any
  SpoolOptions options_;
  store::Store* events_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::deque<UpdateBatch> updates_;
  std::function<void(const std::vector<const SpoolMessage*>&)> listener_;
  bool stopping_ = false;
  Stats stats_;
  std::thread committer_;
};

}  // namespace kurier::spool
