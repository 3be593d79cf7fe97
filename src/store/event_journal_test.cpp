// EventJournal tests: the line format, import exactly once across reopen, a crash (SIGKILL) of a
// process appending through the real SQLite store, torn lines, rotation, and the lock.
#include "store/event_journal.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <set>

namespace kurier::store {
namespace {

Event Click(int i) {
  return Event{0, 1'700'000'000'000'000 + i, "clicked", "msg" + std::to_string(i % 7), "shop",
               "{\"recipient\":\"r" + std::to_string(i) + "@example.net\",\"n\":" + std::to_string(i) + "}"};
}

TEST(EventJournalLine, FormatsAndParsesBack) {
  Event e = Click(42);
  std::string line = EventJournal::FormatLine(e);
  ASSERT_EQ(line.back(), '\n');
  auto back = EventJournal::ParseLine(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->time, e.time);
  EXPECT_EQ(back->type, e.type);
  EXPECT_EQ(back->message_id, e.message_id);
  EXPECT_EQ(back->account, e.account);
  EXPECT_EQ(back->data, e.data);
  // Empty message id and account (events that belong to no message) survive too.
  back = EventJournal::ParseLine("5\tauth_failed\t\t\t{}");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->message_id, "");
  EXPECT_EQ(back->account, "");
}

TEST(EventJournalLine, RejectsWhatIsNotARecord) {
  for (const char* bad : {"", "garbage", "12\tclicked\tm\tshop", "x\tclicked\tm\tshop\t{}", "-3\tclicked\tm\tshop\t{}",
                          "0\tclicked\tm\tshop\t{}", "12\t\tm\tshop\t{}", "12\tclicked\tm\tshop\tnot json",
                          "12\tclicked\tm\tshop\t{\"a\":1}\textra", "12 \tclicked\tm\tshop\t{}", "12\tclicked\tm\tshop\t{"})
    EXPECT_FALSE(EventJournal::ParseLine(bad)) << bad;
}

class EventJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-journal-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.path = dir_ / "events.journal";
    options_.delay_ms = 1;
    options_.grow_bytes = 4096;  // so that the tests grow the file too
  }
  // What the journal file holds: its octets up to the first NUL (the rest is allocated ahead).
  std::string Data() {
    std::ifstream f(options_.path, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return all.substr(0, all.find('\0'));
  }
  // Writes `text` where the data ends, as a process would have (a crash leaves what it copied).
  void WriteAtEnd(const std::string& text) {
    const auto at = Data().size();
    std::fstream f(options_.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f << text;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A sink that keeps what it was given, as a store would.
  EventJournal::Sink Sink() {
    return [this](const std::vector<Event>& events, const JournalPosition& reached) -> Result<void> {
      if (fail_) return MakeError(ErrorCode::kStorage, "the store is down");
      imported_.insert(imported_.end(), events.begin(), events.end());
      if (events.empty()) ++rotations_;
      stored_ = reached;
      return {};
    };
  }
  std::unique_ptr<EventJournal> Open() {
    auto j = EventJournal::Open(options_, stored_, Sink());
    EXPECT_TRUE(j) << (j ? "" : j.error().message);
    return j ? std::move(j.value()) : nullptr;
  }

  std::filesystem::path dir_;
  EventJournal::Options options_;
  std::vector<Event> imported_;
  JournalPosition stored_;
  int rotations_ = 0;
  std::atomic<bool> fail_ = false;
};

TEST_F(EventJournalTest, ImportsEveryLineOnceAcrossReopen) {
  auto j = Open();
  ASSERT_TRUE(j);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(j->Append(Click(i)));
  auto n = j->Drain();
  ASSERT_TRUE(n);
  ASSERT_EQ(imported_.size(), 100u);
  EXPECT_EQ(j->Backlog(), 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(imported_[i].data, Click(i).data);
  EXPECT_EQ(stored_.offset, static_cast<int64_t>(Data().size()));
  EXPECT_GE(std::filesystem::file_size(options_.path), 8192u) << "100 events grew the file past 4096 octets";
  j.reset();
  j = Open();  // the stored position says everything is in: nothing comes twice
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->Append(Click(100)));
  j.reset();  // closing imports what is left
  ASSERT_EQ(imported_.size(), 101u);
  EXPECT_EQ(imported_.back().data, Click(100).data);
}

TEST_F(EventJournalTest, TheThreadImportsWithoutBeingAsked) {
  auto j = Open();
  ASSERT_TRUE(j);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(j->Append(Click(i)));
  for (int waited = 0; j->Backlog() > 0 && waited < 5000; ++waited) ::usleep(1000);
  EXPECT_EQ(j->Backlog(), 0);
}

TEST_F(EventJournalTest, AFailingStoreKeepsTheLinesForLater) {
  auto j = Open();
  ASSERT_TRUE(j);
  fail_ = true;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(j->Append(Click(i)));
  EXPECT_FALSE(j->Drain());
  EXPECT_TRUE(imported_.empty());
  EXPECT_GT(j->Backlog(), 0);
  fail_ = false;
  ASSERT_TRUE(j->Drain());
  EXPECT_EQ(imported_.size(), 5u);
}

TEST_F(EventJournalTest, ALineCutShortByACrashIsSkippedAndTheRestImported) {
  {
    auto j = Open();
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->Append(Click(1)));
  }
  ASSERT_EQ(imported_.size(), 1u);
  WriteAtEnd(EventJournal::FormatLine(Click(2)) + "1700000000000003\tclicked\tmsg3\tsh");  // the crash cut this one
  auto j = Open();
  ASSERT_TRUE(j);
  EXPECT_EQ(Data().find("msg3"), std::string::npos) << "the cut line is cleared";
  ASSERT_TRUE(j->Append(Click(4)));
  ASSERT_TRUE(j->Drain());
  ASSERT_EQ(imported_.size(), 3u);
  EXPECT_EQ(imported_[1].data, Click(2).data);
  EXPECT_EQ(imported_[2].data, Click(4).data);  // not glued to the cut line
}

TEST_F(EventJournalTest, RotatesOnceImportedAndAStaleGenerationMeansFromTheStart) {
  options_.rotate_bytes = 300;
  auto j = Open();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->Append(Click(0)));
  ASSERT_TRUE(j->Drain());  // still small: no rotation
  const int64_t first_generation = stored_.generation;
  ASSERT_NE(first_generation, 0);
  for (int i = 1; i < 10; ++i) ASSERT_TRUE(j->Append(Click(i)));
  ASSERT_TRUE(j->Drain());
  EXPECT_EQ(imported_.size(), 10u);
  EXPECT_LT(Data().size(), 64u);  // only the new header is left
  EXPECT_NE(stored_.generation, first_generation);
  EXPECT_EQ(stored_.offset, static_cast<int64_t>(Data().size()));
  j.reset();
  // Had the store missed the new generation (a crash right after the truncation), its position
  // belongs to the old file: everything in the new one is imported.
  WriteAtEnd(EventJournal::FormatLine(Click(10)));
  stored_ = JournalPosition{first_generation, 100000};
  j = Open();
  ASSERT_TRUE(j);
  ASSERT_EQ(imported_.size(), 11u);
  EXPECT_EQ(imported_.back().data, Click(10).data);
  ASSERT_TRUE(j->Append(Click(11)));
  j.reset();
  ASSERT_EQ(imported_.size(), 12u);
}

// Appends that keep coming while the importer works (here: one made from inside the store's
// transaction, so the importer never finds itself caught up) still let the file rotate: appends wait
// while the rest goes in. Every event is imported once, in order.
TEST_F(EventJournalTest, RotatesUnderSteadyAppends) {
  options_.rotate_bytes = 2048;
  options_.delay_ms = 60000;  // only the Drain calls below import
  int next = 0;
  bool append_in_sink = false;
  EventJournal* journal = nullptr;
  auto sink = Sink();
  auto j = EventJournal::Open(options_, stored_, [&](const std::vector<Event>& events, const JournalPosition& reached) {
    if (append_in_sink && journal) {
      append_in_sink = false;
      EXPECT_TRUE(journal->Append(Click(next++)));
    }
    return sink(events, reached);
  });
  ASSERT_TRUE(j) << j.error().message;
  journal = j.value().get();
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(journal->Append(Click(next++)));
    append_in_sink = true;
    ASSERT_TRUE(journal->Drain());
  }
  EXPECT_GT(rotations_, 10);
  EXPECT_LT(Data().size(), 4096u) << "the file stayed small";
  j.value().reset();
  ASSERT_EQ(imported_.size(), static_cast<size_t>(next));
  for (int i = 0; i < next; ++i) ASSERT_EQ(imported_[i].data, Click(i).data) << i;
}

TEST_F(EventJournalTest, ABacklogTheStoreDoesNotTakeIsBounded) {
  options_.max_bytes = 16384;
  auto j = Open();
  ASSERT_TRUE(j);
  fail_ = true;
  int appended = 0;
  Result<void> r;
  while ((r = j->Append(Click(appended))) && appended < 1000) ++appended;
  ASSERT_FALSE(r) << "16 KiB cannot hold 1000 events";
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("wait to be imported"), std::string::npos) << r.error().message;
  fail_ = false;
  ASSERT_TRUE(j->Drain());
  EXPECT_EQ(imported_.size(), static_cast<size_t>(appended));
}

TEST_F(EventJournalTest, FieldsThatCannotBeALineAreRefused) {
  auto j = Open();
  ASSERT_TRUE(j);
  Event e = Click(1);
  e.account = "a\tb";
  auto r = j->Append(e);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  e = Click(1);
  e.data = "{\"a\":\n1}";
  EXPECT_FALSE(j->Append(e));
  e.data = std::string("{\"a\":\"\0\"}", 9);
  EXPECT_FALSE(j->Append(e));
  EXPECT_EQ(j->Backlog(), 0);
}

TEST_F(EventJournalTest, OneProcessAtATimeAndForeignFilesAreLeftAlone) {
  auto j = Open();
  ASSERT_TRUE(j);
  auto second = EventJournal::Open(options_, stored_, Sink());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  j.reset();
  std::filesystem::remove(options_.path);
  { std::ofstream(options_.path) << "something else\n"; }
  auto foreign = EventJournal::Open(options_, stored_, Sink());
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message.find("move the file away"), std::string::npos) << foreign.error().message;
}

// Through the real store: a process that records events and is killed (SIGKILL, no destructor, no
// final import) loses none, and the next open imports each exactly once.
TEST_F(EventJournalTest, SurvivesKill9WithTheSqliteStoreExactlyOnce) {
  const auto db = dir_ / "kurier.db";
  const auto journal = dir_ / "events.journal";
  constexpr int kEvents = 20000;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The import thread waits a minute, so what is imported is decided here: the first half (a read
    // of the event log imports it), the second half is not when the kill comes.
    auto s = OpenStore("sqlite", db);
    if (!s || !s.value()->OpenEventJournal(journal, 60000)) ::_exit(2);
    for (int i = 0; i < kEvents; ++i) {
      if (!s.value()->RecordEvent(Click(i))) ::_exit(3);
      if (i == kEvents / 2 && !s.value()->ListEvents(EventFilter{})) ::_exit(4);
    }
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exit " << WEXITSTATUS(status);
  {  // the kill left lines that were never imported
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT position FROM journal_positions", -1, &q, nullptr), SQLITE_OK);
    const int64_t position = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    sqlite3_close(raw);
    options_.path = journal;
    EXPECT_GT(position, 0) << "the first half was imported";
    EXPECT_LT(position, static_cast<int64_t>(Data().size())) << "the second half was not";
  }
  auto s = OpenStore("sqlite", db);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s.value()->OpenEventJournal(journal));
  EventFilter f;
  f.type = "clicked";
  f.limit = kEvents + 10;
  auto evs = s.value()->ListEvents(f);
  ASSERT_TRUE(evs);
  ASSERT_EQ(evs.value().size(), static_cast<size_t>(kEvents));
  std::set<std::string> seen;
  for (const auto& e : evs.value()) seen.insert(e.data);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEvents));
  // Reopening again imports nothing twice.
  s.value().reset();
  s = OpenStore("sqlite", db);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s.value()->OpenEventJournal(journal));
  evs = s.value()->ListEvents(f);
  ASSERT_TRUE(evs);
  EXPECT_EQ(evs.value().size(), static_cast<size_t>(kEvents));
}

// A recorded event is part of what this process reads at once (ListEvents and Stats import first),
// and an event the journal cannot hold is appended directly.
TEST_F(EventJournalTest, RecordedEventsAreReadableAtOnce) {
  auto s = OpenStore("sqlite", dir_ / "kurier.db");
  ASSERT_TRUE(s);
  ASSERT_TRUE(s.value()->OpenEventJournal(dir_ / "events.journal"));
  ASSERT_TRUE(s.value()->RecordEvent(Click(1)));
  Event odd = Click(2);
  odd.message_id = "has\ttab";
  ASSERT_TRUE(s.value()->RecordEvent(odd));
  EventFilter f;
  f.account = "shop";
  auto evs = s.value()->ListEvents(f);
  ASSERT_TRUE(evs);
  EXPECT_EQ(evs.value().size(), 2u);
  StatsQuery q;
  q.account = "shop";
  q.from = 0;
  q.to = INT64_MAX;
  q.bucket = 86'400'000'000;
  auto rows = s.value()->Stats(q);
  ASSERT_TRUE(rows);
  int64_t clicked = 0;
  for (const auto& r : rows.value())
    if (r.type == "clicked") clicked += r.total;
  EXPECT_EQ(clicked, 2);
}

}  // namespace
}  // namespace kurier::store
