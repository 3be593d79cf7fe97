// event_json_test.cpp - the two shapes of one event's JSON (the API's and webhooks' flat shape, the
// CLI's nested one) and the webhook envelope, byte for byte.
#include "events/event_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace kurier::events {
namespace {

constexpr int64_t kTime = 1795687200000001;  // 2026-11-26T10:00:00Z and one microsecond
constexpr const char* kTimeText = "\"2026-11-26T10:00:00Z\"";

store::Event MakeEvent(int64_t id, std::string type, std::string message_id, std::string account, std::string data) {
  return store::Event{id, kTime, std::move(type), std::move(message_id), std::move(account), std::move(data)};
}

struct Case {
  const char* name;
  store::Event event;
  const char* flat;
  const char* nested;
};

TEST(EventJson, BothShapes) {
  const std::string t = kTimeText;
  const Case cases[] = {
      {"data fields are lifted, in order",
       MakeEvent(42, "delivered", "m1", "acme", R"({"recipient":"a@x.org","reply":"250 ok","attempt":1})"),
       R"({"id":"42","type":"delivered","time":T,"message_id":"m1","account":"acme","recipient":"a@x.org","reply":"250 ok","attempt":1})",
       R"({"id":42,"type":"delivered","time":T,"message_id":"m1","account":"acme","data":{"recipient":"a@x.org","reply":"250 ok","attempt":1}})"},
      {"data never replaces the event's own fields",
       MakeEvent(7, "opened", "m2", "acme", R"({"id":"x","type":"y","time":1,"account":"other","ua":"z"})"),
       R"({"id":"7","type":"opened","time":T,"message_id":"m2","account":"acme","ua":"z"})",
       R"({"id":7,"type":"opened","time":T,"message_id":"m2","account":"acme","data":{"id":"x","type":"y","time":1,"account":"other","ua":"z"}})"},
      {"empty message id and account are left out of the flat shape only",
       MakeEvent(3, "auth_failed", "", "", R"({"client_ip":"192.0.2.1"})"),
       R"({"id":"3","type":"auth_failed","time":T,"client_ip":"192.0.2.1"})",
       R"({"id":3,"type":"auth_failed","time":T,"message_id":"","account":"","data":{"client_ip":"192.0.2.1"}})"},
      {"data that is not JSON is a string in the nested shape",
       MakeEvent(5, "deleted", "m3", "acme", "not json"),
       R"({"id":"5","type":"deleted","time":T,"message_id":"m3","account":"acme"})",
       R"({"id":5,"type":"deleted","time":T,"message_id":"m3","account":"acme","data":"not json"})"},
      {"data that is JSON but no object",
       MakeEvent(6, "deleted", "m4", "acme", "[1,2]"),
       R"({"id":"6","type":"deleted","time":T,"message_id":"m4","account":"acme"})",
       R"({"id":6,"type":"deleted","time":T,"message_id":"m4","account":"acme","data":[1,2]})"},
  };
  auto expand = [&](std::string s) {
    for (size_t p; (p = s.find(":T")) != std::string::npos;) s.replace(p + 1, 1, t);
    return s;
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(EventJson(c.event, EventShape::kFlat), expand(c.flat));
    EXPECT_EQ(EventJson(c.event, EventShape::kNested), expand(c.nested));
    EXPECT_EQ(boost::json::serialize(EventObject(c.event)), expand(c.flat));
  }
}

TEST(EventJson, WebhookPayloadWrapsTheFlatShape) {
  auto e = MakeEvent(9, "bounced", "m9", "acme", R"({"recipient":"b@y.org","classification":"hard"})");
  EXPECT_EQ(WebhookPayload(e), std::string("{\"type\":\"bounced\",\"timestamp\":") + kTimeText + ",\"data\":" +
                                   EventJson(e, EventShape::kFlat) + "}");
}

}  // namespace
}  // namespace kurier::events
