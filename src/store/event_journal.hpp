// event_journal.hpp - an append-only file in front of the event log, for frequent small events (opens
// and clicks). Append copies one line into a shared mapping of the file and returns: the event is then
// in the page cache and survives a crash of the process (like a commit in SQLite's WAL with
// synchronous=NORMAL), without a system call or a database commit on the tracking endpoint's path. A
// thread moves the lines into the event log a few milliseconds later, thousands per transaction, and
// records in the same transaction how far it got (the journal's generation and offset), so a restart
// after kill -9 imports every line exactly once. Readers of the event log call Drain() first and so see
// every appended event.
//
// File format (text, one record per line; the file is allocated ahead in steps, its unused tail zeros):
//   kurier-event-journal 1 <generation>\n          the header; the generation changes on every rotation
//   <time µs>\t<type>\t<message id>\t<account>\t<data JSON>\n
// The data ends at the first NUL octet. Once the file has grown past `rotate_bytes`, appends wait while
// the rest is imported (milliseconds), then it is emptied and starts a new generation, so the file stays
// bounded under steady traffic; a stored position of an older generation
// means "from the start of the file". A line cut short by a crash (its Append never returned, so its
// hit was never answered) is cleared on the next open.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "store/store.hpp"

namespace kurier::store {

/// How far the journal has been imported: its generation and the file offset after the last imported line.
struct JournalPosition {
  int64_t generation = 0;
  int64_t offset = 0;
};

class EventJournal {
 public:
  struct Options {
    std::filesystem::path path;
    int64_t rotate_bytes = 32 << 20;  ///< empty the file (importing the rest first) once it is this big
    int64_t grow_bytes = 16 << 20;    ///< the file is allocated (fallocate) in steps of this size
    int64_t max_bytes = 1LL << 30;    ///< a backlog this big (the store not taking events) makes Append fail
    int delay_ms = 10;                ///< how long the import thread gathers lines before a transaction
    std::size_t batch = 4000;         ///< most events per transaction
  };
  /// Stores `events` and `reached` in one transaction (reached alone when `events` is empty).
  using Sink = std::function<Result<void>(const std::vector<Event>& events, const JournalPosition& reached)>;

  /// Opens (creating) the journal, takes an exclusive lock on it (one server per data directory),
  /// imports what `stored` says is not imported yet, and starts the import thread.
  static Result<std::unique_ptr<EventJournal>> Open(const Options& options, const JournalPosition& stored, Sink sink);
  /// Imports every remaining line, then stops the thread.
  ~EventJournal();
  EventJournal(const EventJournal&) = delete;
  EventJournal& operator=(const EventJournal&) = delete;

  /// Adds `e` to the file. kInvalidArgument when a field cannot be written as a line (a tab, line break
  /// or NUL), kIo when the file cannot grow (disk full, or `max_bytes` of backlog): the caller appends
  /// such an event directly.
  Result<void> Append(const Event& e);
  /// Imports every line appended before the call; returns how many events it imported.
  Result<std::size_t> Drain();
  /// Lines appended but not imported yet, in bytes.
  int64_t Backlog() const { return written_.load() - imported_.load(); }

  /// One record as a line, and back (nullopt: not a record).
  static std::string FormatLine(const Event& e);
  static std::optional<Event> ParseLine(std::string_view line);

 private:
  EventJournal(const Options& options, int fd, Sink sink);
  Result<void> Map(int64_t at_least);  // grows the file (allocated, in grow_bytes steps) and maps what is new
  void WriteHeader();                  // with append_mu_ held, on an empty file: a new generation
  Result<std::size_t> ImportTo(int64_t end);  // with import_mu_ held: the lines before `end`
  void Run();

  Options options_;
  int fd_;
  Sink sink_;
  int64_t generation_ = 0;
  char* base_ = nullptr;          // the file's mapping, at the start of a reserved range that never moves
  int64_t reserved_ = 0;          // the reserved range's size
  int64_t mapped_ = 0;            // file size (all mapped)
  int64_t released_ = 0;          // offset below which imported pages were dropped from the mapping
  std::mutex append_mu_;                 // the copy into the mapping, written_ and growth
  std::mutex import_mu_;                 // one importer at a time
  std::atomic<int64_t> written_{0};      // end of the data
  std::atomic<int64_t> imported_{0};     // offset after the last imported line
  std::atomic<bool> pending_{false};     // the thread has been told about new lines
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

/// Store::RecordEvent of a backend with a journal: appends `e` to `journal` (when open), and otherwise, or
/// when the journal cannot hold it (a field with a line break, a full disk, a backlog the store is not
/// taking), through `direct` (the backend's AppendEvents): slower, never lost.
Result<void> RecordThroughJournal(EventJournal* journal, const Event& e, const std::function<Result<void>()>& direct);

}  // namespace kurier::store
