// ParseJson (api/json_body.hpp): a request body's JSON, and where a syntax error is.
#include "api/json_body.hpp"

#include <boost/json/parse.hpp>
#include <cmath>
#include <gtest/gtest.h>

namespace kurier::api {
namespace {

TEST(ParseJson, SaysWhereTheSyntaxErrorIs) {
  const std::pair<const char*, const char*> rows[] = {
      // body -> "" when it parses, else a part of the error
      {R"({"a": 1})", ""},
      {" \r\n[1, 2]\r\n ", ""},
      {"{not json", "at line 1, column 2"},
      {"{\n  \"to\": \"a@example.net\",\n  \"subject\": \"x\"\n  \"text\": \"y\"\n}", "at line 4, column 3"},
      {"{\"a\": 1,}", "at line 1, column 9"},
      {"{\"a\": 1} {}", "more text after the JSON value at line 1, column 10"},
      {"{\"a\": ", "at line 1, column 7"},
      {"", "the body is empty"},
      {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "at line 1"},
  };
  for (const auto& [body, want] : rows) {
    boost::json::value v;
    const std::string error = ParseJson(body, v);
    if (*want == '\0') {
      EXPECT_EQ(error, "") << body;
    } else {
      EXPECT_NE(error.find(want), std::string::npos) << body << " -> " << error;
    }
  }
}

}  // namespace
}  // namespace kurier::api

TEST(JsonText, WritesFractionsAsPeopleDo) {
  struct Case {
    boost::json::value in;
    std::string want;
  };
  const Case cases[] = {
      {0.0, "0"},
      {0.25, "0.25"},
      {1.0 / 3.0, "0.3333333333333333"},
      {boost::json::object{{"a", 0.5}, {"b", boost::json::array{1, 1.5, "x\"y", nullptr, true}}},
       R"({"a":0.5,"b":[1,1.5,"x\"y",null,true]})"},
      {std::nan(""), "null"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(kurier::api::JsonText(c.in), c.want);
    // (0.0 comes back as the integer 0: the same number to any JSON reader)
    if (c.want != "null" && c.want != "0") EXPECT_EQ(boost::json::parse(kurier::api::JsonText(c.in)), c.in) << c.want;
  }
}
