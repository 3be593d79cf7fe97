// log_test.cpp - the JSON log line: valid JSON (RFC 8259, UTF-8) whatever the message holds.
#include "common/log.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace kurier {
namespace {

using std::chrono::system_clock;

TEST(JsonLogLine, TimeIsRfc3339InUtcWithMilliseconds) {
  auto t = system_clock::time_point(std::chrono::milliseconds(1796625000123LL));  // 2026-12-07T06:30:00.123Z
  EXPECT_EQ(JsonLogLine(t, "info", "kurier ready"),
            "{\"time\":\"2026-12-07T06:30:00.123Z\",\"level\":\"info\",\"message\":\"kurier ready\"}\n");
}

TEST(JsonLogLine, EveryMessageGivesOneValidJsonLine) {
  struct Case {
    std::string message, expected;  // expected: the "message" value after parsing
  };
  const Case cases[] = {
      {"plain", "plain"},
      {"quote \" and backslash \\", "quote \" and backslash \\"},
      {"line\nbreak\r\nand\ttab", "line\nbreak\r\nand\ttab"},
      {std::string("nul \0 bell \a esc \x1b del \x7f", 27), std::string("nul \0 bell \a esc \x1b del \x7f", 27)},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7"},  // valid UTF-8 kept
      {"bad \xff byte", "bad \xef\xbf\xbd byte"},                                            // invalid: U+FFFD
      {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},                                     // truncated sequence
      {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
      {"surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"username=\"a\\\"b\\r\\nMAIL\"", "username=\"a\\\"b\\r\\nMAIL\""},
  };
  for (const auto& c : cases) {
    std::string line = JsonLogLine(system_clock::now(), "warning", c.message);
    ASSERT_EQ(line.back(), '\n') << c.message;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    boost::system::error_code ec;
    auto v = boost::json::parse(std::string_view(line).substr(0, line.size() - 1), ec);
    ASSERT_FALSE(ec) << line;
    EXPECT_EQ(std::string(v.at("message").as_string()), c.expected) << line;
    EXPECT_EQ(v.at("level").as_string(), "warning");
    for (unsigned char ch : line) EXPECT_TRUE(ch >= 0x20 || ch == '\n') << line;
  }
}

}  // namespace
}  // namespace kurier
