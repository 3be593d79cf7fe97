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

// FitLineLength: every line of what leaves is at most 998 octets, and every part reads back (decoded)
// as it was sent.
void Leaves(const Entity& e, std::vector<std::string>& out) {
  if (e.parts.empty()) out.push_back(e.content_type.MimeType() + ": " + e.body);
  for (const auto& p : e.parts) Leaves(p, out);
}

std::size_t LongestLine(std::string_view text) {
  std::size_t longest = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t eol = text.find('\n', pos);
    std::size_t end = eol == std::string_view::npos ? text.size() : eol;
    longest = std::max(longest, end - pos - (end > pos && text[end - 1] == '\r'));
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return longest;
}

TEST(MimeFitLineLength, LongLinesAreFoldedOrReencodedAndReadBackTheSame) {
  const std::string words = [] {
    std::string w;
    while (w.size() < 2500) w += "word" + std::to_string(w.size()) + " ";
    return w;
  }();
  const std::string token(1500, 'x');
  const std::string html = "<p>" + std::string(1400, 'h') + "</p>";
  struct Row {
    const char* name;
    std::string in;
    bool changed;
    const char* error;  // part of the error, "" when none
    std::vector<const char*> in_output;  // texts the result must hold
  };
  const Row rows[] = {
      {"short lines: untouched", "Subject: hi\r\n\r\nbody\r\n", false, "", {}},
      {"long subject folded at spaces", "From: a@x.test\r\nSubject: " + words + "\r\n\r\nbody\r\n", true, "", {"\r\nSubject: word"}},
      {"long header without white space", "From: a@x.test\r\nX-Token: " + token + "\r\n\r\nbody\r\n", false,
       "line 2 is longer than 998 octets and has no white space", {}},
      {"plain 8bit body line: quoted-printable, MIME-Version added",
       "From: a@x.test\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nshort\r\n" + words + "\r\n", true, "",
       {"MIME-Version: 1.0\r\n", "Content-Transfer-Encoding: quoted-printable\r\n"}},
      {"no MIME at all", "Subject: s\r\n\r\n" + token + "\r\n", true, "", {"Content-Transfer-Encoding: quoted-printable"}},
      {"one long html part among others",
       "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
       "plain stays\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + html + "\r\n--b--\r\n",
       true, "", {"--b\r\nContent-Type: text/plain\r\n\r\nplain stays\r\n--b\r\n", "Content-Transfer-Encoding: quoted-printable"}},
      {"base64 in one long line: lines of 76",
       "MIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
           [] {
             std::string one_line;
             for (char c : EncodeBase64Lines(std::string(1200, 'p')))
               if (c != '\r' && c != '\n') one_line += c;
             return one_line;
           }() + "\r\n",
       true, "", {"Content-Transfer-Encoding: base64\r\n"}},
      {"8bit binary-ish part: base64",
       "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: application/octet-stream\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\n" + token + "\r\n--q--\r\n",
       true, "", {"Content-Transfer-Encoding: base64"}},
      {"a long line inside an enclosed message",
       "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: message/rfc822\r\n\r\n"
       "Subject: inner\r\n\r\n" + token + "\r\n--q--\r\n",
       true, "", {"Content-Type: message/rfc822\r\n\r\nMIME-Version: 1.0\r\nSubject: inner\r\nContent-Transfer-Encoding: quoted-printable"}},
      {"a long line in a preamble", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n" + token +
                                        "\r\n--q\r\nContent-Type: text/plain\r\n\r\nx\r\n--q--\r\n",
       false, "outside any part", {}},
      {"LF line ends kept", "Subject: s\n\n" + token + "\n", true, "", {"Content-Transfer-Encoding: quoted-printable\n\n"}},
  };
  for (const auto& r : rows) {
    auto fit = FitLineLength(r.in);
    EXPECT_NE(fit.error.find(r.error), std::string::npos) << r.name << ": " << fit.error;
    if (*r.error) {
      EXPECT_FALSE(fit.text) << r.name;
      continue;
    }
    EXPECT_TRUE(fit.error.empty()) << r.name << ": " << fit.error;
    EXPECT_EQ(fit.text.has_value(), r.changed) << r.name;
    const std::string out = fit.text.value_or(r.in);
    EXPECT_LE(LongestLine(out), 998u) << r.name << "\n" << out;
    for (const char* want : r.in_output) EXPECT_NE(out.find(want), std::string::npos) << r.name << ": " << want << "\n" << out;
    std::vector<std::string> before, after;
    Leaves(Parse(r.in), before);
    Leaves(Parse(out), after);
    EXPECT_EQ(after, before) << r.name;
    EXPECT_EQ(Parse(out).headers.Get("Subject"), Parse(r.in).headers.Get("Subject")) << r.name;
  }
}

}  // namespace
}  // namespace kurier::mime
