// Tests of the MIME builder (mime/build.hpp): header fields, structure and bodies, attachments, limits;
// what it writes is read back by build_test_reader.hpp.
#include "mime/build.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "common/encoding.hpp"
#include "mime/build_test_reader.hpp"

namespace kurier::mime {
namespace {

using namespace test;

// ---- header fields -----------------------------------------------------------------------------------

TEST(MimeHeaders, DisplayNames) {
  struct Row {
    std::string name, want;  // want: the To: field body as written (unfolded)
  } rows[] = {
      {"", "rcpt@example.net"},
      {"Ada Lovelace", "Ada Lovelace <rcpt@example.net>"},
      {"O'Brien", "O'Brien <rcpt@example.net>"},
      {"Lovelace, Ada", "\"Lovelace, Ada\" <rcpt@example.net>"},
      {"Ada \"AL\" L.", "\"Ada \\\"AL\\\" L.\" <rcpt@example.net>"},
      {"back\\slash", "\"back\\\\slash\" <rcpt@example.net>"},
      {" padded", "\" padded\" <rcpt@example.net>"},
      {"two  spaces", "\"two  spaces\" <rcpt@example.net>"},
      {kPolish, "=?utf-8?B?WmHFvMOzxYLEhyBnxJnFm2zEhSBqYcW6xYQ=?= <rcpt@example.net>"},
      // Word by word (RFC 2047 5(3)): ASCII words stay atoms or quoted strings.
      {"Café au lait", "=?utf-8?B?Q2Fmw6k=?= au lait <rcpt@example.net>"},
      {"Sklep Żółw, Sp. z o.o.", "Sklep =?utf-8?B?xbvDs8WCdyw=?= \"Sp.\" z \"o.o.\" <rcpt@example.net>"},
      {"Привет Мир", "=?utf-8?B?0J/RgNC40LLQtdGCINCc0LjRgA==?= <rcpt@example.net>"},
      {" Łukasz", "=?utf-8?Q?_=C5=81ukasz?= <rcpt@example.net>"},  // odd spacing kept inside the encoded word
      // ASCII that looks like an encoded word is encoded itself, so no reader decodes it into something else.
      {"=?utf-8?B?QUJD?=", EncodeWords("=?utf-8?B?QUJD?=")[0] + " <rcpt@example.net>"},
  };
  for (const auto& r : rows) {
    MessageSpec s = Simple();
    s.to = {{"rcpt@example.net", r.name}};
    auto e = ParseEntity(Build(s));
    EXPECT_EQ(e.Field("To"), r.want) << r.name;
  }
}

TEST(MimeHeaders, AddressListsFoldBetweenAddresses) {
  MessageSpec s = Simple();
  s.to.clear();
  for (int i = 0; i < 30; ++i) s.to.push_back({"user" + std::to_string(i) + "@example.net", i % 2 ? kPolish : "Name " + std::to_string(i)});
  s.cc = {{"cc@example.org", "Copy"}};
  s.reply_to = {{"help@example.com", "Støtte"}, {"other@example.com", ""}};
  s.from.name = "Sklep Żółw, Sp. z o.o.";
  std::string m = Build(s);
  auto e = ParseEntity(m);
  for (const auto& line : e.raw_lines) EXPECT_LE(line.size(), 76u) << line;
  std::string to = *e.Field("To");
  // Unfolding removes only CRLF; each address is whole and in order.
  std::size_t pos = 0;
  for (int i = 0; i < 30; ++i) {
    auto at = to.find("<user" + std::to_string(i) + "@example.net>", pos);
    ASSERT_NE(at, std::string::npos) << i;
    pos = at;
  }
  EXPECT_EQ(e.Field("Cc"), "Copy <cc@example.org>");
  EXPECT_EQ(e.Field("Reply-To"), "=?utf-8?Q?St=C3=B8tte?= <help@example.com>, other@example.com");
  std::string from = *e.Field("From");
  EXPECT_EQ(DecodePhrase(from.substr(0, from.find(" <"))), "Sklep Żółw, Sp. z o.o.");
  EXPECT_EQ(DecodePhrase(to.substr(0, to.find(" <"))), "Name 0");
  auto second = to.find("<user1@example.net>");
  auto second_start = to.rfind(", ", second) + 2;
  EXPECT_EQ(DecodePhrase(to.substr(second_start, second - 1 - second_start)), kPolish);
}

TEST(MimeHeaders, Subject) {
  struct Row {
    std::string subject;
    bool encoded;
  } rows[] = {
      {"Your order #123 has shipped", false},
      {kPolish, true},
      {"Zażółć gęślą jaźń — a long subject that keeps going and going past the seventy-eight character line", true},
      {"A long ASCII subject that keeps going and going, well past the seventy-eight character limit of a line, "
       "and then some more words so that it needs three lines",
       false},
      {"has =?utf-8?Q?x?= inside", true},
      {"a word too long to fold: " + std::string(90, 'w'), true},
      {"tab\tinside", false},
  };
  for (const auto& r : rows) {
    MessageSpec s = Simple();
    s.subject = r.subject;
    auto e = ParseEntity(Build(s));
    std::string got = *e.Field("Subject");
    for (const auto& line : e.raw_lines) EXPECT_LE(line.size(), 76u) << line;
    if (r.encoded) {
      EXPECT_TRUE(got.starts_with("=?utf-8?")) << got;
      EXPECT_EQ(DecodeWords(got), r.subject);
    } else {
      EXPECT_EQ(got, r.subject) << "folded only at white space, so unfolding restores it";
    }
  }
}

TEST(MimeHeaders, FixedFields) {
  MessageSpec s = Simple();
  s.message_id = "<abc.123@mail.example.com>";
  auto e = ParseEntity(Build(s));
  EXPECT_EQ(e.Field("Date"), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(e.Field("Message-ID"), "<abc.123@mail.example.com>");
  EXPECT_EQ(e.Field("MIME-Version"), "1.0");
  for (auto name : {"Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"})
    EXPECT_EQ(e.Count(name), 1) << name;
  EXPECT_EQ(e.Count("Cc"), 0);
  EXPECT_EQ(e.Count("Reply-To"), 0);

  s.message_id.clear();
  s.message_id_domain = "ids.example.com";
  std::string id1 = *ParseEntity(Build(s)).Field("Message-ID"), id2 = *ParseEntity(Build(s)).Field("Message-ID");
  EXPECT_TRUE(id1.starts_with("<") && id1.ends_with("@ids.example.com>")) << id1;
  EXPECT_NE(id1, id2);
  s.message_id_domain.clear();
  EXPECT_TRUE(ParseEntity(Build(s)).Field("Message-ID")->ends_with("@example.com>")) << "the From domain";

  s.subject.clear();
  EXPECT_EQ(ParseEntity(Build(s)).Count("Subject"), 0);
}

TEST(MimeHeaders, BccIsNeverWritten) {
  MessageSpec s = Simple();
  s.bcc = {{"hidden@example.org", "Hidden Person"}};
  std::string m = Build(s);
  EXPECT_EQ(m.find("hidden"), std::string::npos);
  EXPECT_EQ(m.find("Hidden"), std::string::npos);
  EXPECT_EQ(ParseEntity(m).Count("Bcc"), 0);
  s.to.clear();  // bcc alone is a valid set of recipients
  m = Build(s);
  EXPECT_EQ(ParseEntity(m).Count("To"), 0);
}

TEST(MimeHeaders, CustomFieldsInOrderFoldedAndEncoded) {
  MessageSpec s = Simple();
  std::string url = "<https://example.com/unsubscribe/" + std::string(120, 'q') + ">";
  s.headers = {{"X-Campaign", "spring"},
               {"List-Unsubscribe", url},
               {"X-Note", "naïve café"},
               {"X-Long", "word " + std::string(100, 'y') + " and more words after it"},
               {"X-Campaign", "second"},
               {"X-Trailing", "a " + std::string(60, 'b') + std::string(40, ' ')}};
  auto e = ParseEntity(Build(s));
  std::vector<std::string> names;
  for (const auto& [n, v] : e.fields) names.push_back(n);
  auto first = std::find(names.begin(), names.end(), "X-Campaign");
  ASSERT_NE(first, names.end());
  EXPECT_EQ(*(first + 1), "List-Unsubscribe");
  EXPECT_EQ(e.Count("X-Campaign"), 2);
  // ASCII is never encoded (a structured field would break); it may only exceed 76 when it cannot fold.
  EXPECT_EQ(e.Field("List-Unsubscribe"), url);
  EXPECT_EQ(e.Field("X-Long"), "word " + std::string(100, 'y') + " and more words after it");
  EXPECT_EQ(DecodeWords(*e.Field("X-Note")), "naïve café");
  EXPECT_EQ(e.Field("X-Trailing"), "a " + std::string(60, 'b') + std::string(40, ' '));
  for (const auto& line : e.raw_lines) EXPECT_NE(line.find_first_not_of(" \t"), std::string::npos) << "white space only";
  for (const auto& line : e.raw_lines)
    if (!line.starts_with("List-Unsubscribe") && !line.starts_with("X-Trailing") && line.find("yyyy") == std::string::npos) {
      EXPECT_LE(line.size(), 76u) << line;
    }
}


// ---- structure and bodies ----------------------------------------------------------------------------

TEST(MimeStructure, Table) {
  Attachment pdf{"report.pdf", "", Binary(), ""};
  Attachment logo{"logo.png", "image/png", Binary().substr(0, 500), "logo@example.com"};
  struct Row {
    bool text, html, inline_image, attachment;
    const char* tree;
  } rows[] = {
      {true, false, false, false, "text/plain"},
      {false, true, false, false, "text/html"},
      {true, true, false, false, "multipart/alternative(text/plain,text/html)"},
      {false, true, true, false, "multipart/related(text/html,image/png)"},
      {true, true, true, false, "multipart/alternative(text/plain,multipart/related(text/html,image/png))"},
      {true, false, false, true, "multipart/mixed(text/plain,application/pdf)"},
      {true, true, false, true, "multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)"},
      {true, true, true, true,
       "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf)"},
      {true, false, true, false, "multipart/mixed(text/plain,image/png)"},  // inline without html: attached
      {false, false, false, true, "multipart/mixed(application/pdf)"},
  };
  for (const auto& r : rows) {
    MessageSpec s = Simple();
    s.text = r.text ? "Plain body\n" : "";
    s.html = r.html ? "<p>HTML body <img src=\"cid:logo@example.com\"></p>\n" : "";
    if (r.inline_image) s.attachments.push_back(logo);
    if (r.attachment) s.attachments.push_back(pdf);
    auto e = ParseEntity(Build(s));
    EXPECT_EQ(Tree(e), r.tree);
    std::vector<Entity> leaves;
    Leaves(e, leaves);
    for (const auto& leaf : leaves) {
      std::string type = MediaType(leaf);
      if (type == "text/plain") {
        EXPECT_EQ(Content(leaf), "Plain body\r\n");
        EXPECT_EQ(leaf.Field("Content-Type"), "text/plain; charset=utf-8");
      } else if (type == "text/html") {
        EXPECT_EQ(Content(leaf), "<p>HTML body <img src=\"cid:logo@example.com\"></p>\r\n");
      } else if (type == "image/png") {
        EXPECT_EQ(Content(leaf), logo.content) << "byte-exact";
        EXPECT_EQ(leaf.Field("Content-ID"), "<logo@example.com>");
        EXPECT_EQ(leaf.Field("Content-Disposition"), "inline; filename=\"logo.png\"");
      } else if (type == "application/pdf") {
        EXPECT_EQ(Content(leaf), pdf.content) << "byte-exact";
        EXPECT_EQ(leaf.Field("Content-Disposition"), "attachment; filename=\"report.pdf\"");
        EXPECT_EQ(leaf.Count("Content-ID"), 0);
      }
    }
    if (r.html && r.inline_image) {
      auto related = std::string(Build(s));
      EXPECT_NE(related.find("multipart/related; type=\"text/html\""), std::string::npos) << "RFC 2387 type parameter";
    }
  }
}

TEST(MimeStructure, BoundariesAreUniqueAndAbsentFromContent) {
  MessageSpec s = Simple();
  s.html = "<p>x</p>";
  s.attachments = {{"a.bin", "", Binary(), ""}};
  // A text that quotes a boundary-like line stays 7bit: the random boundary still cannot collide.
  s.text = "--=_\n--=_abc\n";
  std::string m1 = Build(s), m2 = Build(s);
  auto e1 = ParseEntity(m1), e2 = ParseEntity(m2);
  std::string outer1 = Param(*e1.Field("Content-Type"), "boundary");
  std::string outer2 = Param(*e2.Field("Content-Type"), "boundary");
  EXPECT_NE(outer1, outer2);
  EXPECT_LE(outer1.size(), 70u);
  auto parts = SplitMultipart(e1);  // also checks the boundary is inside no part
  ASSERT_EQ(parts.size(), 2u);
  std::string inner = Param(*ParseEntity(parts[0]).Field("Content-Type"), "boundary");
  EXPECT_NE(inner, outer1);
  std::vector<Entity> leaves;
  Leaves(e1, leaves);
  EXPECT_EQ(Content(leaves[0]), "--=_\r\n--=_abc\r\n");
}

TEST(MimeBody, TransferEncodingChoice) {
  struct Row {
    std::string text;
    const char* cte;
  } rows[] = {
      {"Hello,\nplain ASCII.\n", "7bit"},
      {"no final newline", "7bit"},
      {std::string(78, 'a') + "\n", "7bit"},
      {std::string(79, 'a') + "\n", "quoted-printable"},
      {"Cześć, to jest wiadomość.\n", "quoted-printable"},
      {"bell \x07 inside", "quoted-printable"},
      {std::string("nul \0 inside", 12), "quoted-printable"},
      {"Привет, мир! Это письмо целиком написано по-русски, поэтому base64 короче.\n", "base64"},
      {"mixed\r\nline\rendings\n", "7bit"},
  };
  for (const auto& r : rows) {
    MessageSpec s = Simple();
    s.text = r.text;
    auto e = ParseEntity(Build(s));
    EXPECT_EQ(e.Field("Content-Transfer-Encoding"), r.cte) << r.text;
    std::string want = NormalizeLineEndings(r.text);
    if (!want.ends_with("\r\n")) want += "\r\n";  // a message ends with CRLF
    EXPECT_EQ(Content(e), want) << r.text;
  }
  // In a multipart, a body without a final newline gets none.
  MessageSpec s = Simple();
  s.text = "abc";
  s.html = "<b>Zażółć</b>";
  std::vector<Entity> leaves;
  Leaves(ParseEntity(Build(s)), leaves);
  ASSERT_EQ(leaves.size(), 2u);
  EXPECT_EQ(Content(leaves[0]), "abc");
  EXPECT_EQ(Content(leaves[1]), "<b>Zażółć</b>");
}

TEST(MimeAttachments, FileNamesAndTypes) {
  struct Row {
    std::string filename, content_type;
    std::string want_type;         // Content-Type as written, unfolded
    std::string want_disposition;  // Content-Disposition as written, unfolded
  } rows[] = {
      {"report.pdf", "", "application/pdf; name=\"report.pdf\"", "attachment; filename=\"report.pdf\""},
      {"DATA.CSV", "text/csv; charset=utf-8", "text/csv; charset=utf-8; name=\"DATA.CSV\"",
       "attachment; filename=\"DATA.CSV\""},
      {"x.unknown", "", "application/octet-stream; name=\"x.unknown\"", "attachment; filename=\"x.unknown\""},
      {"noext", "Application/X-Custom; Mode=\"a b\"", "application/x-custom; mode=\"a b\"; name=\"noext\"",
       "attachment; filename=\"noext\""},
      {"plain \"quoted\".txt", "", "text/plain; name=\"plain \\\"quoted\\\".txt\"",
       "attachment; filename=\"plain \\\"quoted\\\".txt\""},
      // Reference values from Python's base64 and urllib.parse.quote.
      {"Żółw.pdf", "", "application/pdf; name=\"=?utf-8?B?xbvDs8WCdy5wZGY=?=\"",
       "attachment; filename*=utf-8''%C5%BB%C3%B3%C5%82w.pdf"},
  };
  for (const auto& r : rows) {
    MessageSpec s = Simple();
    s.attachments = {{r.filename, r.content_type, "data", ""}};
    std::vector<Entity> leaves;
    Leaves(ParseEntity(Build(s)), leaves);
    ASSERT_EQ(leaves.size(), 2u);
    EXPECT_EQ(leaves[1].Field("Content-Type"), r.want_type);
    EXPECT_EQ(leaves[1].Field("Content-Disposition"), r.want_disposition);
    EXPECT_EQ(leaves[1].Field("Content-Transfer-Encoding"), "base64");
    EXPECT_EQ(Content(leaves[1]), "data");
  }
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

TEST(MimeAttachments, Rfc2231ContinuationsForLongNames) {
  std::string name = "Zażółć gęślą jaźń — raport kwartalny za rok 2024 (wersja ostateczna, poprawiona) 😀.pdf";
  MessageSpec s = Simple();
  s.attachments = {{name, "", Binary(), ""}};
  std::vector<Entity> leaves;
  Leaves(ParseEntity(Build(s)), leaves);
  ASSERT_EQ(leaves.size(), 2u);
  const Entity& a = leaves[1];
  std::string disposition = *a.Field("Content-Disposition");
  EXPECT_EQ(disposition.find("filename="), std::string::npos) << "no plain fallback beside RFC 2231";
  // Reassemble filename*0*, filename*1*, ... in order; only the first carries the charset.
  std::string joined;
  for (int i = 0;; ++i) {
    std::string key = "filename*" + std::to_string(i) + "*=";
    auto at = disposition.find(key);
    if (at == std::string::npos) {
      EXPECT_GE(i, 2) << disposition;
      break;
    }
    std::string piece = disposition.substr(at + key.size(), disposition.find(';', at) - at - key.size());
    if (i == 0) {
      ASSERT_TRUE(piece.starts_with("utf-8''")) << piece;
      piece = piece.substr(7);
    }
    // No piece splits a %XX or a UTF-8 sequence.
    std::string decoded = PercentDecode(piece);
    EXPECT_NE(static_cast<unsigned char>(decoded[0]) & 0xc0, 0x80) << piece;
    EXPECT_FALSE(ValidateDisplayName(decoded)) << "whole UTF-8 characters";
    joined += decoded;
  }
  EXPECT_EQ(joined, name);
  for (const auto& line : a.raw_lines)
    if (!line.starts_with(" name=")) {
      EXPECT_LE(line.size(), 76u) << line;
    }
  std::string type = *a.Field("Content-Type");
  EXPECT_EQ(DecodeWords(Param(type, "name")), name);
  EXPECT_EQ(Content(a), Binary());
}


TEST(MimeAttachments, EmptyFileKeepsTheBlankLineAfterItsHeaders) {
  MessageSpec s = Simple();
  s.attachments = {{"empty.txt", "", "", ""}};
  std::string m = Build(s);
  EXPECT_NE(m.find("Content-Transfer-Encoding: base64\r\n\r\n\r\n--"), std::string::npos) << m;
  std::vector<Entity> leaves;
  Leaves(ParseEntity(m), leaves);
  ASSERT_EQ(leaves.size(), 2u);
  EXPECT_EQ(Content(leaves[1]), "");
}


// ---- limits over everything at once ------------------------------------------------------------------

TEST(MimeLimits, LongEverythingStaysWithinLineLimits) {
  MessageSpec s = Simple();
  std::string long_name;
  while (long_name.size() + 20 < kMaxNameBytes) long_name += "Łukasz Żółw ";
  s.from.name = long_name;
  s.to.clear();
  for (int i = 0; i < 50; ++i)
    s.to.push_back({"u" + std::to_string(i) + "@example.net", i % 3 == 0 ? long_name : i % 3 == 1 ? std::string(200, 'A') : "Name, " + std::to_string(i)});
  std::string subject;
  while (subject.size() + 40 < kMaxSubjectBytes) subject += "Zażółć gęślą jaźń ";
  s.subject = subject;
  s.text = std::string(5000, 'x') + "\n" + kPolish + std::string(3000, ' ') + "\n";
  s.html = "<p>" + std::string(10000, 'y') + "</p>";
  std::string filename;
  while (filename.size() + 10 < kMaxFilenameBytes) filename += "żółw ";
  s.attachments = {{filename, "", Binary(), ""}, {std::string(250, 'f'), "", "x", "cid1"}};
  s.headers = {{"X-Words", std::string(3000, 'w').replace(10, 1, " ").replace(900, 1, " ").replace(1800, 1, " ").replace(2700, 1, " ")}};
  std::string m = Build(s);
  auto e = ParseEntity(m);
  EXPECT_EQ(DecodeWords(*e.Field("Subject")), subject);
  std::string from = *e.Field("From");
  EXPECT_EQ(DecodePhrase(from.substr(0, from.rfind(" <"))), long_name);
  // Only a field value that cannot fold (a 200-letter word, a 900-letter word) passes 76 octets.
  for (const auto& line : e.raw_lines)
    if (line.find("wwww") == std::string::npos && line.find("AAAA") == std::string::npos) {
      EXPECT_LE(line.size(), 76u) << "header line: " << line.substr(0, 40);
    }
  EXPECT_EQ(e.Field("X-Words"), s.headers[0].second);
  std::vector<Entity> leaves;
  Leaves(e, leaves);
  ASSERT_EQ(leaves.size(), 4u);  // text, html, the inline file (related), the attachment (mixed)
  EXPECT_EQ(Content(leaves[0]), NormalizeLineEndings(s.text));
  EXPECT_EQ(Content(leaves[1]), s.html);
  EXPECT_EQ(Content(leaves[2]), "x");
  EXPECT_EQ(Content(leaves[3]), Binary());
}

TEST(MimeLimits, RandomFieldsAreRefusedOrWellFormed) {
  std::mt19937 rng(11);
  // Mostly valid pieces (specials, UTF-8, boundary-like text); each field turns hostile one time in ten.
  const std::vector<std::string> safe = {"a", "Z", " ", " ", "\"", "\\", ",", ";", ":", "<", ">", "@", "=?", "?=",
                                         "=", "_", ".", "(", ")", "ż", "😀", "é", "Привет", "--=_", std::string(80, 'w')};
  const std::vector<std::string> body_only = {"\r", "\n", "\r\n", "\t", std::string(1, '\0'), "\x01", "\n.\n"};
  const std::vector<std::string> hostile = {"\r", "\n", "\r\n", std::string(1, '\0'), "\x01", "\xff", "\xc3", "  "};
  auto random_text = [&](int max_parts, bool body = false) {
    bool bad = rng() % 10 == 0;
    std::string t;
    for (int i = rng() % max_parts; i > 0; --i) {
      int k = rng() % 10;
      if (bad && k == 0) t += hostile[rng() % hostile.size()];
      else if (body && k < 3) t += body_only[rng() % body_only.size()];
      else t += safe[rng() % safe.size()];
    }
    return t;
  };
  int built = 0;
  for (int round = 0; round < 3000; ++round) {
    MessageSpec s = Simple();
    s.from.name = random_text(8);
    s.to = {{rng() % 4 ? "rcpt@example.net" : random_text(4), random_text(12)}};
    s.subject = random_text(30);
    s.text = random_text(40, true);
    if (rng() % 2) s.html = random_text(40, true);
    if (rng() % 2) s.headers = {{rng() % 3 ? "X-Test" : random_text(3), random_text(20)}};
    if (rng() % 2) s.attachments = {{random_text(10), rng() % 2 ? "" : random_text(4), random_text(10), rng() % 2 ? "" : random_text(3)}};
    auto m = BuildMessage(s);
    if (!ValidateMessageSpec(s).empty()) {
      ASSERT_FALSE(m.ok());
      continue;
    }
    ASSERT_TRUE(m.ok()) << m.error().message;
    ++built;
    ExpectWellFormedLines(*m);
    auto e = ParseEntity(*m);
    EXPECT_EQ(e.Count("Bcc"), 0);
    if (!s.subject.empty()) {
      std::string got = *e.Field("Subject");
      EXPECT_EQ(got.starts_with("=?utf-8?") ? DecodeWords(got) : got, s.subject);
    }
    std::string to = *e.Field("To");
    if (!s.to[0].name.empty()) {
      EXPECT_EQ(DecodePhrase(to.substr(0, to.rfind(" <"))), s.to[0].name) << to;
    }
    std::vector<Entity> leaves;
    Leaves(e, leaves);
    if (!s.text.empty()) {
      std::string want = NormalizeLineEndings(s.text);
      // A single part's content is followed by the message's final CRLF, except in base64.
      if (leaves.size() == 1 && !want.ends_with("\r\n") && leaves[0].Field("Content-Transfer-Encoding") != "base64")
        want += "\r\n";
      EXPECT_EQ(Content(leaves[0]), want);
    }
  }
  EXPECT_GT(built, 1000) << "the generator should produce valid specs too";
}

}  // namespace
}  // namespace kurier::mime
