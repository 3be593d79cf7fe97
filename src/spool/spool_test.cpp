#include "spool/spool.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <future>

#include "common/ids.hpp"
#include "store/store.hpp"

namespace kurier::spool {
namespace {

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-spool-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static SpoolMessage Message(int i) {
    SpoolMessage m;
    m.id = NewQueueId();
    m.received_at = NowMicros();
    m.account = "default";
    m.client_ip = "127.0.0.1";
    m.mail_from = "a@example.com";
    m.recipients = {"b" + std::to_string(i) + "@example.net", "c@example.net"};
    m.body_type = "8BITMIME";
    m.data = "Subject: " + std::to_string(i) + "\r\n\r\n\xc3\xa9\x00 body\r\n";
    m.data.push_back('\0');  // binary-safe
    return m;
  }
  std::filesystem::path dir_;
};

TEST_F(SpoolTest, ConcurrentSubmitsAreGroupCommittedAndSurviveReopen) {
  auto store = store::OpenStore("sqlite", dir_ / "kurier.db");
  ASSERT_TRUE(store);
  std::vector<SpoolMessage> sent;
  {
    auto sp = Spool::Open(dir_ / "spool.db", SpoolOptions{true, 64}, store.value().get());
    ASSERT_TRUE(sp) << sp.error().message;
    std::vector<std::future<Result<std::string>>> done;
    for (int i = 0; i < 200; ++i) {
      auto p = std::make_shared<std::promise<Result<std::string>>>();
      done.push_back(p->get_future());
      sent.push_back(Message(i));
      sp.value()->Submit(sent.back(), [p](Result<std::string> r) { p->set_value(std::move(r)); });
    }
    for (size_t i = 0; i < done.size(); ++i) {
      auto r = done[i].get();
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r.value(), sent[i].id);
    }
    auto st = sp.value()->stats();
    EXPECT_EQ(st.messages, 200u);
    EXPECT_LT(st.commits, 200u) << "submissions that arrive together share a commit";
    EXPECT_LE(st.largest_batch, 64u);
  }
  // A new process opening the spool sees every acknowledged message exactly once, byte for byte.
  auto sp = Spool::Open(dir_ / "spool.db", SpoolOptions{true, 64}, nullptr);
  ASSERT_TRUE(sp);
  auto list = sp.value()->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), sent.size());
  for (const auto& m : sent) {
    auto got = sp.value()->Get(m.id);
    ASSERT_TRUE(got && *got);
    EXPECT_EQ((*got)->data, m.data);
    EXPECT_EQ((*got)->recipients, m.recipients);
    EXPECT_EQ((*got)->size, m.data.size());
  }
  store::EventFilter f;
  f.type = "accepted";
  auto events = store.value()->ListEvents(f);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), sent.size());
}

TEST_F(SpoolTest, SubmitAfterStopFailsCleanly) {
  auto sp = Spool::Open(dir_ / "spool.db", SpoolOptions{true, 8}, nullptr);
  ASSERT_TRUE(sp);
  sp.value()->Stop();
  bool failed = false;
  sp.value()->Submit(Message(1), [&](Result<std::string> r) { failed = !r.ok(); });
  EXPECT_TRUE(failed);
  auto n = sp.value()->Count();
  ASSERT_TRUE(n);
  EXPECT_EQ(n.value(), 0);
}

}  // namespace
}  // namespace kurier::spool
