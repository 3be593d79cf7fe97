// Tests of the segment language (audience/segment.hpp): valid queries and their canonical form (which
// parses back to the same tree), invalid ones and the column and advice of their errors, and SQL injection
// attempts, which are refused by the parser or reach the SQL only as parameters. segment_sql_test.cpp runs
// the compiled SQL on SQLite and PostgreSQL.
#include "audience/segment.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace kurier::audience {
namespace {

TEST(SegmentParse, CanonicalForm) {
  struct Row {
    std::string in, want;
  };
  const Row rows[] = {
      // the issue's example
      {R"(attributes.country = "PL" and opened(within: 30d) and not clicked(campaign: "spring"))",
       R"(attributes.country = "PL" and opened(within: 30d) and not clicked(campaign: "spring"))"},
      {R"(ATTRIBUTES.Country="PL" AND Opened( WITHIN:30D ))", R"(attributes.Country = "PL" and opened(within: 30d))"},
      // Polish attribute keys and values
      {R"(attributes."Miasto" = "Kraków")", R"(attributes.Miasto = "Kraków")"},
      {R"(attributes."Województwo" = "małopolskie")", R"(attributes."Województwo" = "małopolskie")"},
      {R"(attributes."kod pocztowy" starts with "30-")", R"(attributes."kod pocztowy" starts with "30-")"},
      {R"(attributes.a-b_2 = 1)", R"(attributes.a-b_2 = 1)"},
      {R"(attributes."back\\slash \"q\"" = "a\\b")", R"(attributes."back\\slash \"q\"" = "a\\b")"},
      {R"(attributes.and = "or")", R"(attributes.and = "or")"},
      // fields and operators
      {R"(name contains "50%")", R"(name contains "50%")"},
      {R"(domain ENDS  WITH ".pl")", R"(domain ends with ".pl")"},
      {R"(address = "Jan@Example.PL")", R"(address = "Jan@Example.PL")"},
      {R"(status in ("active","bounced"))", R"(status in ("active", "bounced"))"},
      {R"(status != "suppressed")", R"(status != "suppressed")"},
      {R"(attributes.x in (1, 2.5, "three", false, -4))", R"(attributes.x in (1, 2.5, "three", false, -4))"},
      {R"(attributes.n = 007 or attributes.n = -0 or attributes.r < -1.50)",
       R"(attributes.n = 7 or attributes.n = 0 or attributes.r < -1.50)"},
      {R"(attributes.age exists and attributes.age != -3)", R"(attributes.age exists and attributes.age != -3)"},
      {"name\tis\n empty", "name is empty"},
      // created_at: spans, dates, times
      {R"(created_at > 30d)", R"(created_at > 30d)"},
      {R"(created_at >= 12H and created_at <= 2w)", R"(created_at >= 12h and created_at <= 2w)"},
      {R"(created_at = "2026-01-31")", R"(created_at = "2026-01-31")"},
      {R"(created_at < "2026-01-31T12:00:00.25+02:00")", R"(created_at < "2026-01-31T12:00:00.25+02:00")"},
      // nesting, not, flattening
      {R"((attributes.vip = true or attributes.score >= 4.5) and not status = "bounced")",
       R"((attributes.vip = true or attributes.score >= 4.5) and not status = "bounced")"},
      {R"(name = "a" and (name = "b" and name = "c"))", R"(name = "a" and name = "b" and name = "c")"},
      {R"(((name = "x")))", R"(name = "x")"},
      {R"(not not name is empty)", R"(not not name is empty)"},
      {R"(not (name = "a" or name = "b") or name = "c" and name = "d")",
       R"(not (name = "a" or name = "b") or (name = "c" and name = "d"))"},
      // calls: arguments in any order, printed in one
      {R"(opened(at_least: 3, within: 2w, campaign: "Spring \"24\""))",
       R"(opened(within: 2w, campaign: "Spring \"24\"", at_least: 3))"},
      {R"(sent() and delivered( ) and bounced(at_least: 1))", R"(sent() and delivered() and bounced())"},
      {R"(unsubscribed(within: 12h) or complained() or bounced(campaign: "x"))",
       R"(unsubscribed(within: 12h) or complained() or bounced(campaign: "x"))"},
      // lists and segments combine: in list A or B, minus segment C
      {R"((in_list("A") or IN_LIST("B")) and not in_segment("C"))",
       R"((in_list("A") or in_list("B")) and not in_segment("C"))"},
  };
  for (const auto& r : rows) {
    auto s = ParseSegment(r.in);
    ASSERT_TRUE(s.ok()) << r.in << ": " << s.error().message;
    EXPECT_EQ(Describe(*s), r.want) << r.in;
    auto again = ParseSegment(Describe(*s));
    ASSERT_TRUE(again.ok()) << Describe(*s) << ": " << again.error().message;
    EXPECT_TRUE(*again == *s) << r.in;
  }
}

TEST(SegmentParse, Tree) {
  auto s = ParseSegment(R"(attributes."Miasto" in ("Kraków", 3) or opened(campaign: "c1", at_least: 2))");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const auto& root = s->root;
  ASSERT_EQ(root.kind, SegmentNode::Kind::kOr);
  ASSERT_EQ(root.children.size(), 2u);
  const auto& cmp = root.children[0];
  EXPECT_EQ(cmp.field, SegmentField::kAttribute);
  EXPECT_EQ(cmp.key, "Miasto");
  EXPECT_EQ(cmp.op, SegmentOp::kIn);
  ASSERT_EQ(cmp.values.size(), 2u);
  EXPECT_EQ(cmp.values[0].text, "Kraków");
  EXPECT_EQ(cmp.values[1].kind, SegmentValue::Kind::kInteger);
  EXPECT_EQ(cmp.values[1].integer, 3);
  const auto& call = root.children[1];
  EXPECT_EQ(call.function, SegmentFunction::kOpened);
  EXPECT_EQ(call.campaign, "c1");
  EXPECT_EQ(call.at_least, 2);
  EXPECT_FALSE(call.within.has_value());

  auto span = ParseSegment("opened(within: 2w)");
  ASSERT_TRUE(span.ok());
  EXPECT_EQ(span->root.within->integer, 14LL * 86400 * 1000000);
}

TEST(SegmentParse, Errors) {
  struct Row {
    std::string in, want;
  };
  const Row rows[] = {
      {"", "column 1: expected a condition (e.g. attributes.country = \"PL\""},
      {"   ", "column 4: expected a condition"},
      {"attributes.country = ", "column 22: expected a value after '=' (a \"string\", a number, true or false), found the end"},
      {"attributes.country = PL", "column 22: expected a value after '=' (a \"string\", a number, true or false), found 'PL'"},
      {"attributes.country in (\"PL\",)", "column 29: expected a value after 'in'"},
      {"foo = \"x\"", "column 1: unknown field 'foo': write address, name, domain, status, created_at or attributes.KEY"},
      {"opend(within: 30d)", "column 1: unknown function 'opend': write opened, clicked"},
      {"opened(since: 30d)", "column 8: unknown argument 'since' of opened: write within: 30d"},
      {"opened(within: 30)", "column 16: within: takes a span"},
      {"opened(within: 30d, within: 2d)", "column 21: 'within' is given twice"},
      {"opened(within 30d)", "column 15: expected ':' after 'within'"},
      {"opened(at_least: 0)", "column 18: at_least: takes a whole number from 1 to 1000000"},
      {"opened(campaign: spring)", "column 18: campaign: takes a campaign's name or id in double quotes"},
      {"in_list()", "column 9: expected a list's name or id in double quotes: in_list(\"news\")"},
      {"in_list(\"a\", \"b\")", "column 12: expected ')' after the name"},
      {"name = \"abc", "column 8: the string that starts here has no closing '\"'"},
      {"name = 'x'", "column 8: unexpected \"'\": strings go in double quotes"},
      {"name == \"x\"", "column 6: unknown operator '==': write ="},
      {"name <> \"x\"", "column 6: unknown operator '<>': write !="},
      {"name = \"a\\nb\"", "column 10: unknown escape in a string"},
      {"status = \"gone\"", "column 10: status is one of \"active\""},
      {"status > \"active\"", "column 8: status takes =, != or in (...)"},
      {"created_at > \"yesterday\"", "column 14: created_at compares with a date \"2026-01-31\""},
      {"created_at > \"2026-02-30\"", "column 14: created_at compares with a date"},
      {"created_at = 5", "column 14: created_at compares with a date"},
      {"created_at contains \"x\"", "column 12: created_at takes =, !=, <, <=, > or >="},
      {"name > 30d", "column 8: a span like 30d is for created_at and within:"},
      {"created_at > 30m", "column 14: '30m' is not a number or a span"},
      {"created_at > 99999d", "column 14: the span '99999d' is too long"},
      {"(name = \"x\"", "column 12: expected ')' to close the '(' at column 1, found the end"},
      {"name = \"x\" or", "column 14: expected a condition (e.g. attributes.country = \"PL\", opened(within: 30d) or "
                          "in_list(\"news\")) after 'or'"},
      {"name = \"x\" name = \"y\"", "column 12: expected 'and', 'or' or the end of the query, found 'name'"},
      {"not", "column 4: expected a condition"},
      {"name = \"Łódź\" and attributes.Województwo = \"x\"",
       "column 35: unexpected 'ó': put text in double quotes (\"Kraków\"), attribute keys too"},
      {"attributes.x contains 5", "column 23: contains, starts with and ends with take a \"string\""},
      {"attributes.flag < true", "column 19: true and false compare with =, != or in (...)"},
      {"name = 5", "column 8: this field compares with a \"string\""},
      {"name exists", "column 6: 'exists' is for attributes.KEY"},
      {"attributes. = 1", "column 13: expected an attribute key after 'attributes.'"},
      {"attributes.\"\" = 1", "column 12: an attribute key has 1 to 256 bytes"},
      {"attributes = 1", "column 12: expected '.' and a key after 'attributes'"},
      {"name starts \"x\"", "column 13: expected 'with' after 'starts'"},
      {"name is \"x\"", "column 9: expected 'empty' after 'is'"},
      {"name \"x\"", "column 6: expected an operator after the field (=, !=, <, <=, >, >=, contains"},
      {"attributes.x = 1.", "column 16: expected a digit after the decimal point"},
      {"attributes.x = 1e5", "column 16: '1e5' is not a number or a span"},
      {"attributes.x = -x", "column 16: expected a digit after '-'"},
      {"attributes.x = 99999999999999999999", "column 16: the number '99999999999999999999' is out of range"},
      {"name = \"x\" or 1 = 1", "column 15: expected a condition"},
      {"name = \"x\"; DROP TABLE contacts", "column 11: unexpected ';'"},
      {std::string("name = \"a\0b\"", 12), "column 10: a string may not hold a NUL byte"},
      {"name = \"\xff\"", "column 9: a string must be UTF-8 text"},
      {"name = \"\xc3\x28\"", "column 9: a string must be UTF-8 text"},
  };
  for (const auto& r : rows) {
    auto s = ParseSegment(r.in);
    ASSERT_FALSE(s.ok()) << r.in << " parsed as " << Describe(*s);
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.error().message.substr(0, r.want.size()), r.want) << r.in;
  }
}

TEST(SegmentParse, Bounds) {
  std::string deep(kMaxSegmentDepth + 1, '(');
  deep += "name = \"x\"" + std::string(kMaxSegmentDepth + 1, ')');
  auto d = ParseSegment(deep);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message.rfind("column 33: the query nests deeper than 32 levels of parentheses and 'not': simplify it", 0), 0u)
      << d.error().message;
  std::string nots;
  for (int i = 0; i < 40; ++i) nots += "not ";
  EXPECT_FALSE(ParseSegment(nots + "name is empty").ok());
  std::string ok_deep(kMaxSegmentDepth, '(');
  ok_deep += "name = \"x\"" + std::string(kMaxSegmentDepth, ')');
  EXPECT_TRUE(ParseSegment(ok_deep).ok());

  std::string many = "name = \"x\"";
  for (int i = 1; i < kMaxSegmentTerms; ++i) many += " or name = \"x\"";
  EXPECT_TRUE(ParseSegment(many).ok());
  auto too_many = ParseSegment(many + " or name = \"x\"");
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("more than 200 conditions and values: split it into saved segments"),
            std::string::npos) << too_many.error().message;

  auto big = ParseSegment("name = \"" + std::string(5000, 'a') + "\"");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message.rfind("the query is 5009 bytes long; the limit is 4096: split it", 0), 0u) << big.error().message;
}

// ---- SQL injection

CompileOptions Options(Dialect d) {
  CompileOptions o;
  o.dialect = d;
  o.now = 1772323200000000;  // 2026-03-01T00:00:00Z
  o.status_sql = "'active'";
  o.resolve_segment = [](const std::string& name) -> Result<std::string> {
    if (name == "'; DROP TABLE contacts; --") return std::string(R"(name = "'); DELETE FROM events; --")");
    return MakeError(ErrorCode::kNotFound, "no segment named " + name);
  };
  return o;
}

// Every quoted literal the SQL holds is one of the compiler's own.
void ExpectOwnLiteralsOnly(const std::string& sql, const std::string& query) {
  static const std::set<std::string> kOwn = {
      "null", "text", "integer", "real", "true", "false", "\\", "", "@", "subscribed", "opened", "clicked",
      "delivered", "bounced", "complained", "unsubscribed", "deferred", "string", "number", "boolean",
      "$.metadata.campaign", "$.metadata.campaign_name", "metadata", "campaign", "campaign_name", "active"};
  std::size_t i = 0;
  while ((i = sql.find('\'', i)) != std::string::npos) {
    const std::size_t end = sql.find('\'', i + 1);
    ASSERT_NE(end, std::string::npos) << query << " -> " << sql;
    const std::string literal = sql.substr(i + 1, end - i - 1);
    EXPECT_TRUE(kOwn.count(literal)) << "literal '" << literal << "' in the SQL of " << query << ": " << sql;
    i = end + 1;
  }
  EXPECT_EQ(sql.find(';'), std::string::npos) << sql;
  EXPECT_EQ(sql.find("--"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("/*"), std::string::npos) << sql;
}

TEST(SegmentCompile, InjectionAttemptsAreParametersOrRefused) {
  struct Row {
    std::string query;
    std::vector<std::string> user_text;  // empty: the parser must refuse the query
  };
  const Row rows[] = {
      {R"(attributes."x') OR 1=1 --" = "y")", {"x') OR 1=1 --"}},
      {R"(name = "'; DROP TABLE contacts; --")", {"'; DROP TABLE contacts; --"}},
      {R"(attributes."a\"b" = "c\\d' OR '1'='1")", {"a\"b", "c\\d' OR '1'='1"}},
      {R"(attributes."$1" = "$2" or name = "?1")", {"$1", "$2", "?1"}},
      {R"(name contains "100%_\\" or domain starts with "%" or address ends with "_")", {"%100\\%\\_\\\\%", "\\%%", "%\\_"}},
      {R"(attributes."k'--" contains "x' /* y")", {"k'--", "%x' /* y%"}},
      {R"(in_list("x' OR '1'='1"))", {"x' OR '1'='1"}},
      {R"(opened(campaign: "'); DELETE FROM events; --"))", {"'); DELETE FROM events; --"}},
      {R"(in_segment("'; DROP TABLE contacts; --"))", {"'); DELETE FROM events; --"}},
      {R"(attributes.x in ("a'", "b\"", "c\\"))", {"a'", "b\"", "c\\"}},
      {R"(name = "x" OR 1=1)", {}},
      {R"(name = "x"; DROP TABLE contacts)", {}},
      {R"(name = "x" -- comment)", {}},
      {R"(attributes.x' = 1)", {}},
      {R"(attributes.x = 1 /* c */)", {}},
      {R"(name = 'x' or 'a'='a')", {}},
      {std::string("name = \"a\0' OR 1=1\"", 19), {}},
      {R"(attributes.x = 1) OR (1 = 1)", {}},
      {R"(in_list(x))", {}},
      {R"(name = "x"\)", {}},
  };
  for (const auto& r : rows) {
    auto s = ParseSegment(r.query);
    if (r.user_text.empty()) {
      EXPECT_FALSE(s.ok()) << r.query << " parsed as " << Describe(*s);
      continue;
    }
    ASSERT_TRUE(s.ok()) << r.query << ": " << s.error().message;
    for (Dialect d : {Dialect::kSqlite, Dialect::kPostgres}) {
      auto c = CompileSegment(*s, Options(d));
      ASSERT_TRUE(c.ok()) << r.query << ": " << c.error().message;
      ExpectOwnLiteralsOnly(c->sql, r.query);
      for (const auto& text : r.user_text) {
        bool in_params = false;
        for (const auto& p : c->params) in_params |= p.kind == SqlParam::kText && p.text == text;
        EXPECT_TRUE(in_params) << r.query << ": '" << text << "' is not a parameter";
        if (text.size() > 2) {
          EXPECT_EQ(c->sql.find(text), std::string::npos) << c->sql;
        }
      }
    }
  }
}

TEST(SegmentCompile, IssueExampleSql) {
  auto s = ParseSegment(R"(attributes.country = "PL" and opened(within: 30d) and not clicked(campaign: "spring"))");
  ASSERT_TRUE(s.ok());
  auto opts = Options(Dialect::kSqlite);
  opts.first_param = 3;
  auto lite = CompileSegment(*s, opts);
  ASSERT_TRUE(lite.ok()) << lite.error().message;
  EXPECT_EQ(lite->sql,
            "(EXISTS (SELECT 1 FROM json_each(c.attributes) j WHERE j.key = $3 AND j.type = 'text' AND j.value = $4) AND "
            "EXISTS (SELECT 1 FROM events e WHERE e.account = c.account AND e.recipient = c.address AND "
            "e.type = 'opened' AND e.time >= $5) AND "
            "(NOT EXISTS (SELECT 1 FROM events e WHERE e.account = c.account AND e.recipient = c.address AND "
            "e.type = 'clicked' AND (json_extract(e.data, '$.metadata.campaign') = $6 OR "
            "lower(json_extract(e.data, '$.metadata.campaign_name')) = lower($6)))))");
  ASSERT_EQ(lite->params.size(), 4u);
  EXPECT_EQ(lite->params[0].text, "country");
  EXPECT_EQ(lite->params[1].text, "PL");
  EXPECT_EQ(lite->params[2].kind, SqlParam::kInt);
  EXPECT_EQ(lite->params[2].i, 1772323200000000 - 30LL * 86400 * 1000000);
  EXPECT_EQ(lite->params[3].text, "spring");

  opts.dialect = Dialect::kPostgres;
  auto pg = CompileSegment(*s, opts);
  ASSERT_TRUE(pg.ok());
  EXPECT_EQ(pg->sql,
            "(COALESCE(jsonb_typeof(c.attributes->$3::text) = 'string' AND (c.attributes->>$3::text) = $4::text, FALSE) AND "
            "EXISTS (SELECT 1 FROM events e WHERE e.account = c.account AND e.recipient = c.address AND "
            "e.type = 'opened' AND e.time >= $5::bigint) AND "
            "(NOT EXISTS (SELECT 1 FROM events e WHERE e.account = c.account AND e.recipient = c.address AND "
            "e.type = 'clicked' AND ((e.data->'metadata'->>'campaign') = $6::text OR "
            "lower(e.data->'metadata'->>'campaign_name') = lower($6::text)))))");
  EXPECT_EQ(pg->params, lite->params);
}

TEST(SegmentCompile, SavedSegments) {
  auto opts = Options(Dialect::kSqlite);
  opts.resolve_segment = [](const std::string& name) -> Result<std::string> {
    if (name == "a") return std::string(R"(in_segment("b") or name = "a")");
    if (name == "b") return std::string(R"(in_segment("A"))");
    if (name == "broken") return std::string("name = ");
    if (name == "pl") return std::string(R"(attributes.country = "PL")");
    return MakeError(ErrorCode::kNotFound, "no saved segment named \"" + name + "\"");
  };
  auto compile = [&](const std::string& q) { return CompileSegment(ParseSegment(q).value(), opts); };
  auto cycle = compile(R"(in_segment("a"))");
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.error().message, "saved segment \"A\" includes itself: \"a\" -> \"b\" -> \"a\"; remove one in_segment");
  auto broken = compile(R"(in_segment("broken"))");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message.rfind("saved segment \"broken\": column 8: expected a value", 0), 0u) << broken.error().message;
  auto missing = compile(R"(in_segment("nope"))");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto pl = compile(R"(in_segment("pl") and name = "x")");
  ASSERT_TRUE(pl.ok()) << pl.error().message;
  EXPECT_EQ(pl->params.size(), 3u);
  opts.resolve_segment = nullptr;
  EXPECT_FALSE(compile(R"(in_segment("pl"))").ok());
  // A segment that includes another twice at every level is refused before it explodes.
  opts.resolve_segment = [](const std::string& name) -> Result<std::string> {
    const int level = name.size();
    if (level >= 7) return std::string(R"(name = "x" or name = "y" or name = "z" or name = "w")");
    const std::string next = std::string(level + 1, 'n');
    std::string q = "in_segment(\"" + next + "\")";
    for (int i = 0; i < 7; ++i) q += " or in_segment(\"" + next + "\")";
    return q;
  };
  auto wide = compile(R"(in_segment("n"))");
  ASSERT_FALSE(wide.ok());
  EXPECT_NE(wide.error().message.find("has more than 2000 conditions"), std::string::npos) << wide.error().message;
}

TEST(SegmentCompile, StatusNeedsItsSql) {
  auto opts = Options(Dialect::kPostgres);
  opts.status_sql.clear();
  auto c = CompileSegment(ParseSegment(R"(status = "active")").value(), opts);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace kurier::audience
