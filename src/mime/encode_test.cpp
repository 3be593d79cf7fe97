// Tests of the MIME encoders (mime/encode.hpp): quoted-printable, base64 lines, encoded words, line ends.
#include "mime/encode.hpp"

#include <gtest/gtest.h>

#include <random>

#include "common/encoding.hpp"
#include "mime/build_test_reader.hpp"

namespace kurier::mime {
namespace {

using namespace test;

TEST(MimeQuotedPrintable, Table) {
  struct Row {
    std::string in, want;
  } rows[] = {
      {"hello", "hello"},
      {"a=b", "a=3Db"},
      {"trailing space \r\nx", "trailing space=20\r\nx"},
      {"tab\t", "tab=09"},
      {"in between spaces stay", "in between spaces stay"},
      {kPolish, "Za=C5=BC=C3=B3=C5=82=C4=87 g=C4=99=C5=9Bl=C4=85 ja=C5=BA=C5=84"},  // Python quopri
      {std::string("\0\x7f\x80\xff", 4), "=00=7F=80=FF"},
      {"x\r\n\r\ny\r\n", "x\r\n\r\ny\r\n"},
      {std::string(76, 'a'), std::string(76, 'a')},                       // exactly 76: no soft break
      {std::string(77, 'a'), std::string(75, 'a') + "=\r\n" + "aa"},      // 75 + '=' then the rest
      {std::string(74, 'a') + "=", std::string(74, 'a') + "=\r\n=3D"},   // =XX is never split
      {std::string(75, 'a') + " b", std::string(75, 'a') + "=\r\n b"},    // space mid-line stays literal
      {std::string(75, 'a') + " ", std::string(75, 'a') + "=\r\n=20"},    // space at the end is encoded
      {".leading dot", ".leading dot"},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(EncodeQuotedPrintable(r.in), r.want) << r.in;
    EXPECT_EQ(DecodeQp(EncodeQuotedPrintable(r.in)), r.in);
  }
}

// The encoder copies runs of plain characters at once; its output must stay exactly that of the
// character-by-character rules (this reference), on text that is mostly such runs.
std::string ReferenceQuotedPrintable(std::string_view data) {
  static const char* kHexDigits = "0123456789ABCDEF";
  std::string out;
  std::size_t start = 0;
  for (;;) {
    auto eol = data.find("\r\n", start);
    std::string_view line = data.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
    std::size_t col = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      std::string token;
      if (((c == ' ' || c == '\t') && !last) || (c >= 33 && c <= 126 && c != '=')) token = std::string(1, static_cast<char>(c));
      else token = {'=', kHexDigits[c >> 4], kHexDigits[c & 15]};
      if (col + token.size() > (last ? 76u : 75u)) {
        out += "=\r\n";
        col = 0;
      }
      out += token;
      col += token.size();
    }
    if (eol == std::string_view::npos) break;
    out += "\r\n";
    start = eol + 2;
  }
  return out;
}

TEST(MimeQuotedPrintable, MostlyPlainTextMatchesTheCharacterRules) {
  std::mt19937 rng(11);
  const std::vector<std::string> pieces = {"a", "word", " ", "  ", "\t", "=", "\r\n", "\xc5\xbc", "x=y", ".", "~"};
  for (int round = 0; round < 500; ++round) {
    std::string in;
    int n = rng() % 400;
    for (int i = 0; i < n; ++i) in += pieces[rng() % 100 < 80 ? rng() % 2 : rng() % pieces.size()];
    if (rng() % 4 == 0) in += " ";
    ASSERT_EQ(EncodeQuotedPrintable(in), ReferenceQuotedPrintable(in)) << in;
  }
}

TEST(MimeText, LineEndingsAndUtf8ChecksOnLongRuns) {
  struct Row {
    std::string in, want;
  } rows[] = {
      {std::string(100, 'a') + "\n" + std::string(9, 'b'), std::string(100, 'a') + "\r\n" + std::string(9, 'b')},
      {"\r", "\r\n"}, {"\n", "\r\n"}, {"\r\n", "\r\n"}, {"\n\r", "\r\n\r\n"}, {"", ""},
      {"abc\r", "abc\r\n"},
  };
  for (const auto& r : rows) EXPECT_EQ(NormalizeLineEndings(r.in), r.want) << r.in;
  // Random mixes of CR, LF and text against the character-by-character rule.
  std::mt19937 rng(5);
  for (int round = 0; round < 300; ++round) {
    std::string in, want;
    int n = rng() % 200;
    for (int i = 0; i < n; ++i) in += "ab\r\n"[rng() % 4];
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '\r') {
        want += "\r\n";
        if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
      } else if (in[i] == '\n') {
        want += "\r\n";
      } else {
        want += in[i];
      }
    }
    ASSERT_EQ(NormalizeLineEndings(in), want) << in;
  }
  // Invalid UTF-8 is found wherever it sits relative to the eight-octet ASCII steps.
  auto valid = [](const std::string& text) {
    MessageSpec spec = Simple();
    spec.text = text;
    auto problems = ValidateMessageSpec(spec);
    return std::none_of(problems.begin(), problems.end(), [](const auto& p) { return p.pointer == "/text"; });
  };
  for (std::size_t at = 0; at < 20; ++at) {
    std::string s(24, 'a');
    s[at] = '\xff';
    EXPECT_FALSE(valid(s)) << at;
    s[at] = '\xc5';
    s[at + 1] = '\xbc';
    EXPECT_TRUE(valid(s)) << at;
    s[at + 1] = 'a';
    EXPECT_FALSE(valid(s)) << "truncated sequence at " << at;
  }
}

TEST(MimeQuotedPrintable, RandomInputRoundTripsWithinLineRules) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string in;
    int n = rng() % 600;
    for (int i = 0; i < n; ++i) {
      int k = rng() % 10;
      in += k < 2 ? std::string("\r\n") : k < 4 ? std::string(" ") : std::string(1, static_cast<char>(rng() % 256));
    }
    in = NormalizeLineEndings(in);
    std::string qp = EncodeQuotedPrintable(in);
    ASSERT_EQ(DecodeQp(qp), in);
    std::size_t pos = 0;
    for (;;) {
      auto eol = qp.find("\r\n", pos);
      std::string_view line = std::string_view(qp).substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      ASSERT_LE(line.size(), 76u) << line;
      if (!line.empty()) {
        ASSERT_TRUE(line.back() != ' ' && line.back() != '\t') << "trailing white space: " << line;
      }
      for (unsigned char c : line) ASSERT_TRUE(c == ' ' || c == '\t' || (c > 32 && c < 127)) << line;
      if (eol == std::string::npos) break;
      pos = eol + 2;
    }
  }
}

TEST(MimeBase64, LinesOf76) {
  EXPECT_EQ(EncodeBase64Lines(""), "");
  EXPECT_EQ(EncodeBase64Lines("ABC"), "QUJD\r\n");
  std::string s57(57, 'x'), s58(58, 'x');
  EXPECT_EQ(EncodeBase64Lines(s57), Base64Encode(s57) + "\r\n");
  EXPECT_EQ(Base64Encode(s57).size(), 76u);
  std::string two = EncodeBase64Lines(s58);
  EXPECT_EQ(two.find("\r\n"), 76u);
  EXPECT_EQ(DecodeBase64Lines(two), s58);
  EXPECT_EQ(DecodeBase64Lines(EncodeBase64Lines(Binary())), Binary());
}


TEST(MimeLineEndings, Normalize) {
  EXPECT_EQ(NormalizeLineEndings("a\nb\r\nc\rd\r\r\ne\n\n"), "a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\n");
}

TEST(MimeEncodedWords, Table) {
  struct Row {
    std::string in;
    std::vector<std::string> want;
  } rows[] = {
      {kPolish, {"=?utf-8?B?WmHFvMOzxYLEhyBnxJnFm2zEhSBqYcW6xYQ=?="}},  // Python base64 of the UTF-8
      {"Café au lait", {"=?utf-8?Q?Caf=C3=A9_au_lait?="}},             // mostly ASCII: Q is shorter
      {"Café", {"=?utf-8?B?Q2Fmw6k=?="}},                               // B is shorter
      {"a\"b(c)", {"=?utf-8?B?YSJiKGMp?="}},                            // 12 characters in Q, 8 in B
      {"Ada Lovelace (CEO), é", {"=?utf-8?Q?Ada_Lovelace_=28CEO=29=2C_=C3=A9?="}},  // a tie (32) goes to Q
      {"", {}},
  };
  for (const auto& r : rows) EXPECT_EQ(EncodeWords(r.in), r.want) << r.in;
}

TEST(MimeEncodedWords, LongTextSplitsBetweenCharactersWithin75) {
  std::vector<std::string> texts = {std::string(40, 'x') + " " + kPolish + " " + kPolish + " " + kPolish,
                                    "Привет, мир! Это длинная тема письма, которая не помещается в одно слово.",
                                    "emoji 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀 end"};
  for (const auto& text : texts) {
    for (std::size_t first_max : {75u, 30u, 24u, 10u}) {
      auto words = EncodeWords(text, first_max);
      ASSERT_GT(words.size(), 1u) << text;
      std::string joined;
      for (std::size_t i = 0; i < words.size(); ++i) {
        EXPECT_LE(words[i].size(), i == 0 && first_max >= 24 ? first_max : 75u) << words[i];
        std::string piece = DecodeWords(words[i]);
        // Each word decodes on its own to whole characters: no UTF-8 sequence is split.
        ASSERT_FALSE(piece.empty());
        auto lead = static_cast<unsigned char>(piece[0]);
        EXPECT_NE(lead & 0xc0, 0x80) << "word starts inside a character: " << words[i];
        EXPECT_FALSE(ValidateDisplayName(piece)) << "whole UTF-8 characters";
        joined += piece;
      }
      EXPECT_EQ(joined, text);
      // Cut after a space where the text has one within reach, not inside a word.
      if (first_max == 75 && !text.starts_with("emoji")) {
        for (std::size_t i = 0; i + 1 < words.size(); ++i) EXPECT_TRUE(DecodeWords(words[i]).ends_with(" ")) << words[i];
      }
    }
  }
}

}  // namespace
}  // namespace kurier::mime
