#include "api/templates_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace kurier::api {
namespace {

TEST(TemplateName, Table) {
  struct Row {
    std::string name;
    bool ok;
  } rows[] = {
      {"welcome", true},
      {"order-shipped.v2_final", true},
      {"42", true},
      {"A", true},
      {std::string(100, 'a'), true},
      {std::string(101, 'a'), false},
      {"", false},
      {"-leading-dash", false},
      {".hidden", false},
      {"has space", false},
      {"a/b", false},
      {"caf\xc3\xa9", false},
      {"tmpl_01abc", false},  // would read as an id
      {"tmpl-ok", true},
  };
  for (const auto& r : rows) EXPECT_EQ(!TemplateNameProblem(r.name), r.ok) << r.name;
}

TEST(TemplateVersionNumber, Table) {
  struct Row {
    std::string segment;
    std::optional<int> want;
  } rows[] = {
      {"1", 1}, {"12", 12}, {"999999999", 999999999}, {"0", std::nullopt}, {"01", std::nullopt},
      {"-1", std::nullopt}, {"1a", std::nullopt}, {"", std::nullopt}, {"1234567890", std::nullopt},
      {"latest", std::nullopt},
  };
  for (const auto& r : rows) EXPECT_EQ(ParseVersionNumber(r.segment), r.want) << r.segment;
}

// Each body gives the pointers of its errors, in order.
TEST(TemplateFieldsParse, Table) {
  struct Row {
    std::string body;
    std::vector<std::string> pointers;
  } rows[] = {
      {R"({"name":"welcome","subject":"Hi {{name}}","text":"Hello","html":"<p>{{{body}}}</p>","publish":false})", {}},
      {R"({"name":"welcome","subject":"Hi {{#a}}x","text":"t"})", {"/subject"}},
      {R"({"html":"<p>{{/b}}</p>"})", {"/html"}},
      {R"({"text":"{{> partial}}"})", {"/text"}},
      {R"({"text":"{{"})", {"/text"}},  // kainjow: unclosed tag
      {R"({"subject":"line one\nline two"})", {"/subject"}},
      {R"({"text":"nul \u0000 here"})", {"/text"}},
      {R"({"name":7,"subject":["x"],"publish":"yes"})", {"/name", "/subject", "/publish"}},
      {R"({"name":"bad name"})", {"/name"}},
      {R"({"nmae":"typo","a/b":1})", {"/nmae", "/a~1b"}},
      {R"({"subject":null,"text":null})", {}},
  };
  for (const auto& r : rows) {
    TemplateFields f;
    std::vector<FieldError> errors;
    ParseTemplateFields(boost::json::parse(r.body).as_object(), f, errors);
    std::vector<std::string> got;
    for (const auto& e : errors) got.push_back(e.pointer);
    EXPECT_EQ(got, r.pointers) << r.body;
  }
}

TEST(TemplateFieldsParse, KeepsValuesAndNamesTheSyntaxError) {
  TemplateFields f;
  std::vector<FieldError> errors;
  ParseTemplateFields(boost::json::parse(R"({"name":"w","subject":"S {{x}}","html":"<b>{{y}}</b>","publish":true})").as_object(),
                      f, errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(f.name, "w");
  EXPECT_EQ(f.subject, "S {{x}}");
  EXPECT_FALSE(f.text);
  EXPECT_EQ(f.html, "<b>{{y}}</b>");
  EXPECT_EQ(f.publish, true);

  ParseTemplateFields(boost::json::parse(R"({"html":"<p>\n{{#items}}\n</p>"})").as_object(), f, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/html");
  EXPECT_NE(errors[0].detail.find("unclosed section \"items\" opened at line 2, column 1"), std::string::npos)
      << errors[0].detail;
}

TEST(TemplateContentRequired, Table) {
  struct Row {
    std::string subject, text, html;
    std::vector<std::string> pointers;
  } rows[] = {
      {"s", "t", "", {}},
      {"s", "", "h", {}},
      {"s", "t", "h", {}},
      {"", "t", "h", {"/subject"}},
      {"s", "", "", {"/text"}},
      {"", "", "", {"/subject", "/text"}},
  };
  for (const auto& r : rows) {
    std::vector<FieldError> errors;
    RequireTemplateContent(r.subject, r.text, r.html, errors);
    std::vector<std::string> got;
    for (const auto& e : errors) got.push_back(e.pointer);
    EXPECT_EQ(got, r.pointers) << r.subject << "|" << r.text << "|" << r.html;
  }
}

}  // namespace
}  // namespace kurier::api
