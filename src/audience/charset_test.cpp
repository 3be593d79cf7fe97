// Tests of the import charsets (audience/charset.hpp): names, detection on real Polish words in both 8-bit
// encodings, conversion to UTF-8 in chunks split anywhere, invalid input reported with its line.
// The 8-bit literals below were made with Python's codecs (cp1250, iso-8859-2), not by hand.
#include "audience/charset.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kurier::audience {
namespace {

struct Polish {
  std::string utf8, cp1250, latin2;
};
const Polish kWords[] = {
    {"Zażółć gęślą jaźń", "Za\xBF\xF3\xB3\xE6 g\xEA\x9Cl\xB9 ja\x9F\xF1", "Za\xBF\xF3\xB3\xE6 g\xEA\xB6l\xB1 ja\xBC\xF1"},
    {"Świętokrzyskie", "\x8Cwi\xEAtokrzyskie", "\xA6wi\xEAtokrzyskie"},
    {"Łódź", "\xA3\xF3" "d\x9F", "\xA3\xF3" "d\xBC"},
    {"Źródło", "\x8Fr\xF3" "d\xB3o", "\xACr\xF3" "d\xB3o"},
    {"Ząbki", "Z\xB9" "bki", "Z\xB1" "bki"},
    {"Mąka i cukier", "M\xB9ka i cukier", "M\xB1ka i cukier"},
    {"ZAŻÓŁĆ GĘŚLĄ JAŹŃ", "ZA\xAF\xD3\xA3\xC6 G\xCA\x8CL\xA5 JA\x8F\xD1", "ZA\xAF\xD3\xA3\xC6 G\xCA\xA6L\xA1 JA\xAC\xD1"},
};

std::string Convert(Charset from, std::string_view in, std::size_t chunk = 0,
                    std::vector<CharsetProblem>* problems = nullptr) {
  auto conv = Utf8Converter::Open(from);
  EXPECT_TRUE(conv.ok());
  std::string out;
  if (chunk == 0) chunk = in.size() + 1;
  for (std::size_t i = 0; i < in.size(); i += chunk) conv->Convert(in.substr(i, chunk), out);
  conv->Finish(out);
  if (problems) *problems = conv->TakeProblems();
  return out;
}

TEST(Charset, Names) {
  struct Row {
    std::string name;
    bool ok;
    Charset want;
  };
  const Row rows[] = {
      {"utf-8", true, Charset::kUtf8},           {"UTF8", true, Charset::kUtf8},
      {" utf-8 ", true, Charset::kUtf8},         {"windows-1250", true, Charset::kWindows1250},
      {"CP1250", true, Charset::kWindows1250},   {"Win1250", true, Charset::kWindows1250},
      {"iso-8859-2", true, Charset::kIso8859_2}, {"ISO_8859-2", true, Charset::kIso8859_2},
      {"latin2", true, Charset::kIso8859_2},     {"Latin-2", true, Charset::kIso8859_2},
      {"latin1", false, Charset::kUtf8},         {"", false, Charset::kUtf8},
      {"windows-1252", false, Charset::kUtf8},
  };
  for (const auto& r : rows) {
    auto got = ParseCharset(r.name);
    ASSERT_EQ(got.ok(), r.ok) << r.name;
    if (r.ok) {
      EXPECT_EQ(*got, r.want) << r.name;
    } else {
      EXPECT_EQ(got.error().message, "unknown encoding '" + r.name +
                                         "': give utf-8, windows-1250 (also cp1250) or iso-8859-2 (also latin2)");
    }
  }
  for (Charset c : {Charset::kUtf8, Charset::kWindows1250, Charset::kIso8859_2}) {
    auto back = ParseCharset(CharsetName(c));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c);
  }
}

TEST(Charset, ConvertsPolishWordsFromBothEncodings) {
  for (const auto& w : kWords) {
    EXPECT_EQ(Convert(Charset::kWindows1250, w.cp1250), w.utf8) << w.utf8;
    EXPECT_EQ(Convert(Charset::kIso8859_2, w.latin2), w.utf8) << w.utf8;
    EXPECT_EQ(Convert(Charset::kUtf8, w.utf8), w.utf8) << w.utf8;
  }
}

TEST(Charset, DetectsPolishWords) {
  for (const auto& w : kWords) {
    EXPECT_EQ(DetectCharset(w.utf8), Charset::kUtf8) << w.utf8;
    EXPECT_EQ(DetectCharset(w.cp1250), Charset::kWindows1250) << w.utf8;
    EXPECT_EQ(DetectCharset(w.latin2), Charset::kIso8859_2) << w.utf8;
  }
  struct Row {
    std::string sample;
    Charset want;
  };
  const Row rows[] = {
      {"", Charset::kUtf8},
      {"email,name\njan@x.pl,Jan\n", Charset::kUtf8},
      {"Zażółć g\xC4", Charset::kUtf8},                 // a sequence cut by the sample's end
      {"\xEF\xBB\xBF" "Łódź", Charset::kUtf8},
      {"\xAF\xF3\xB3w", Charset::kWindows1250},           // Żółw: the same in both; windows-1250
      {"\xB1\xB9", Charset::kWindows1250},                // one each: a tie
      {"\xB1\xB6 \xB9", Charset::kIso8859_2},
      {"\x9C", Charset::kWindows1250},
  };
  for (const auto& r : rows) EXPECT_EQ(DetectCharset(r.sample), r.want) << r.sample;
}

TEST(Charset, FilesConvertInChunksOfAnySize) {
  const std::string utf8 =
      "email;imię;nazwisko;miasto\nzofia@example.pl;Zofia;Wąsowicz;Łódź\r\njozef@źródło.pl;Józef;Żółtek;"
      "Świętokrzyskie\n";
  const std::string cp1250 =
      "email;imi\xEA;nazwisko;miasto\nzofia@example.pl;Zofia;W\xB9sowicz;\xA3\xF3" "d\x9F\r\njozef@\x9Fr\xF3"
      "d\xB3o.pl;J\xF3zef;\xAF\xF3\xB3tek;\x8Cwi\xEAtokrzyskie\n";
  const std::string latin2 =
      "email;imi\xEA;nazwisko;miasto\nzofia@example.pl;Zofia;W\xB1sowicz;\xA3\xF3" "d\xBC\r\njozef@\xBCr\xF3"
      "d\xB3o.pl;J\xF3zef;\xAF\xF3\xB3tek;\xA6wi\xEAtokrzyskie\n";
  EXPECT_EQ(DetectCharset(cp1250), Charset::kWindows1250);
  EXPECT_EQ(DetectCharset(latin2), Charset::kIso8859_2);
  for (std::size_t chunk = 1; chunk <= utf8.size(); ++chunk) {
    std::vector<CharsetProblem> problems;
    EXPECT_EQ(Convert(Charset::kUtf8, utf8, chunk, &problems), utf8) << chunk;
    EXPECT_TRUE(problems.empty()) << chunk << ": " << problems.front().message;  // no split sequence flagged
    EXPECT_EQ(Convert(Charset::kWindows1250, cp1250, chunk), utf8) << chunk;
    EXPECT_EQ(Convert(Charset::kIso8859_2, latin2, chunk), utf8) << chunk;
  }
}

TEST(Charset, InvalidInputIsReplacedAndReportedWithItsLine) {
  struct Row {
    Charset from;
    std::string in, want;
    std::vector<std::string> problems;
  };
  const std::string hint =
      ", replaced by U+FFFD; if the file comes from Excel or another Windows program, import it with --encoding "
      "windows-1250 (or iso-8859-2)";
  const Row rows[] = {
      {Charset::kUtf8, "ok\nZa\xBF\xF3\xB3\xE6\nok\n", "ok\nZa\uFFFD\uFFFD\uFFFD\nok\n",
       {"line 2: invalid UTF-8 (octet 0xBF)" + hint}},                     // windows-1250 read as UTF-8: once a line
      {Charset::kUtf8, "a\r\nb\rc\xC0\xAF\n", "a\r\nb\rc\uFFFD\uFFFD\n",
       {"line 3: invalid UTF-8 (octet 0xC0)" + hint}},                     // overlong '/'
      {Charset::kUtf8, "\xED\xA0\x80x", "\uFFFD\uFFFD\uFFFDx", {"line 1: invalid UTF-8 (octet 0xED)" + hint}},  // surrogate
      {Charset::kUtf8, "\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD", {"line 1: invalid UTF-8 (octet 0xF4)" + hint}},
      {Charset::kUtf8, "\xE2\x82\n\xE2\x82\xAC", "\uFFFD\n€", {"line 1: invalid UTF-8 (octet 0xE2)" + hint}},
      {Charset::kUtf8, "ok\n\xC5", "ok\n\uFFFD",
       {"line 2: a UTF-8 sequence cut short by the end of the file" + hint}},
      {Charset::kWindows1250, "a\n\x81\x83\nb\x98", "a\n\uFFFD\uFFFD\nb\uFFFD",
       {"line 2: octet 0x81 is no character in windows-1250 (replaced by U+FFFD); check the file's encoding "
        "(utf-8, windows-1250 or iso-8859-2)",
        "line 3: octet 0x98 is no character in windows-1250 (replaced by U+FFFD); check the file's encoding "
        "(utf-8, windows-1250 or iso-8859-2)"}},
      {Charset::kIso8859_2, "\x80\x9F", "\u0080\u009F", {}},  // C1 controls: characters in ISO-8859-2
  };
  for (const auto& r : rows) {
    for (std::size_t chunk : {std::size_t(0), std::size_t(1), std::size_t(2), std::size_t(3)}) {
      std::vector<CharsetProblem> problems;
      EXPECT_EQ(Convert(r.from, r.in, chunk, &problems), r.want) << r.in << " chunk " << chunk;
      std::vector<std::string> got;
      for (const auto& p : problems) got.push_back(p.message);
      EXPECT_EQ(got, r.problems) << r.in << " chunk " << chunk;
    }
  }
}

TEST(Charset, ProblemsAreBounded) {
  auto conv = Utf8Converter::Open(Charset::kUtf8);
  ASSERT_TRUE(conv.ok());
  std::string out;
  for (int i = 0; i < 1000; ++i) conv->Convert("\xFF\n", out);
  conv->Finish(out);
  EXPECT_EQ(conv->problem_count(), 1000u);
  ASSERT_EQ(conv->problems().size(), Utf8Converter::kMaxProblems);
  EXPECT_EQ(conv->problems().back().line, Utf8Converter::kMaxProblems);
}

}  // namespace
}  // namespace kurier::audience
