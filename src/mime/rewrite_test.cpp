// Tests of RewriteHtmlParts (mime/rewrite.hpp): the HTML of messages kurier did not build (SMTP
// submissions) is rewritten in place, every other byte kept.
#include "mime/rewrite.hpp"

#include <gtest/gtest.h>

#include "common/encoding.hpp"
#include "mime/encode.hpp"
#include "mime/parse.hpp"

namespace kurier::mime {
namespace {

// RewriteHtmlParts: the HTML of messages kurier did not build (SMTP submissions) is rewritten in place.
std::string Up(std::string html) {
  for (std::size_t at; (at = html.find("http://a.example")) != std::string::npos;) html.replace(at, 16, "https://t.example/x");
  return html;
}

TEST(MimeRewriteHtml, RewritesOnlyTheHtmlAndKeepsTheRest) {
  const std::string html_b64 = Base64Encode("<p><a href=\"http://a.example/1\">one</a></p>\r\n");
  struct Row {
    const char* name;
    std::string in;
    bool changes;
    std::vector<std::string> html_after;  ///< decoded text/html bodies of the result, in order
    std::vector<std::string> kept;        ///< substrings of the input that must survive byte for byte
  } rows[] = {
      {"single html part, quoted-printable",
       "From: a@x.test\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
       "Subject: s\r\n\r\n<a href=3D\"http://a.example/q\">q</a>\r\n",
       true, {"<a href=\"https://t.example/x/q\">q</a>\r\n"}, {"From: a@x.test\r\n", "Subject: s\r\n"}},
      {"alternative: text kept, base64 html rewritten",
       "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
       "see http://a.example/1\r\n--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
           html_b64 + "\r\n--b1--\r\nepilogue\r\n",
       true, {"<p><a href=\"https://t.example/x/1\">one</a></p>\r\n"},
       {"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee http://a.example/1\r\n--b1\r\n", "\r\n--b1--\r\nepilogue\r\n"}},
      {"nested mixed > alternative, html attachment left alone",
       "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
       "--inner\r\nContent-Type: text/html\r\n\r\n<a href=\"http://a.example/in\">in</a>\r\n--inner--\r\n\r\n--outer\r\n"
       "Content-Type: text/html\r\nContent-Disposition: attachment; filename=page.html\r\n\r\n<a href=\"http://a.example/att\">att</a>\r\n"
       "--outer--\r\n",
       // (the line break before a boundary belongs to the boundary, not to the part)
       true, {"<a href=\"https://t.example/x/in\">in</a>", "<a href=\"http://a.example/att\">att</a>"},
       {"Content-Disposition: attachment; filename=page.html\r\n\r\n<a href=\"http://a.example/att\">att</a>\r\n--outer--\r\n"}},
      {"LF line ends stay LF",
       "Content-Type: text/html\n\n<a href=\"http://a.example/lf\">lf</a>\n", true, {"<a href=\"https://t.example/x/lf\">lf</a>\n"},
       {"Content-Type: text/html\n"}},
      {"no html", "Content-Type: text/plain\r\n\r\nhttp://a.example/\r\n", false, {}, {}},
      {"html without links to change", "Content-Type: text/html\r\n\r\n<p>hi</p>\r\n", false, {"<p>hi</p>\r\n"}, {}},
      {"utf-16 html left alone", "Content-Type: text/html; charset=utf-16\r\n\r\nhttp://a.example/\r\n", false, {}, {}},
      {"multipart without boundary", "Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\nhttp://a.example/\r\n--x--\r\n",
       false, {}, {}},
  };
  for (const auto& r : rows) {
    auto out = RewriteHtmlParts(r.in, Up);
    ASSERT_EQ(out.has_value(), r.changes) << r.name;
    const std::string result = out ? *out : r.in;
    for (const auto& k : r.kept) EXPECT_NE(result.find(k), std::string::npos) << r.name << ": lost " << k << "\n" << result;
    std::vector<std::string> htmls;
    const mime::Entity parsed = mime::Parse(result);
    for (const auto* e : mime::Flatten(parsed))
      if (e->content_type.MimeType() == "text/html") htmls.push_back(e->body);
    if (!r.html_after.empty()) EXPECT_EQ(htmls, r.html_after) << r.name << "\n" << result;
    if (r.changes) {
      EXPECT_EQ(std::count(result.begin(), result.end(), '\n') > 0, true);
      EXPECT_NE(result.find("Content-Transfer-Encoding: quoted-printable"), std::string::npos) << r.name;
      EXPECT_EQ(result.find("Content-Transfer-Encoding: base64"), std::string::npos) << r.name;
    }
  }
}

}  // namespace
}  // namespace kurier::mime
