// Tests of the small text helpers in common/encoding.hpp that more than one room uses: HTML escaping
// (templates, tracking links and pages) and RFC 6901 JSON-pointer tokens (API and MIME builder errors).
#include "common/encoding.hpp"

#include <gtest/gtest.h>

namespace kurier {
namespace {

TEST(Encoding, HtmlEscape) {
  struct Row {
    std::string in, want;
  };
  const Row rows[] = {
      {"", ""},
      {"plain text", "plain text"},
      {"a & b", "a &amp; b"},
      {"<script>", "&lt;script&gt;"},
      {"say \"hi\"", "say &quot;hi&quot;"},
      {"it's", "it&#39;s"},
      {"&amp;", "&amp;amp;"},
      {"https://x.example/?a=1&b=<2>", "https://x.example/?a=1&amp;b=&lt;2&gt;"},
      {"Zażółć", "Zażółć"},
      {std::string("nul\0byte", 8), std::string("nul\0byte", 8)},
  };
  for (const auto& r : rows) EXPECT_EQ(HtmlEscape(r.in), r.want) << r.in;
}

TEST(Encoding, JsonPointerToken) {
  struct Row {
    std::string in, want;
  };
  const Row rows[] = {
      {"", ""},         {"name", "name"},     {"a/b", "a~1b"},    {"a~b", "a~0b"},
      {"~/", "~0~1"},   {"~1", "~01"},        {"X-Campaign", "X-Campaign"},
  };
  for (const auto& r : rows) EXPECT_EQ(JsonPointerToken(r.in), r.want) << r.in;
}

TEST(Encoding, EditDistance) {
  struct Row {
    std::string a, b;
    std::size_t want;
  };
  const Row rows[] = {
      {"", "", 0},          {"list", "list", 0},     {"lst", "list", 1},     {"lsit", "list", 1},  // a swap is one edit
      {"--limt", "--limit", 1}, {"qeue", "queue", 1}, {"show", "list", 4},  {"", "abc", 3},
      {"abc", "", 3},       {"kitten", "sitting", 3}, {"ca", "abc", 3},       {"smtp.submision", "smtp.submission", 1},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(EditDistance(r.a, r.b), r.want) << r.a << " / " << r.b;
    EXPECT_EQ(EditDistance(r.b, r.a), r.want) << r.b << " / " << r.a;
  }
}

}  // namespace
}  // namespace kurier
