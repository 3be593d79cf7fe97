#include "tracking/html_rewriter.hpp"

#include <gtest/gtest.h>

namespace kurier::tracking {
namespace {

// Replaces the n-th trackable link with "R<n>", so each row shows which links were offered, in order.
RewriteResult Numbered(std::string_view html) {
  return RewriteLinks(html, [](std::string_view, std::size_t i) { return "R" + std::to_string(i); });
}

struct Row {
  const char* what;
  std::string in;
  std::string want;               // the output; the same as `in` when nothing may change
  std::vector<std::string> urls;  // what the rewriter was given
  bool complete = true;
};

void Check(const std::vector<Row>& rows) {
  for (const auto& r : rows) {
    RewriteResult got = Numbered(r.in);
    EXPECT_EQ(got.html, r.want) << r.what;
    EXPECT_EQ(got.urls, r.urls) << r.what;
    EXPECT_EQ(got.rewritten, r.urls.size()) << r.what;
    EXPECT_EQ(got.complete, r.complete) << r.what;
    // Declining every link gives back the input byte for byte, with the same links offered.
    RewriteResult same = RewriteLinks(r.in, [](std::string_view, std::size_t) { return std::nullopt; });
    EXPECT_EQ(same.html, r.in) << r.what;
    EXPECT_EQ(same.candidates, r.urls.size()) << r.what;
    EXPECT_EQ(same.rewritten, 0u) << r.what;
  }
}

TEST(HtmlRewriter, RewritesHttpLinks) {
  Check({
      {"double quotes", R"(<p><a href="https://a.example/">x</a></p>)", R"(<p><a href="R0">x</a></p>)",
       {"https://a.example/"}},
      {"single quotes kept", "<a href='http://a.example/x'>x</a>", "<a href='R0'>x</a>", {"http://a.example/x"}},
      {"unquoted gets double quotes", "<a href=http://a.example/x>x</a>", R"(<a href="R0">x</a>)",
       {"http://a.example/x"}},
      {"unquoted before space", "<a href=http://a.example/x class=b>", R"(<a href="R0" class=b>)",
       {"http://a.example/x"}},
      {"upper case", R"(<A HREF="HTTPS://A.EXAMPLE/">x</A>)", R"(<A HREF="R0">x</A>)", {"HTTPS://A.EXAMPLE/"}},
      {"spaces around =", "<a class=\"c\"\n   href = \"https://a.example/\" >", "<a class=\"c\"\n   href = \"R0\" >",
       {"https://a.example/"}},
      {"slash separator", R"(<a/href="https://a.example/">)", R"(<a/href="R0">)", {"https://a.example/"}},
      {"area", R"(<map><area shape="rect" href="https://a.example/m"></map>)",
       R"(<map><area shape="rect" href="R0"></map>)", {"https://a.example/m"}},
      {"entities decoded", R"(<a href="https://a.example/?a=1&amp;b=2&#38;c=&#x33;">)", R"(<a href="R0">)",
       {"https://a.example/?a=1&b=2&c=3"}},
      {"obfuscated scheme", R"(<a href="https&colon;&sol;&sol;a.example/">)", R"(<a href="R0">)",
       {"https://a.example/"}},
      {"whitespace trimmed", "<a href=\"  https://a.example/ \n\">", R"(<a href="R0">)", {"https://a.example/"}},
      {"newline inside dropped", "<a href=\"https://a.exa\nmple/\">", R"(<a href="R0">)", {"https://a.example/"}},
      {"several, in order",
       R"(<a href="https://a.example/1">1</a> <a href="mailto:x@example.com">m</a> <a href="http://a.example/2">2</a>)",
       R"(<a href="R0">1</a> <a href="mailto:x@example.com">m</a> <a href="R1">2</a>)",
       {"https://a.example/1", "http://a.example/2"}},
      {"first href wins", R"(<a href="https://a.example/1" href="https://a.example/2">)",
       R"(<a href="R0" href="https://a.example/2">)", {"https://a.example/1"}},
      {"other attributes untouched", R"(<a title="see https://x.example" href="https://a.example/" data-x='>'>)",
       R"(<a title="see https://x.example" href="R0" data-x='>'>)", {"https://a.example/"}},
      {"'>' inside a quoted value", R"(<a title="a>b" href="https://a.example/">)", R"(<a title="a>b" href="R0">)",
       {"https://a.example/"}},
      {"clicktracking on", R"(<a clicktracking="on" href="https://a.example/">)",
       R"(<a clicktracking="on" href="R0">)", {"https://a.example/"}},
      {"text with <", R"(1 < 2 <3 <a href="https://a.example/">)", R"(1 < 2 <3 <a href="R0">)",
       {"https://a.example/"}},
      {"after doctype and PI", R"(<!DOCTYPE html><?xml x?><a href="https://a.example/">)",
       R"(<!DOCTYPE html><?xml x?><a href="R0">)", {"https://a.example/"}},
      {"after an empty comment", R"(<!--><a href="https://a.example/">)", R"(<!--><a href="R0">)",
       {"https://a.example/"}},
      {"after <!--->", R"(<!---><a href="https://a.example/">)", R"(<!---><a href="R0">)", {"https://a.example/"}},
      {"after --!>", R"(<!-- x --!><a href="https://a.example/">)", R"(<!-- x --!><a href="R0">)",
       {"https://a.example/"}},
      {"after ---->", R"(<!-- x ----><a href="https://a.example/">)", R"(<!-- x ----><a href="R0">)",
       {"https://a.example/"}},
      {"downlevel-revealed conditional (shown outside Outlook)",
       R"(<!--[if !mso]><!--><a href="https://a.example/">x</a><!--<![endif]-->)",
       R"(<!--[if !mso]><!--><a href="R0">x</a><!--<![endif]-->)", {"https://a.example/"}},
      {"after style ends", R"(<STYLE>a{}</Style ><a href="https://a.example/">)",
       R"(<STYLE>a{}</Style ><a href="R0">)", {"https://a.example/"}},
      {"noscript is markup", R"(<noscript><a href="https://a.example/"></noscript>)",
       R"(<noscript><a href="R0"></noscript>)", {"https://a.example/"}},
  });
}

TEST(HtmlRewriter, LeavesEverythingElse) {
  const char* link = R"(<a href="https://a.example/">)";
  auto in = [&](std::string before, std::string after) { return before + link + after; };
  std::vector<Row> rows = {
      {"mailto", R"(<a href="mailto:a@example.com">)", R"(<a href="mailto:a@example.com">)", {}},
      {"tel", R"(<a href="tel:+15551234">)", R"(<a href="tel:+15551234">)", {}},
      {"anchor", R"(<a href="#top">)", R"(<a href="#top">)", {}},
      {"relative", R"(<a href="/path">x</a><a href="page.html">)", R"(<a href="/path">x</a><a href="page.html">)", {}},
      {"scheme-relative", R"(<a href="//a.example/">)", R"(<a href="//a.example/">)", {}},
      {"javascript", R"x(<a href=" javascript:alert(1)">)x", R"x(<a href=" javascript:alert(1)">)x", {}},
      {"ftp", R"(<a href="ftp://a.example/">)", R"(<a href="ftp://a.example/">)", {}},
      {"empty", R"(<a href="">)", R"(<a href="">)", {}},
      {"no value", R"(<a href>x</a>)", R"(<a href>x</a>)", {}},
      {"no value before >", R"(<a href=>x</a>)", R"(<a href=>x</a>)", {}},
      {"not a link element", R"(<abbr href="https://a.example/"><a-b href="https://a.example/">)",
       R"(<abbr href="https://a.example/"><a-b href="https://a.example/">)", {}},
      {"other attribute", R"(<a data-href="https://a.example/" xhref="https://a.example/">)",
       R"(<a data-href="https://a.example/" xhref="https://a.example/">)", {}},
      {"img src", R"(<img src="https://a.example/i.png" alt='<a href="https://a.example/">'>)",
       R"(<img src="https://a.example/i.png" alt='<a href="https://a.example/">'>)", {}},
      {"end tag attributes", R"(</a href="https://a.example/">)", R"(</a href="https://a.example/">)", {}},
      {"data-kurier-notrack", R"(<a data-kurier-notrack href="https://a.example/">)",
       R"(<a data-kurier-notrack href="https://a.example/">)", {}},
      {"clicktracking=off", R"(<a href="https://a.example/" clicktracking="off">)",
       R"(<a href="https://a.example/" clicktracking="off">)", {}},
      {"clicktracking=OFF unquoted", R"(<a href="https://a.example/" ClickTracking=OFF>)",
       R"(<a href="https://a.example/" ClickTracking=OFF>)", {}},
      {"unknown named reference", R"(<a href="https://a.example/?x=1&hellip;">)",
       R"(<a href="https://a.example/?x=1&hellip;">)", {}},
      {"C1 numeric reference", R"(<a href="https://a.example/&#x80;">)", R"(<a href="https://a.example/&#x80;">)", {}},
      {"comment", in("<!-- ", " -->"), in("<!-- ", " -->"), {}},
      {"conditional comment", in("<!--[if mso]>", "x</a><![endif]-->"), in("<!--[if mso]>", "x</a><![endif]-->"), {}},
      {"comment with -- inside", in("<!-- a -- b ", " -->"), in("<!-- a -- b ", " -->"), {}},
      {"CDATA", in("<![CDATA[ x ", " ]]>"), in("<![CDATA[ x ", " ]]>"), {}},
      {"style", in("<style>a[x=\"y\"]{} ", "</style>"), in("<style>a[x=\"y\"]{} ", "</style>"), {}},
      {"style not ended by </styles>", in("<style></styles>", "</style>"), in("<style></styles>", "</style>"), {}},
      {"script", in("<script>var s = '", "';</script>"), in("<script>var s = '", "';</script>"), {}},
      {"title", in("<title>", "</title>"), in("<title>", "</title>"), {}},
      {"textarea", in("<textarea>", "</textarea>"), in("<textarea>", "</textarea>"), {}},
      {"xmp", in("<xmp>", "</xmp>"), in("<xmp>", "</xmp>"), {}},
      {"iframe", in("<iframe>", "</iframe>"), in("<iframe>", "</iframe>"), {}},
      {"plaintext", in("<plaintext>", "</plaintext>"), in("<plaintext>", "</plaintext>"), {}},
      {"bogus comment", in("<!x ", ">"), in("<!x ", ">"), {}},
  };
  Check(rows);
}

TEST(HtmlRewriter, StopsAtMalformedHtml) {
  Check({
      {"unterminated tag", R"(<a href="https://a.example/1">ok</a><a href="https://a.example/2")",
       R"(<a href="R0">ok</a><a href="https://a.example/2")", {"https://a.example/1"}, false},
      {"unterminated quote", R"(<a href="https://a.example/1">ok</a><a title="x><a href=https://a.example/2>)",
       R"(<a href="R0">ok</a><a title="x><a href=https://a.example/2>)", {"https://a.example/1"}, false},
      {"quote closed later: one odd tag, as in a browser",
       R"(<a title="x><a href="https://a.example/2">)", R"(<a title="x><a href="https://a.example/2">)", {}},
      {"unterminated comment", R"(<a href="https://a.example/1"><!-- <a href="https://a.example/2">)",
       R"(<a href="R0"><!-- <a href="https://a.example/2">)", {"https://a.example/1"}, false},
      {"unterminated style", R"(<style><a href="https://a.example/">)", R"(<style><a href="https://a.example/">)",
       {}, false},
      {"unterminated CDATA", R"(<![CDATA[ <a href="https://a.example/")", R"(<![CDATA[ <a href="https://a.example/")",
       {}, false},
      {"CDATA ends at the first '>' in HTML, as in a browser",
       R"(<![CDATA[ <b> <plaintext> ]]> <a href="https://a.example/">)",
       R"(<![CDATA[ <b> <plaintext> ]]> <a href="https://a.example/">)", {}},
      {"CDATA then a link", R"(<![CDATA[ x ]]><a href="https://a.example/">)", R"(<![CDATA[ x ]]><a href="R0">)",
       {"https://a.example/"}},
      {"stops at SVG", R"(<a href="https://a.example/1"><svg><style><!--</style><a href="https://a.example/2">)",
       R"(<a href="R0"><svg><style><!--</style><a href="https://a.example/2">)", {"https://a.example/1"}, false},
      {"stops at MathML", R"(<MATH><a href="https://a.example/">)", R"(<MATH><a href="https://a.example/">)", {}, false},
      {"unterminated doctype", R"(<!DOCTYPE <a href="https://a.example/">)", R"(<!DOCTYPE <a href="https://a.example/">)",
       {}, true},  // the bogus comment ends at the first '>', as in a browser
      {"lone < at end", R"(<a href="https://a.example/">x <)", R"(<a href="R0">x <)", {"https://a.example/"}},
      {"lone </ at end", R"(<a href="https://a.example/">x </)", R"(<a href="R0">x </)", {"https://a.example/"}},
      {"empty", "", "", {}},
      {"NUL bytes kept", std::string("\0<a href=\"https://a.example/\">\0", 31),
       std::string("\0<a href=\"R0\">\0", 15), {"https://a.example/"}},
  });
}

TEST(HtmlRewriter, EscapesTheNewValue) {
  auto r = RewriteLinks(R"(<a href="https://a.example/">x</a><a href=https://b.example/>)",
                        [](std::string_view, std::size_t) { return std::string("https://t.example/c?a=1&b=\"2'<>"); });
  EXPECT_EQ(r.html, R"(<a href="https://t.example/c?a=1&amp;b=&quot;2&#39;&lt;&gt;">x</a>)"
                    R"(<a href="https://t.example/c?a=1&amp;b=&quot;2&#39;&lt;&gt;">)");
  // What a browser decodes from the rewritten HTML is exactly the new URL.
  auto again = RewriteLinks(r.html, [](std::string_view, std::size_t) { return std::nullopt; });
  EXPECT_EQ(again.candidates, 2u);
  auto urls = RewriteLinks(r.html, [](std::string_view u, std::size_t) { return std::string(u); }).urls;
  EXPECT_EQ(urls, (std::vector<std::string>{"https://t.example/c?a=1&b=\"2'<>", "https://t.example/c?a=1&b=\"2'<>"}));
}

TEST(HtmlRewriter, IndexCountsOfferedLinksAndRewriterMayDecline) {
  std::vector<std::size_t> seen;
  auto r = RewriteLinks(R"(<a href="https://a.example/0"><a href="#x"><a href="https://a.example/1"><a href="https://a.example/2">)",
                        [&](std::string_view, std::size_t i) -> std::optional<std::string> {
                          seen.push_back(i);
                          if (i == 1) return std::nullopt;
                          return "R" + std::to_string(i);
                        });
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(r.html, R"(<a href="R0"><a href="#x"><a href="https://a.example/1"><a href="R2">)");
  EXPECT_EQ(r.urls, (std::vector<std::string>{"https://a.example/0", "https://a.example/2"}));
  EXPECT_EQ(r.candidates, 3u);
  EXPECT_EQ(r.rewritten, 2u);
}

TEST(HtmlRewriter, LinearOnHostileInput) {
  // Many attributes in one tag, many unclosed comment openers, many "</" in a style: each would be
  // quadratic in a naive scanner. 2 MB each; the test has a generous time-out, not a stopwatch.
  std::string attrs = "<a";
  while (attrs.size() < 2'000'000) attrs += " x=1 href";
  attrs += " href=\"https://a.example/\">";
  EXPECT_EQ(Numbered(attrs).rewritten, 0u);  // the first href (without a value) wins
  std::string dashes = "<!--";
  while (dashes.size() < 2'000'000) dashes += "--x";
  EXPECT_FALSE(Numbered(dashes).complete);
  std::string style = "<style>";
  while (style.size() < 2'000'000) style += "</styl</";
  EXPECT_FALSE(Numbered(style).complete);
  std::string refs = "<a href=\"https://a.example/";
  while (refs.size() < 2'000'000) refs += "&amp&#&#x&;&a";
  refs += "\">";
  EXPECT_EQ(Numbered(refs).rewritten, 1u);
}

TEST(HtmlRewriterDecode, AttributeValueReferences) {
  struct DecodeRow {
    std::string in;
    std::optional<std::string> want;
  } rows[] = {
      {"a&amp;b", "a&b"},
      {"a&ampb", "a&ampb"},              // legacy name followed by an alphanumeric: as written
      {"?a=1&copy=2", "?a=1&copy=2"},    // ... or by '=': as written
      {"?a=1&copy_x", "?a=1\xc2\xa9_x"},  // ... otherwise decoded, as browsers do
      {"&amp", "&"},
      {"&AMP;&LT;&QUOT;", "&<\""},
      {"&lt&gt", "<>"},
      {"&nbsp;", "\xc2\xa0"},
      {"&#65;&#x42;&#X43;&#0068", "ABCD"},
      {"&#x1F600;", "\xf0\x9f\x98\x80"},
      {"&#0;", "\xef\xbf\xbd"},
      {"&#xD800;", "\xef\xbf\xbd"},
      {"&#x110000;", "\xef\xbf\xbd"},
      {"&#99999999999999999999;", "\xef\xbf\xbd"},
      {"&#;&#x;&#xg", "&#;&#x;&#xg"},
      {"&;&&", "&;&&"},
      {"&utm_source=x", "&utm_source=x"},
      {"&colon;&sol;&quest;&equals;&num;&percnt;&apos;", ":/?=#%'"},
      {"&Tab;&NewLine;", "\t\n"},
      {"&hellip;", std::nullopt},
      {"&notin;", std::nullopt},
      {"&#150;", std::nullopt},
      {"no references", "no references"},
  };
  for (const auto& r : rows) EXPECT_EQ(DecodeAttributeValue(r.in), r.want) << r.in;
}

TEST(HtmlRewriterPixel, InsertsBeforeTheLastBodyEndTag) {
  const std::string img =
      R"(<img src="https://t.example/o/T?a=1&amp;b=2" width="1" height="1" alt="" border="0" )"
      R"(style="display:none;width:1px;height:1px;border:0;margin:0;padding:0">)";
  struct PixelRow {
    const char* what;
    std::string in;
    std::string want;
  } rows[] = {
      {"body", "<html><body><p>Hi</p></body></html>", "<html><body><p>Hi</p>" + img + "</body></html>"},
      {"upper case with space", "<BODY>x</BODY >\n", "<BODY>x" + img + "</BODY >\n"},
      {"last of two", "<body>a</body>b</body>c", "<body>a</body>b" + img + "</body>c"},
      {"not the one in a comment", "<body>x</body><!-- </body> -->", "<body>x" + img + "</body><!-- </body> -->"},
      {"not the one in a script", "<body>x</body><script>'</body>'</script>",
       "<body>x" + img + "</body><script>'</body>'</script>"},
      {"only in a comment: append", "<body>x<!-- </body> -->", "<body>x<!-- </body> -->" + img},
      {"no body: append", "<p>x</p>", "<p>x</p>" + img},
      {"</bodyx> is not </body>", "<body>x</bodyx>", "<body>x</bodyx>" + img},
      {"empty", "", img},
      {"before an unterminated tag", "<p>x</p><a href=\"y", "<p>x</p>" + img + "<a href=\"y"},
      {"before an unterminated comment", "<p>x<!-- y", "<p>x" + img + "<!-- y"},
      {"before an unterminated style", "<p>x<style>y", "<p>x" + img + "<style>y"},
      {"before a trailing </", "<p>x</", "<p>x" + img + "</"},
      {"before plaintext", "<p>x<plaintext>y", "<p>x" + img + "<plaintext>y"},
      {"after SVG", "<p>x<svg></svg>", "<p>x<svg></svg>" + img},
  };
  for (const auto& r : rows) EXPECT_EQ(InsertOpenPixel(r.in, "https://t.example/o/T?a=1&b=2"), r.want) << r.what;
}

}  // namespace
}  // namespace kurier::tracking
