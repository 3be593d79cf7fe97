// ingress_test.cpp - the one way in: preparation for SMTP and HTTP origins, the envelope sender's rule,
// suppressed recipients taken out and recorded, and submission to a real spool on a real store.
#include "ingress/ingress.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>

#include "common/ids.hpp"
#include "store/store.hpp"

namespace kurier::ingress {
namespace {

Origin MakeOrigin(bool http) {
  Origin o;
  o.account = "shop";
  if (http) {
    o.api_key = "#3", o.credential = "api:#3", o.client_ip = "192.0.2.8", o.helo = "api";
    return o;
  }
  o.credential = "shop-user", o.client_ip = "192.0.2.7", o.helo = "client.example";
  o.tls = true, o.authenticated = true;
  o.tls_version = "TLSv1.3", o.tls_cipher = "TLS_AES_256_GCM_SHA384";
  return o;
}
Origin SmtpOrigin() { return MakeOrigin(false); }
Origin HttpOrigin() { return MakeOrigin(true); }

TEST(IngressPrepare, EachOriginGetsItsReceivedLineAndTheMissingIds) {
  struct Case {
    const char* name;
    Origin origin;
    std::vector<std::string> rcpts;
    const char* raw;
    std::vector<std::string> want;  // substrings of the prepared data, in order
    bool adds_message_id;
  };
  const Case cases[] = {
      {"smtp, one recipient", SmtpOrigin(), {"b@example.net"}, "Subject: x\r\n\r\nbody\r\n",
       {"Received: from client.example ([192.0.2.7])\r\n\tby mx.test (kurier) with ESMTPSA id ", "for <b@example.net>",
        "Subject: x\r\n", "Message-ID: <", "Date: ", "\r\n\r\nbody\r\n"},
       true},
      {"smtp, two recipients: no for clause", SmtpOrigin(), {"b@example.net", "c@example.net"},
       "Message-ID: <a@b>\r\nDate: Mon, 7 Dec 2026 00:00:00 +0000\r\n\r\nbody\r\n",
       {"with ESMTPSA id ", "Message-ID: <a@b>\r\n"}, false},
      {"http", HttpOrigin(), {"b@example.net"}, "Subject: x\r\n\r\nbody\r\n",
       {"Received: from api (key #3 [192.0.2.8])\r\n\tby mx.test (kurier) with HTTP id ", "Subject: x\r\n",
        "Message-ID: <"},
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto p = Prepare(c.origin, Envelope{"a@shop.test", c.rcpts, "7BIT", false}, c.raw, "mx.test", false, 1'700'000'000'000'000);
    ASSERT_TRUE(p.error.empty()) << p.error;
    const auto& m = p.message;
    EXPECT_FALSE(m.id.empty());
    EXPECT_EQ(m.size, m.data.size());
    EXPECT_EQ(m.account, "shop");
    EXPECT_EQ(m.credential, c.origin.credential);
    EXPECT_EQ(m.recipients, c.rcpts);
    EXPECT_EQ(m.received_at, 1'700'000'000'000'000);
    std::size_t at = 0;
    for (const auto& w : c.want) {
      auto f = m.data.find(w, at);
      ASSERT_NE(f, std::string::npos) << "missing '" << w << "' after offset " << at << " in:\n" << m.data;
      at = f + w.size();
    }
    EXPECT_EQ(m.data.find("for <") != std::string::npos, c.rcpts.size() == 1 && c.origin.api_key.empty());
    if (c.adds_message_id) {
      EXPECT_NE(m.data.find("Message-ID: <" + m.id + "@mx.test>"), std::string::npos);
    }
  }
}

TEST(IngressPrepare, SubmissionFieldsAreReadOnceWhenAsked) {
  const std::string raw = "X-Kurier-Tag: spring, news\r\nX-Kurier-Metadata: {\"order\":\"42\"}\r\nSubject: x\r\n\r\nb\r\n";
  auto read = Prepare(SmtpOrigin(), Envelope{"a@shop.test", {"b@example.net"}}, raw, "mx.test", true, 1);
  ASSERT_TRUE(read.error.empty()) << read.error;
  EXPECT_EQ(read.message.tags, R"(["spring","news"])");
  EXPECT_EQ(read.message.metadata, R"({"order":"42"})");
  // The fields become the message's own and leave its text; every other field stays.
  EXPECT_EQ(read.message.data.find("X-Kurier-"), std::string::npos) << read.message.data;
  EXPECT_NE(read.message.data.find("\r\nSubject: x\r\n"), std::string::npos) << read.message.data;
  EXPECT_TRUE(read.message.data.ends_with("\r\n\r\nb\r\n")) << read.message.data;
  EXPECT_EQ(read.message.size, read.message.data.size());
  const std::string tracked = "X-Kurier-Track-Opens: no\r\nx-kurier-list-unsubscribe: yes\r\nSubject: x\r\n\r\nb\r\n";
  auto options = Prepare(SmtpOrigin(), Envelope{"a@shop.test", {"b@example.net"}}, tracked, "mx.test", true, 1);
  ASSERT_TRUE(options.error.empty()) << options.error;
  EXPECT_EQ(options.message.options, (spool::SendOptions{false, std::nullopt, true}));
  EXPECT_EQ(options.message.data.find("urier-"), std::string::npos) << options.message.data;
  // The relay listener's mail (or any not asked to be read) keeps the defaults and its text.
  auto unread = Prepare(SmtpOrigin(), Envelope{"a@shop.test", {"b@example.net"}}, tracked, "mx.test", false, 1);
  EXPECT_EQ(unread.message.tags, "[]");
  EXPECT_EQ(unread.message.metadata, "{}");
  EXPECT_EQ(unread.message.options, spool::SendOptions{});
  EXPECT_NE(unread.message.data.find("X-Kurier-Track-Opens: no\r\n"), std::string::npos);
  // A field that cannot be used refuses the message, naming the field.
  auto bad = Prepare(SmtpOrigin(), Envelope{"a@shop.test", {"b@example.net"}}, "X-Kurier-Track-Opens: maybe\r\n\r\nb\r\n",
                     "mx.test", true, 1);
  EXPECT_NE(bad.error.find("X-Kurier-Track-Opens"), std::string::npos) << bad.error;
}

class IngressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-ingress-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto st = store::OpenStore("sqlite", dir_ / "kurier.db");
    ASSERT_TRUE(st) << st.error().message;
    store_ = std::move(st.value());
    auto sp = spool::Spool::Open(dir_ / "spool.db", spool::SpoolOptions{true, 64}, store_.get());
    ASSERT_TRUE(sp) << sp.error().message;
    spool_ = std::move(sp.value());
    ASSERT_TRUE(store_->CreateAccount("shop"));
    ASSERT_TRUE(store_->AddSenderDomain("shop", "Shop.test"));
  }
  void TearDown() override {
    spool_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  spool::SpoolMessage Message(std::vector<std::string> rcpts) {
    return Prepare(SmtpOrigin(), Envelope{"a@shop.test", std::move(rcpts)}, "Subject: x\r\n\r\nb\r\n", "mx.test", false,
                   NowMicros())
        .message;
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<spool::Spool> spool_;
};

TEST_F(IngressTest, TheSenderRuleIsTheSessionsRule) {
  Ingress in(*store_, *spool_);
  EXPECT_EQ(in.SenderProblem("shop", "a@SHOP.test"), std::nullopt) << "domains compare case-insensitively (sandbox)";
  auto other = in.SenderProblem("shop", "a@other.test");
  ASSERT_TRUE(other);
  EXPECT_NE(other->find("add-domain shop other.test"), std::string::npos) << *other;
  ASSERT_TRUE(store_->SetSandbox("shop", false));
  auto unverified = in.SenderProblem("shop", "a@shop.test");
  ASSERT_TRUE(unverified);
  EXPECT_NE(unverified->find("kurier domain check shop.test"), std::string::npos) << *unverified;
  auto gone = in.SenderProblem("nobody", "a@shop.test");
  ASSERT_TRUE(gone);
  EXPECT_NE(gone->find("no longer exists"), std::string::npos);
}

TEST_F(IngressTest, SuppressedRecipientsAreTakenOutRecordedAndNeverSpooled) {
  ASSERT_TRUE(store_->AddSuppression(store::Suppression{"shop", "gone@example.net", "complaint", "", "", 0}));
  ASSERT_TRUE(store_->AddSuppression(store::Suppression{"", "global@example.net", "hard_bounce", "", "", 0}));
  Ingress in(*store_, *spool_);
  std::vector<spool::SpoolMessage> ms;
  ms.push_back(Message({"Gone@Example.net", "kept@example.net"}));
  ms.push_back(Message({"global@example.net"}));
  ms.push_back(Message({"other@example.net"}));
  const std::string partly = ms[0].id, wholly = ms[1].id, untouched = ms[2].id;
  auto dropped = in.DropSuppressed(ms);
  ASSERT_TRUE(dropped) << dropped.error().message;
  ASSERT_EQ(dropped->size(), 3u);
  ASSERT_EQ((*dropped)[0].size(), 1u);
  EXPECT_EQ((*dropped)[0][0].address, "Gone@Example.net");
  EXPECT_EQ((*dropped)[0][0].reason, "complaint");
  EXPECT_EQ(ms[0].recipients, std::vector<std::string>{"kept@example.net"});
  ASSERT_EQ((*dropped)[1].size(), 1u);
  EXPECT_EQ((*dropped)[1][0].reason, "hard_bounce");
  EXPECT_TRUE(ms[1].recipients.empty());
  EXPECT_TRUE((*dropped)[2].empty());

  store::EventFilter f;
  f.type = "suppressed";
  auto events = store_->ListEvents(f);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ(events->at(0).message_id, partly);
  EXPECT_NE(events->at(0).data.find("\"scope\":\"account\""), std::string::npos) << events->at(0).data;
  EXPECT_NE(events->at(1).data.find("\"scope\":\"global\""), std::string::npos) << events->at(1).data;

  std::promise<std::pair<bool, std::string>> done;
  in.Submit(std::move(ms), [&](bool ok, std::string e) { done.set_value({ok, e}); });
  auto [ok, error] = done.get_future().get();
  ASSERT_TRUE(ok) << error;
  EXPECT_TRUE(spool_->Get(partly).value().has_value());
  EXPECT_FALSE(spool_->Get(wholly).value().has_value()) << "a message left with no recipient is not spooled";
  EXPECT_TRUE(spool_->Get(untouched).value().has_value());

  // One message with no recipient left is acknowledged with its id and not stored.
  auto lone = Message({"gone@example.net"});
  std::vector<spool::SpoolMessage> one{lone};
  ASSERT_TRUE(in.DropSuppressed(one));
  std::promise<Result<std::string>> id;
  in.Submit(std::move(one.front()), [&](Result<std::string> r) { id.set_value(std::move(r)); });
  auto r = id.get_future().get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), lone.id);
  EXPECT_FALSE(spool_->Get(lone.id).value().has_value());
}

}  // namespace
}  // namespace kurier::ingress
