// spool.cpp - the durable spool: a group-committing writer over a storage backend (spool_storage.hpp;
// the embedded one is SQLite, sqlite/sqlite_spool_storage.cpp).
//
// SECURITY: stores what clients sent, unchanged apart from the headers kurier adds.
// Durability: a completion (and so an SMTP 250) is issued only after the durable commit of its batch
// returned (SpoolStorage::Begin(true): for SQLite, COMMIT under synchronous=FULL, the WAL fsync'ed).
#include "spool/spool.hpp"

#include "metrics/metrics.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "common/ids.hpp"
#include "spool/spool_storage.hpp"
#include "store/store.hpp"

namespace kurier::spool {

namespace {
std::string AcceptedEventData(const SpoolMessage& m) {
  boost::json::object o;
  o["account"] = m.account;
  o["credential"] = m.credential;
  o["client_ip"] = m.client_ip;
  o["helo"] = m.helo;
  o["tls_version"] = m.tls_version;
  o["tls_cipher"] = m.tls_cipher;
  o["mail_from"] = m.mail_from;
  boost::json::array rcpts;
  for (const auto& r : m.recipients) rcpts.emplace_back(r);
  o["recipients"] = std::move(rcpts);
  o["size"] = m.size;
  if (m.not_before > m.received_at) o["send_at"] = FormatTimeUtc(m.not_before);
  // Both were validated at acceptance; a row that is still not JSON (written by an older version, or
  // damaged) is left out of the event rather than stopping the committer.
  boost::system::error_code ec;
  if (m.tags != "[]")
    if (auto v = boost::json::parse(m.tags, ec); !ec) o["tags"] = std::move(v);
  if (m.metadata != "{}")
    if (auto v = boost::json::parse(m.metadata, ec); !ec) o["metadata"] = std::move(v);
  if (!m.subject.empty()) o["subject"] = m.subject;
  return boost::json::serialize(o);
}
}  // namespace

std::string RecipientDomain(const std::string& address) {
  auto at = address.rfind('@');
  std::string d = at == std::string::npos ? std::string() : address.substr(at + 1);
  for (char& c : d)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return d;
}

Result<std::unique_ptr<Spool>> Spool::Open(std::unique_ptr<SpoolStorage> storage, SpoolOptions options,
                                           store::Store* events) {
  return std::unique_ptr<Spool>(new Spool(std::move(storage), options, events));
}

Spool::Spool(std::unique_ptr<SpoolStorage> storage, SpoolOptions options, store::Store* events)
    : storage_(std::move(storage)), options_(options), events_(events) {
  committer_ = std::thread([this] { Run(); });
}

Spool::~Spool() { Stop(); }

void Spool::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !committer_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (committer_.joinable()) committer_.join();
}

void Spool::Submit(SpoolMessage message, Done done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(message), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(MakeError(ErrorCode::kTemporary, "server shutting down"));
}

void Spool::Update(std::vector<RecipientUpdate> updates, std::vector<store::Event> events) {
  std::lock_guard lock(mu_);
  UpdateBatch b;
  b.changes.updates = std::move(updates);
  b.events = std::move(events);
  updates_.push_back(std::move(b));
  cv_.notify_one();
}

void Spool::Delete(const std::string& id, std::vector<store::Event> events) {
  std::lock_guard lock(mu_);
  UpdateBatch b;
  b.changes.deletes.push_back(id);
  b.events = std::move(events);
  updates_.push_back(std::move(b));
  cv_.notify_one();
}

void Spool::SetSuspended(const std::string& domain, bool suspended) {
  std::lock_guard lock(mu_);
  UpdateBatch b;
  b.changes.suspensions.emplace_back(domain, suspended);
  updates_.push_back(std::move(b));
  cv_.notify_one();
}

void Spool::SetCommitListener(std::function<void(const std::vector<const SpoolMessage*>&)> listener) {
  std::lock_guard lock(mu_);
  listener_ = std::move(listener);
}

void Spool::Run() {
  std::vector<Pending> batch;
  std::vector<const SpoolMessage*> messages;  // batch's messages, for the storage and the listener
  std::vector<UpdateBatch> updates;
  for (;;) {
    std::function<void(const std::vector<const SpoolMessage*>&)> listener;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !updates_.empty(); });
      if (queue_.empty() && updates_.empty()) return;  // stopping and drained
      // Delivery results alone can wait a moment: if a new message arrives meanwhile, both share one
      // transaction instead of two taking turns on the disk.
      if (queue_.empty() && !stopping_)
        cv_.wait_for(lock, std::chrono::milliseconds(2), [&] { return stopping_ || !queue_.empty(); });
      while (!queue_.empty() && batch.size() < static_cast<size_t>(options_.max_batch)) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      while (!updates_.empty()) {
        updates.push_back(std::move(updates_.front()));
        updates_.pop_front();
      }
      listener = listener_;
    }
    // Nothing thrown here may end the committer (and with it the server): a batch that throws is
    // rolled back and its senders are told to try again (451), as for a failed write.
    messages.clear();
    for (const auto& p : batch) messages.push_back(&p.message);
    Result<void> r;
    try {
      r = CommitBatch(messages, updates);
    } catch (const std::exception& x) {
      storage_->Rollback();
      r = MakeError(ErrorCode::kInternal, std::string("internal error: ") + x.what());
    }
    if (r && listener && !batch.empty()) {
      try {
        listener(messages);
      } catch (const std::exception& x) {
        spdlog::error("spool: handing {} committed messages to delivery failed ({}); they are delivered after the "
                      "next restart",
                      messages.size(), x.what());
      }
    }
    updates.clear();
    if (!r) spdlog::error("spool: commit of {} messages failed: {}", batch.size(), r.error().message);
    for (auto& p : batch) {
      if (r)
        p.done(p.message.id);
      else
        p.done(MakeError(ErrorCode::kTemporary, "spool write failed"));
    }
    batch.clear();
  }
}

void Spool::AddContexts(std::vector<UpdateBatch>& updates) {
  // Delivery events name only the message and the recipient; they get the account, the sender, the
  // tags and the metadata of their message here, before a final update may remove it, so that every
  // event can be filtered, counted and sent to the account's webhooks on its own.
  std::map<std::string, std::optional<store::MessageContext>> seen;
  for (auto& b : updates)
    for (auto& e : b.events) {
      if (!e.account.empty() || e.message_id.empty() || e.data.size() < 2 || e.data.back() != '}') continue;
      auto it = seen.find(e.message_id);
      if (it == seen.end()) {
        auto c = storage_->Context(e.message_id);
        it = seen.emplace(e.message_id, c ? std::move(c.value()) : std::nullopt).first;
      }
      if (it->second) store::AddMessageContext(e, *it->second);
    }
}

void Spool::Record(const std::vector<store::Event>& events) {
  for (const auto& e : events)
    if (auto r = events_->RecordEvent(e); !r)
      spdlog::error("events: cannot record the {} event of {}: {}", e.type, e.message_id, r.error().message);
}

namespace {

// The node's metrics (metrics.hpp): the commit's time and the messages it acknowledged, by source.
void CountAccepted(const std::vector<const SpoolMessage*>& messages, int64_t commit_micros) {
  auto& m = metrics::Registry::Global();
  m.Observe("kurier_spool_commit_seconds", static_cast<double>(commit_micros) / 1e6);
  for (const SpoolMessage* msg : messages) {
    const char* source = msg->credential.rfind("api:", 0) == 0 ? "api"
                         : !msg->credential.empty()            ? "submission"
                         : msg->mail_from.empty()              ? "internal"
                                                               : "relay";
    m.Add("kurier_messages_accepted_total", {{"source", source}});
  }
}

}  // namespace

Result<void> Spool::CommitBatch(const std::vector<const SpoolMessage*>& messages, std::vector<UpdateBatch>& updates) {
  // New messages are acknowledged after this commit, so it must reach the disk; a commit of delivery
  // results alone need not wait for an fsync (SpoolStorage::Begin).
  if (auto r = storage_->Begin(!messages.empty()); !r) return r;
  const int64_t started = NowMicros();
  auto fail = [&](const Error& e) -> Result<void> {
    storage_->Rollback();
    return e;
  };
  if (auto r = storage_->Insert(messages); !r) return fail(r.error());
  // The batch's events: its delivery results', then its new messages' accepted events.
  std::vector<store::Event> events;
  if (!updates.empty()) {
    AddContexts(updates);
    for (auto& b : updates) {
      if (auto r = storage_->Apply(b.changes); !r) return fail(r.error());
      for (auto& e : b.events) events.push_back(std::move(e));
    }
  }
  if (events_)
    for (const SpoolMessage* m : messages)
      events.push_back(store::Event{0, m->received_at, "accepted", m->id, m->account, AcceptedEventData(*m)});
  // A backend that keeps the events in the same database records them in this transaction (PostgreSQL):
  // a crash after the commit cannot lose them.
  bool recorded = false;
  if (events_ && !events.empty()) {
    auto r = storage_->Events(events);
    if (!r) return fail(r.error());
    recorded = r.value();
  }
  if (auto r = storage_->Commit(); !r) return fail(r.error());
  if (!messages.empty()) {
    CountAccepted(messages, NowMicros() - started);
    std::lock_guard lock(mu_);
    stats_.commits++;
    stats_.messages += messages.size();
    stats_.commit_micros += static_cast<uint64_t>(NowMicros() - started);
    stats_.largest_batch = std::max<uint64_t>(stats_.largest_batch, messages.size());
  }
  // Otherwise events go through the store's event journal when it has one (RecordEvent: a copy into a
  // mapped file, imported in bulk a few milliseconds later), so that the acknowledgement does not wait
  // for a second database commit.
  if (events_ && !recorded) Record(events);
  return {};
}

Spool::Stats Spool::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Result<std::vector<SpoolMessage>> Spool::List(std::size_t limit) { return storage_->List(limit); }

Result<std::optional<SpoolMessage>> Spool::Get(const std::string& id) { return storage_->Get(id); }

Result<std::vector<RecipientState>> Spool::PendingRecipients() { return storage_->PendingRecipients(); }

Result<std::vector<std::string>> Spool::SuspendedDomains() { return storage_->SuspendedDomains(); }

Result<int64_t> Spool::Count() { return storage_->Count(); }

Result<QueueCounts> Spool::CountByState(int64_t now) { return storage_->CountByState(now); }

Result<std::vector<SpoolMessage>> Spool::ListPage(const QueuePage& page) { return storage_->ListPage(page); }

}  // namespace kurier::spool
