#include "templates/templates.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>

namespace kurier::templates {
namespace {

using Names = std::vector<std::string>;

TEST(TemplateRender, Table) {
  struct Row {
    std::string tmpl;
    std::string variables;  // JSON
    bool html;
    std::string want;
    Names missing;
  } rows[] = {
      // Interpolation
      {"Hello {{name}}!", R"({"name":"Ada"})", false, "Hello Ada!", {}},
      {"Hello {{ name }}!", R"({"name":"Ada"})", false, "Hello Ada!", {}},
      {"Hello {{name}}!", R"({})", false, "Hello !", {"name"}},
      {"{{a}}{{a}}{{b}}{{a}}", R"({})", false, "", {"a", "b"}},
      {"Cześć {{name}}", R"({"name":"Łukasz"})", false, "Cześć Łukasz", {}},
      {"{{x}}", R"({"x":null})", false, "", {}},
      {"{{n}} {{f}} {{neg}} {{big}} {{u}} {{whole}}",
       R"({"n":42,"f":1.5,"neg":-3,"big":12345678901234,"u":18446744073709551615,"whole":100.0})", false,
       "42 1.5 -3 12345678901234 18446744073709551615 100", {}},
      // Dotted names: the first part through the context stack, the rest inside what it found.
      {"{{order.id}} {{order.customer.name}}", R"({"order":{"id":7,"customer":{"name":"Ada"}}})", false, "7 Ada", {}},
      {"{{order.id}}", R"({"order":{}})", false, "", {"order.id"}},
      {"{{order.id}}", R"({})", false, "", {"order.id"}},
      {"{{#a}}{{b.c}}{{/a}}", R"({"a":{"b":{}},"b":{"c":"outer"}})", false, "", {"b.c"}},
      {"{{#user}}{{name}} at {{company.name}}{{/user}}", R"({"user":{"name":"Ada"},"company":{"name":"ACME"}})",
       false, "Ada at ACME", {}},
      // Sections over lists, objects, booleans
      {"{{#items}}{{name}}={{qty}};{{/items}}", R"({"items":[{"name":"a","qty":1},{"name":"b","qty":2}]})", false,
       "a=1;b=2;", {}},
      {"{{#items}}[{{.}}]{{/items}}", R"({"items":[1,"x",2.5]})", false, "[1][x][2.5]", {}},
      {"{{#items}}\n- {{.}}\n{{/items}}\n", R"({"items":["a","b"]})", false, "- a\n- b\n", {}},
      {"{{#items}}{{name}}{{/items}}", R"({"items":[{"name":"a"},{}]})", false, "a", {"name"}},
      {"{{#vip}}VIP{{/vip}}{{^vip}}regular{{/vip}}", R"({"vip":true})", false, "VIP", {}},
      {"{{#vip}}VIP{{/vip}}{{^vip}}regular{{/vip}}", R"({"vip":false})", false, "regular", {}},
      {"{{#vip}}VIP{{/vip}}{{^vip}}regular{{/vip}}", R"({"vip":null})", false, "regular", {}},
      {"{{#coupon}}code {{coupon}}{{/coupon}}", R"({"coupon":""})", false, "", {}},
      {"{{#coupon}}code {{coupon}}{{/coupon}}", R"({"coupon":"SPRING"})", false, "code SPRING", {}},
      {"{{#n}}n={{n}}{{/n}}", R"({"n":0})", false, "n=0", {}},  // numbers are truthy (documented)
      // Inverted sections; absent names are listed even where absence is what the template expects.
      {"{{^items}}none{{/items}}", R"({"items":[]})", false, "none", {}},
      {"{{^items}}none{{/items}}", R"({})", false, "none", {"items"}},
      // A section that is not rendered is not looked into.
      {"{{#x}}{{y}}{{/x}}", R"({})", false, "", {"x"}},
      // Escaping
      {"{{v}}", R"({"v":"<a href=\"x\">&'</a>"})", true, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;", {}},
      {"{{v}}", R"({"v":"<a href=\"x\">&'</a>"})", false, "<a href=\"x\">&'</a>", {}},
      {"{{{v}}}|{{&v}}", R"({"v":"<b>&</b>"})", true, "<b>&</b>|<b>&</b>", {}},
      {"<p>{{title}}</p>", R"({"title":"Tom & Jerry"})", true, "<p>Tom &amp; Jerry</p>", {}},
      // Comments and delimiters
      {"{{! a comment }}x", R"({})", false, "x", {}},
      {"{{=<% %>=}}Hi <% name %>, {{name}}", R"({"name":"Ada"})", false, "Hi Ada, {{name}}", {}},
      {"no tags at all", R"({"unused":1})", false, "no tags at all", {}},
      {"", R"({})", false, "", {}},
  };
  for (const auto& r : rows) {
    auto out = Render(r.tmpl, boost::json::parse(r.variables), r.html);
    ASSERT_TRUE(out.ok()) << r.tmpl << ": " << out.error().message;
    EXPECT_EQ(out->text, r.want) << r.tmpl << " with " << r.variables;
    EXPECT_EQ(out->missing, r.missing) << r.tmpl << " with " << r.variables;
  }
}

TEST(TemplateRender, SyntaxErrorsNameProblemAndPosition) {
  std::string deep;
  for (std::size_t i = 0; i <= kMaxSectionDepth; ++i) deep += "{{#s" + std::to_string(i) + "}}";
  struct Row {
    std::string tmpl;
    std::string want;  // part of the message
  } rows[] = {
      {"Hello {{name", "unclosed tag at line 1, column 7"},
      {"a\nb {{{name}}", "unclosed tag at line 2, column 3"},
      {"{{#items}}x", "unclosed section \"items\" opened at line 1, column 1: add {{/items}}"},
      {"a\n  {{#a}}{{/b}}", "section \"a\" opened at line 2, column 3 is closed by {{/b}} at line 2, column 9"},
      {"x {{/a}}", "{{/a}} at line 1, column 3 closes a section that was never opened"},
      {"{{> header}}", "partials are not supported: {{> header}} at line 1, column 1"},
      {"{{}}", "empty tag {{}} at line 1, column 1"},
      {"{{# }}", "empty tag {{# }} at line 1, column 1"},
      {"{{{ }}}", "empty tag"},
      {"{{=<% %>}}", "invalid set delimiter tag at line 1, column 1"},
      {"Zażółć {{x", "unclosed tag at line 1, column 8"},  // columns count characters, not bytes
      {"{{=<% %>=}}<%#a%>", "unclosed section \"a\" opened at line 1, column 12"},
      {deep, "nested more than 64 deep at line 1, column " + std::to_string(1 + 7 * 10 + 8 * 54)},
  };
  for (const auto& r : rows) {
    auto parsed = Template::Parse(r.tmpl);
    ASSERT_FALSE(parsed.ok()) << r.tmpl;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find("template syntax error: "), std::string::npos) << parsed.error().message;
    EXPECT_NE(parsed.error().message.find(r.want), std::string::npos) << parsed.error().message;
    auto rendered = Render(r.tmpl, boost::json::object(), false);
    EXPECT_FALSE(rendered.ok());
  }
  // 64 levels are fine.
  std::string ok;
  for (std::size_t i = 0; i < kMaxSectionDepth; ++i) ok += "{{#s}}";
  ok += "x";
  for (std::size_t i = 0; i < kMaxSectionDepth; ++i) ok += "{{/s}}";
  auto out = Render(ok, boost::json::parse(R"({"s":true})"), false);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->text, "x");
}

TEST(TemplateRender, Variables) {
  auto bad = Render("{{x}}", boost::json::parse("[1,2]"), false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("must be a JSON object"), std::string::npos);
  EXPECT_FALSE(Render("{{x}}", boost::json::value("text"), false).ok());

  auto none = Render("Hi {{x}}", boost::json::value(nullptr), false);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->text, "Hi ");
  EXPECT_EQ(none->missing, Names{"x"});

  boost::json::value deep = boost::json::object();
  boost::json::value* at = &deep;
  for (std::size_t i = 0; i <= kMaxVariableDepth; ++i) at = &(at->as_object()["a"] = boost::json::object());
  auto too_deep = Render("{{a}}", deep, false);
  ASSERT_FALSE(too_deep.ok());
  EXPECT_NE(too_deep.error().message.find("deeper than 64"), std::string::npos);
}

TEST(TemplateRender, ParsedOnceRenderedPerRecipient) {
  auto t = Template::Parse("Dear {{name}},{{#items}} {{.}}{{/items}}{{^items}} nothing{{/items}}");
  ASSERT_TRUE(t.ok()) << t.error().message;
  struct Row {
    const char* variables;
    const char* want;
    Names missing;
  } rows[] = {
      {R"({"name":"Ada","items":["a","b"]})", "Dear Ada, a b", {}},
      {R"({"name":"Bob","items":[]})", "Dear Bob, nothing", {}},
      {R"({})", "Dear , nothing", {"name", "items"}},
  };
  for (const auto& r : rows) {
    for (bool html : {false, true}) {
      auto out = t->Render(boost::json::parse(r.variables), html);
      ASSERT_TRUE(out.ok()) << out.error().message;
      EXPECT_EQ(out->text, r.want);
      EXPECT_EQ(out->missing, r.missing);
    }
  }
  // The escaping of one render does not leak into the next.
  auto t2 = Template::Parse("{{v}}");
  ASSERT_TRUE(t2.ok());
  auto v = boost::json::parse(R"({"v":"<&>"})");
  EXPECT_EQ(t2->Render(v, true)->text, "&lt;&amp;&gt;");
  EXPECT_EQ(t2->Render(v, false)->text, "<&>");
  EXPECT_EQ(t2->Render(v, true)->text, "&lt;&amp;&gt;");
}

TEST(TemplateRender, RandomTemplatesParseOrFailCleanly) {
  std::mt19937 rng(5);
  const std::vector<std::string> atoms = {"{{", "}}", "{{{", "}}}", "#", "^", "/", "&", "!", ">", "=", " ", "\n",
                                          "a", "b", ".", "a.b", "{{=<% %>=}}", "<%", "%>", "ż", "\xff", std::string(1, '\0')};
  auto vars = boost::json::parse(R"({"a":[{"b":1},{"b":"x"}],"b":{"c":true}})");
  int ok = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string t;
    for (int i = rng() % 20; i > 0; --i) t += atoms[rng() % atoms.size()];
    auto parsed = Template::Parse(t);
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << t;
      EXPECT_NE(parsed.error().message.find(" at line "), std::string::npos) << parsed.error().message;
      continue;
    }
    ++ok;
    auto out = parsed->Render(vars, true);
    EXPECT_TRUE(out.ok()) << t << ": " << out.error().message;
  }
  EXPECT_GT(ok, 500);
}

// Templates whose only tags are interpolations are rendered from a flat form; it must give exactly what
// kainjow gives (text, escaping, missing names) for any such template, and random atoms that also make
// sections, comments and delimiters must keep going through kainjow.
TEST(TemplateRender, FlatPathMatchesTheLibrary) {
  std::mt19937 rng(9);
  const std::vector<std::string> atoms = {"{{a}}", "{{ a }}", "{{{a}}}", "{{& a}}", "{{a.b}}", "{{b.c}}", "{{n}}",
                                          "{{t}}", "{{e}}", "{{nul}}", "{{missing}}", "{{x.y.z}}", "{{.}}", "{{list}}",
                                          " ", "  ", "\n", "\r\n", "\t", "text", "<p>", "{", "}", "}}", "ż", "a b"};
  auto vars = boost::json::parse(
      R"({"a":"<Ada & \"co\">","b":{"c":"nested's"},"n":42,"t":true,"e":"","nul":null,"list":[1,2]})");
  int flat = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string t;
    for (int i = rng() % 25; i > 0; --i) t += atoms[rng() % atoms.size()];
    auto parsed = Template::Parse(t);
    if (!parsed.ok()) continue;
    flat += parsed->flat();
    for (bool html : {false, true}) {
      auto fast = parsed->Render(vars, html);
      auto slow = parsed->RenderByLibrary(vars, html);
      ASSERT_TRUE(fast.ok() && slow.ok()) << t;
      ASSERT_EQ(fast->text, slow->text) << t;
      ASSERT_EQ(fast->missing, slow->missing) << t;
    }
  }
  EXPECT_GT(flat, 2000);
  for (const char* other : {"{{#a}}x{{/a}}", "{{^a}}x{{/a}}", "{{! note }}", "{{=<% %>=}}<%a%>"}) {
    auto parsed = Template::Parse(other);
    ASSERT_TRUE(parsed) << other;
    EXPECT_FALSE(parsed->flat()) << other;
  }
}

}  // namespace
}  // namespace kurier::templates
