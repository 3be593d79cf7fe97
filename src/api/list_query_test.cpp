// list_query_test.cpp - the list-query parser of GET /v1/events and GET /v1/messages: what each
// parameter sets in the EventFilter and which error a bad one gives.
#include "api/list_query.hpp"

#include <gtest/gtest.h>

namespace kurier::api {
namespace {

ListQuerySpec EventsLike() {
  ListQuerySpec spec;
  spec.order = true;
  spec.text = {{"message_id", &store::EventFilter::message_id}, {"tag", &store::EventFilter::tag}};
  spec.other = [](const std::string& k, const std::string& v, FieldErrors& e) {
    if (k != "kind") return false;
    if (v != "good") e.Add("/query/kind", "must be good");
    return true;
  };
  spec.unknown = "unknown filter";
  return spec;
}

struct Case {
  const char* name;
  std::map<std::string, std::string> query;
  bool order;                        // the listing accepts order=
  std::vector<std::string> errors;   // pointers, in order
  std::function<void(const store::EventFilter&)> check;
};

TEST(ListQuery, Table) {
  const Case cases[] = {
      {"defaults are kept", {}, true, {}, [](const auto& f) {
         EXPECT_EQ(f.limit, 100u);
         EXPECT_TRUE(f.newest_first);
         EXPECT_EQ(f.before_id, 0);
       }},
      {"limit and a cursor counting back", {{"limit", "5"}, {"cursor", "77"}}, true, {}, [](const auto& f) {
         EXPECT_EQ(f.limit, 5u);
         EXPECT_EQ(f.before_id, 77);
         EXPECT_EQ(f.after_id, 0);
       }},
      {"order=asc makes the cursor count forward", {{"order", "asc"}, {"cursor", "9"}}, true, {}, [](const auto& f) {
         EXPECT_FALSE(f.newest_first);
         EXPECT_EQ(f.after_id, 9);
         EXPECT_EQ(f.before_id, 0);
       }},
      {"order is unknown where the listing has none", {{"order", "asc"}, {"cursor", "9"}}, false, {"/query/order"},
       [](const auto& f) { EXPECT_EQ(f.before_id, 9); }},
      {"from and to", {{"from", "2026-11-26T00:00:00Z"}, {"to", "2026-11-26T00:00:01+00:00"}}, true, {}, [](const auto& f) {
         EXPECT_EQ(f.since, 1795651200000000);
         EXPECT_EQ(f.until, 1795651201000000);
       }},
      {"text filters are copied", {{"message_id", "m1"}, {"tag", "news"}}, true, {}, [](const auto& f) {
         EXPECT_EQ(f.message_id, "m1");
         EXPECT_EQ(f.tag, "news");
       }},
      {"the listing's own parameter", {{"kind", "good"}}, true, {}, nullptr},
      {"bad values, one error each, in name order",
       {{"limit", "0"}, {"cursor", "x"}, {"from", "yesterday"}, {"kind", "bad"}, {"order", "up"}},
       true,
       {"/query/cursor", "/query/from", "/query/kind", "/query/limit", "/query/order"},
       nullptr},
      {"limit above 1000", {{"limit", "1001"}}, true, {"/query/limit"}, [](const auto& f) { EXPECT_EQ(f.limit, 100u); }},
      {"an unknown name is escaped as a JSON pointer token", {{"a/b~c", "1"}}, true, {"/query/a~1b~0c"}, nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto spec = EventsLike();
    spec.order = c.order;
    store::EventFilter f;
    f.limit = 100;
    f.newest_first = true;
    FieldErrors err;
    ParseListQuery(c.query, spec, f, err);
    std::vector<std::string> pointers;
    for (const auto& e : err.list) pointers.push_back(e.pointer);
    EXPECT_EQ(pointers, c.errors);
    if (c.check) c.check(f);
  }
}

TEST(ListQuery, TimeOrAgo) {
  const int64_t now = 1795651200000000;  // 2026-11-26T00:00:00Z
  struct Row {
    std::string text;
    std::optional<int64_t> want;
  };
  const Row rows[] = {
      {"2026-11-26T00:00:00Z", now},       {"2026-11-26T01:00:00+01:00", now},
      {"90s", now - 90'000'000},           {"15m", now - 900'000'000},
      {"1h", now - 3'600'000'000},         {"7d", now - 7 * 86'400'000'000},
      {"2w", now - 14 * 86'400'000'000},   {"0s", now},
      {"1", std::nullopt},                 {"h", std::nullopt},
      {"1y", std::nullopt},                {"-1h", std::nullopt},
      {"1.5h", std::nullopt},              {"yesterday", std::nullopt},
      {"99999999w", std::nullopt},         {"", std::nullopt},
  };
  for (const auto& r : rows) EXPECT_EQ(ParseTimeOrAgo(r.text, now), r.want) << r.text;
}

TEST(ListQuery, UnknownDetailComesFromTheSpec) {
  store::EventFilter f;
  FieldErrors err;
  ParseListQuery({{"nope", "1"}}, EventsLike(), f, err);
  ASSERT_EQ(err.list.size(), 1u);
  EXPECT_EQ(err.list[0].detail, "unknown filter");
}

TEST(ListQuery, NextCursorOnlyForAFullPage) {
  store::EventFilter f;
  f.limit = 2;
  std::vector<store::Event> page(2);
  page[1].id = 41;
  EXPECT_EQ(NextCursor(page, f), std::optional<std::string>("41"));
  page.pop_back();
  EXPECT_EQ(NextCursor(page, f), std::nullopt);
  EXPECT_EQ(NextCursor({}, f), std::nullopt);
}

}  // namespace
}  // namespace kurier::api
