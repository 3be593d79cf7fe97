// ParseJson (api/json_body.hpp): a request body's JSON, and where a syntax error is.
#include "api/json_body.hpp"

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
