// message_context_test.cpp - a message's context read from its events, and its splice into delivery
// events (the shape the spool, tracking and bounce intake share).
#include "store/message_context.hpp"

#include <gtest/gtest.h>

#include "store/store.hpp"

namespace kurier::store {
namespace {

TEST(MessageContext, FromEvents) {
  const std::vector<Event> events = {
      Event{1, 10, "accepted", "m1", "shop",
            R"({"mail_from":"a@shop.example","recipients":["X@y.example","z@y.example"],"tags":["t1"],"metadata":{"k":"v"}})"},
      Event{2, 20, "deferred", "m1", "shop", R"({"recipient":"x@y.example"})"},
      Event{3, 30, "delivered", "m1", "shop", R"({"recipient":"x@y.example"})"},
      Event{4, 40, "delivered", "m1", "shop", "not json"},
  };
  auto c = ContextFromEvents(events);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->account, "shop");
  EXPECT_EQ(c->mail_from, "a@shop.example");
  EXPECT_EQ(c->recipients, (std::vector<std::string>{"X@y.example", "z@y.example"}));
  EXPECT_EQ(c->tags, R"(["t1"])");
  EXPECT_EQ(c->metadata, R"({"k":"v"})");
  EXPECT_EQ(c->DeliveredAt("x@Y.example"), 30);
  EXPECT_EQ(c->DeliveredAt("z@y.example"), 0);
  EXPECT_EQ(ContextMembers(*c), R"("mail_from":"a@shop.example","tags":["t1"],"metadata":{"k":"v"})");

  EXPECT_FALSE(ContextFromEvents({events[1], events[2]})) << "no accepted event";
  EXPECT_FALSE(ContextFromEvents({Event{1, 10, "accepted", "m1", "shop", "{broken"}}));
  auto bare = ContextFromEvents({Event{1, 10, "accepted", "m1", "", R"({"mail_from":"q\"@x"})"}});
  ASSERT_TRUE(bare);
  EXPECT_EQ(ContextMembers(*bare), R"("mail_from":"q\"@x")") << "no empty tags or metadata";
}

TEST(MessageContext, AddedToDeliveryEvents) {
  MessageContext c;
  c.account = "shop";
  c.mail_from = "a@shop.example";
  c.tags = R"(["t"])";
  struct Row {
    const char* account;
    const char* data;
    const char* want_account;
    const char* want_data;
  };
  const std::vector<Row> rows = {
      {"", R"({"recipient":"b@x"})", "shop", R"({"recipient":"b@x","mail_from":"a@shop.example","tags":["t"]})"},
      {"", "{}", "shop", R"({"mail_from":"a@shop.example","tags":["t"]})"},
      {"other", R"({"recipient":"b@x"})", "other", R"({"recipient":"b@x"})"},  // names its account already
      {"", "[1]", "", "[1]"},                                                   // not an object
  };
  for (const auto& r : rows) {
    Event e{0, 0, "delivered", "m1", r.account, r.data};
    AddMessageContext(e, c);
    EXPECT_EQ(e.account, r.want_account) << r.data;
    EXPECT_EQ(e.data, r.want_data);
  }
  Event e{0, 0, "delivered", "m1", "", "{}"};
  AddMessageContext(e, MessageContext{});  // a message without an account adds nothing
  EXPECT_EQ(e.account, "");
  EXPECT_EQ(e.data, "{}");
}

}  // namespace
}  // namespace kurier::store
