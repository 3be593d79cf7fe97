// event_journal.cpp - see event_journal.hpp.
#include "store/event_journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "common/ids.hpp"

namespace kurier::store {

namespace {

constexpr std::string_view kMagic = "kurier-event-journal 1 ";

Error Io(const std::filesystem::path& path, const std::string& what) {
  return MakeError(ErrorCode::kIo, "event journal " + path.string() + ": " + what + ": " + std::strerror(errno));
}

int64_t NewGeneration() {
  std::random_device rd;
  const uint64_t g = (static_cast<uint64_t>(rd()) << 31) ^ rd() ^ static_cast<uint64_t>(NowMicros());
  return static_cast<int64_t>(g & 0x7fffffffffffffffULL) | 1;  // positive and never 0 ("none stored")
}

}  // namespace

std::string EventJournal::FormatLine(const Event& e) {
  std::string line;
  line.reserve(e.type.size() + e.message_id.size() + e.account.size() + e.data.size() + 28);
  line += std::to_string(e.time);
  for (const std::string* f : {&e.type, &e.message_id, &e.account, &e.data}) {
    line += '\t';
    line += *f;
  }
  line += '\n';
  return line;
}

std::optional<Event> EventJournal::ParseLine(std::string_view line) {
  std::string_view f[5];
  for (int i = 0; i < 4; ++i) {
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) return std::nullopt;
    f[i] = line.substr(0, tab);
    line.remove_prefix(tab + 1);
  }
  f[4] = line;
  Event e;
  auto [p, ec] = std::from_chars(f[0].data(), f[0].data() + f[0].size(), e.time);
  if (ec != std::errc() || p != f[0].data() + f[0].size() || e.time <= 0) return std::nullopt;
  if (f[1].empty() || f[4].size() < 2 || f[4].front() != '{' || f[4].back() != '}' ||
      f[4].find('\t') != std::string_view::npos)
    return std::nullopt;
  e.type = f[1];
  e.message_id = f[2];
  e.account = f[3];
  e.data = f[4];
  return e;
}

EventJournal::EventJournal(const Options& options, int fd, Sink sink)
    : options_(options), fd_(fd), sink_(std::move(sink)) {}

Result<void> EventJournal::Map(int64_t at_least) {
  if (at_least <= mapped_) return {};
  const int64_t size = (at_least + options_.grow_bytes - 1) / options_.grow_bytes * options_.grow_bytes;
  if (size > reserved_) return MakeError(ErrorCode::kIo, "event journal " + options_.path.string() + ": more than " +
                                                          std::to_string(reserved_) + " octets wait to be imported");
  // Allocated, not sparse: a write into a hole of a full disk would kill the process (SIGBUS).
  if (::ftruncate(fd_, size) != 0) return Io(options_.path, "cannot grow it");
  if (int rc = ::posix_fallocate(fd_, mapped_, size - mapped_); rc != 0) {
    errno = rc;
    return Io(options_.path, "cannot allocate space for it (is the disk full?)");
  }
  void* p = ::mmap(base_ + mapped_, static_cast<size_t>(size - mapped_), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                   fd_, mapped_);
  if (p == MAP_FAILED) return Io(options_.path, "cannot map it");
  mapped_ = size;
  return {};
}

Result<std::unique_ptr<EventJournal>> EventJournal::Open(const Options& options, const JournalPosition& stored, Sink sink) {
  int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Io(options.path, "cannot open it; check that the data directory is writable");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return MakeError(ErrorCode::kIo, "event journal " + options.path.string() +
                                         " is in use by another kurier process; stop the other 'kurier serve' first");
  }
  std::unique_ptr<EventJournal> j(new EventJournal(options, fd, std::move(sink)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Io(options.path, "cannot read its size");
  const int64_t size = st.st_size;
  // One range of addresses for the file's whole life, so that growing never moves what the importer reads.
  j->reserved_ = std::max<int64_t>(options.max_bytes, size + options.grow_bytes);
  void* reserve = ::mmap(nullptr, static_cast<size_t>(j->reserved_), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserve == MAP_FAILED) return Io(options.path, "cannot reserve address space for it");
  j->base_ = static_cast<char*>(reserve);
  if (auto r = j->Map(std::max<int64_t>(size, 1)); !r) return r.error();
  if (size == 0) {
    std::lock_guard lock(j->append_mu_);
    j->WriteHeader();
  } else {
    // The header names the generation; a stored position of another generation is from before the
    // last rotation, so everything in this file is still to be imported.
    std::string_view file(j->base_, static_cast<size_t>(size));
    const auto eol = file.substr(0, 64).find('\n');
    int64_t generation = 0;
    if (eol == std::string_view::npos || file.substr(0, kMagic.size()) != kMagic ||
        std::from_chars(file.data() + kMagic.size(), file.data() + eol, generation).ec != std::errc())
      return MakeError(ErrorCode::kIo, "event journal " + options.path.string() +
                                           " does not start with a kurier journal header; move the file away "
                                           "(it is not imported) and start again");
    j->generation_ = generation;
    const int64_t start = static_cast<int64_t>(eol + 1);
    // The data ends at the first NUL; a line without its line break there was being copied when the
    // process died (its Append never returned): it is cleared.
    auto nul = file.find('\0', static_cast<size_t>(start));
    int64_t end = nul == std::string_view::npos ? size : static_cast<int64_t>(nul);
    const auto last = file.substr(0, static_cast<size_t>(end)).rfind('\n');
    const int64_t complete = static_cast<int64_t>(last) + 1;  // >= start: the header ends with one
    if (complete < end) {
      spdlog::warn("event journal {}: cleared {} octets of a line cut short by a crash (its hit was not answered)",
                   options.path.string(), end - complete);
      std::memset(j->base_ + complete, 0, static_cast<size_t>(end - complete));
      end = complete;
    }
    int64_t from = start;
    if (stored.generation == generation) {
      from = std::max(stored.offset, start);
      if (from > end) {
        spdlog::warn("event journal {}: the store says {} octets were imported but the journal holds {}; importing "
                     "nothing from it", options.path.string(), stored.offset, end);
        from = end;
      }
    }
    j->imported_ = from;
    j->written_ = end;
  }
  if (auto r = j->Drain(); !r) return r.error();
  j->thread_ = std::thread([raw = j.get()] { raw->Run(); });
  return j;
}

void EventJournal::WriteHeader() {
  generation_ = NewGeneration();
  const std::string header = std::string(kMagic) + std::to_string(generation_) + "\n";
  std::memcpy(base_, header.data(), header.size());
  written_ = static_cast<int64_t>(header.size());
  imported_ = written_.load();
}

EventJournal::~EventJournal() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(wake_mu_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  if (base_) {
    if (auto r = Drain(); !r)
      spdlog::error("event journal {}: {} octets not imported at shutdown ({}); the next start imports them",
                    options_.path.string(), Backlog(), r.error().message);
    ::munmap(base_, static_cast<size_t>(reserved_));
  }
  ::close(fd_);
}

Result<void> EventJournal::Append(const Event& e) {
  // (find, not find_first_of: the latter calls memchr once per octet)
  for (const std::string* f : {&e.type, &e.message_id, &e.account, &e.data})
    if (f->find('\t') != std::string::npos || f->find('\n') != std::string::npos || f->find('\0') != std::string::npos)
      return MakeError(ErrorCode::kInvalidArgument, "an event field holds a tab, a line break or a NUL");
  if (e.time <= 0) return MakeError(ErrorCode::kInvalidArgument, "the event has no time");
  const std::string line = FormatLine(e);
  {
    // The I/O threads meet here for one copy each, well under a microsecond: spinning briefly before
    // sleeping saves the futex wait and wake that a plain lock costs when they collide.
    for (int spins = 0; !append_mu_.try_lock();)
      if (++spins == 64) {
        append_mu_.lock();
        break;
      } else {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    std::lock_guard lock(append_mu_, std::adopt_lock);
    const int64_t at = written_.load(std::memory_order_relaxed);
    const int64_t end = at + static_cast<int64_t>(line.size());
    if (end > mapped_)
      if (auto r = Map(end); !r) return r;
    std::memcpy(base_ + at, line.data(), line.size());
    written_.store(end, std::memory_order_release);  // the importer reads up to here
  }
  if (!pending_.exchange(true)) {
    std::lock_guard lock(wake_mu_);
    wake_.notify_one();
  }
  return {};
}

Result<std::size_t> EventJournal::ImportTo(int64_t end) {
  std::size_t count = 0;
  std::vector<Event> events;
  int64_t pos = imported_.load();
  while (pos < end) {
    // Complete lines, in transactions of at most options_.batch events.
    const std::string_view data(base_ + pos, static_cast<size_t>(end - pos));
    events.clear();
    std::size_t next = 0;
    while (events.size() < options_.batch && next < data.size()) {
      auto eol = data.find('\n', next);
      if (eol == std::string_view::npos) break;
      if (auto e = ParseLine(data.substr(next, eol - next)))
        events.push_back(std::move(*e));
      else
        spdlog::warn("event journal {}: skipped a line that is not an event at offset {}", options_.path.string(),
                     pos + static_cast<int64_t>(next));
      next = eol + 1;
    }
    if (next == 0) break;  // (Append publishes whole lines only)
    if (auto r = sink_(events, JournalPosition{generation_, pos + static_cast<int64_t>(next)}); !r) return r.error();
    pos += static_cast<int64_t>(next);
    imported_ = pos;
    count += events.size();
  }
  // Imported pages leave this process's mapping (they stay in the page cache and the file), so the
  // journal does not add to the resident size between rotations.
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  if (const int64_t done = imported_.load() / page * page; done > released_) {
    ::madvise(base_ + released_, static_cast<size_t>(done - released_), MADV_DONTNEED);
    released_ = done;
  }
  return count;
}

Result<std::size_t> EventJournal::Drain() {
  if (imported_.load() >= written_.load()) return std::size_t{0};
  std::lock_guard import_lock(import_mu_);
  auto count = ImportTo(written_.load(std::memory_order_acquire));
  if (!count || imported_.load() < options_.rotate_bytes) return count;
  // Big enough to start again: appends wait while the last lines go in (a few milliseconds' worth),
  // then the file is emptied and a new generation begins. The store learns the new position
  // afterwards; if that fails, the generation mismatch still says "import this file from its start".
  std::lock_guard lock(append_mu_);
  auto rest = ImportTo(written_.load());
  if (!rest) return rest.error();
  // Truncating drops the pages (the mapping reads zeros again once the file is regrown).
  if (::ftruncate(fd_, 0) != 0) return Io(options_.path, "cannot empty it");
  mapped_ = 0;
  released_ = 0;
  if (auto r = Map(1); !r) return r.error();
  WriteHeader();
  if (auto r = sink_({}, JournalPosition{generation_, imported_.load()}); !r)
    spdlog::warn("event journal {}: cannot record its new generation: {}", options_.path.string(), r.error().message);
  return *count + *rest;
}

void EventJournal::Run() {
  std::unique_lock lock(wake_mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || pending_.load(); });
    if (stop_) return;
    // Gathers lines for a moment: one transaction then carries hundreds of events.
    wake_.wait_for(lock, std::chrono::milliseconds(options_.delay_ms), [&] { return stop_; });
    pending_ = false;
    lock.unlock();
    if (auto r = Drain(); !r) {
      spdlog::error("event journal {}: cannot import events ({}); retrying in a second", options_.path.string(),
                    r.error().message);
      lock.lock();
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
      pending_ = true;
      continue;
    }
    lock.lock();
  }
}

Result<void> RecordThroughJournal(EventJournal* journal, const Event& e, const std::function<Result<void>()>& direct) {
  if (journal) {
    auto r = journal->Append(e);
    if (r) return r;
    if (r.error().code != ErrorCode::kInvalidArgument)
      spdlog::warn("event journal: {}; appending to the event log directly", r.error().message);
  }
  return direct();
}

}  // namespace kurier::store
