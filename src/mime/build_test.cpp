#include "api/mime.hpp"
#include "mime/parse.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "common/encoding.hpp"

namespace kurier::api {
namespace {

// ---- a small reader for what the builder writes, to check it from the receiving side -----------------

std::string DecodeQp(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (s.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

std::string DecodeBase64Lines(std::string_view s) {
  std::string joined;
  for (char c : s)
    if (c != '\r' && c != '\n') joined += c;
  auto decoded = Base64Decode(joined);
  EXPECT_TRUE(decoded.has_value()) << s;
  return decoded.value_or("");
}

// Decodes a field body made of our encoded words (white space between them dropped, RFC 2047 6.2).
std::string DecodeWords(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i == s.size()) break;
    auto end = s.find("?=", i + 10);
    EXPECT_EQ(s.substr(i, 8), "=?utf-8?") << s;
    if (end == std::string_view::npos || s.substr(i, 8) != "=?utf-8?") return "<not encoded words: " + std::string(s) + ">";
    char scheme = s[i + 8];
    std::string_view payload = s.substr(i + 10, end - i - 10);
    if (scheme == 'B') {
      out += Base64Decode(payload).value_or("<bad base64>");
    } else {
      std::string q(payload);
      std::replace(q.begin(), q.end(), '_', ' ');
      out += DecodeQp(q);
    }
    i = end + 2;
  }
  return out;
}

// Decodes a phrase as a reader following RFC 2047 6.2 does: encoded words, atoms and quoted strings,
// white space between two encoded words dropped, any other white space shown as one space.
std::string DecodePhrase(std::string_view s) {
  std::string out;
  bool last_encoded = false, first = true;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i == s.size()) break;
    std::string word;
    bool encoded = false;
    if (s.substr(i, 2) == "=?") {
      auto end = s.find("?=", i + 10);
      word = DecodeWords(s.substr(i, end + 2 - i));
      encoded = true;
      i = end + 2;
    } else if (s[i] == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\') ++i;
        word += s[i];
      }
      ++i;
    } else {
      while (i < s.size() && s[i] != ' ') word += s[i++];
    }
    if (!first && !(encoded && last_encoded)) out += ' ';
    out += word;
    first = false;
    last_encoded = encoded;
  }
  return out;
}

struct Entity {
  std::vector<std::pair<std::string, std::string>> fields;  // unfolded: CRLF removed
  std::vector<std::string> raw_lines;                        // header lines as written
  std::string body;

  std::optional<std::string> Field(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (IEquals(n, name)) return v;
    return std::nullopt;
  }
  int Count(std::string_view name) const {
    int n = 0;
    for (const auto& f : fields) n += IEquals(f.first, name);
    return n;
  }
};

Entity ParseEntity(std::string_view m) {
  Entity e;
  auto end = m.find("\r\n\r\n");
  EXPECT_NE(end, std::string_view::npos);
  std::string_view head = m.substr(0, end + 2);
  e.body = std::string(m.substr(end + 4));
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    std::string line(head.substr(pos, eol - pos));
    e.raw_lines.push_back(line);
    if (line[0] == ' ' || line[0] == '\t') {
      e.fields.back().second += line;
    } else {
      auto colon = line.find(':');
      std::string value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      e.fields.emplace_back(line.substr(0, colon), value);
    }
    pos = eol + 2;
  }
  return e;
}

std::string Param(std::string_view field, std::string_view name) {
  auto p = field.find(std::string(name) + "=\"");
  if (p == std::string_view::npos) return "";
  p += name.size() + 2;
  return std::string(field.substr(p, field.find('"', p) - p));
}

std::string MediaType(const Entity& e) {
  std::string ct = e.Field("Content-Type").value_or("text/plain");
  return ct.substr(0, ct.find(';'));
}

std::vector<std::string> SplitMultipart(const Entity& e) {
  std::string boundary = Param(*e.Field("Content-Type"), "boundary");
  EXPECT_FALSE(boundary.empty());
  std::string delimiter = "--" + boundary;
  std::vector<std::string> parts;
  std::string_view body = e.body;
  EXPECT_TRUE(body.starts_with(delimiter + "\r\n")) << "no preamble expected";
  std::size_t pos = delimiter.size() + 2;
  for (;;) {
    auto next = body.find("\r\n" + delimiter, pos);
    EXPECT_NE(next, std::string_view::npos);
    if (next == std::string_view::npos) break;
    parts.emplace_back(body.substr(pos, next - pos));
    pos = next + 2 + delimiter.size();
    if (body.substr(pos, 2) == "--") {
      EXPECT_EQ(body.substr(pos), "--\r\n") << "nothing after the close delimiter";
      break;
    }
    EXPECT_EQ(body.substr(pos, 2), "\r\n");
    pos += 2;
  }
  // The boundary occurs nowhere inside a part (RFC 2046 5.1.1).
  for (const auto& p : parts) EXPECT_EQ(p.find(delimiter), std::string::npos);
  return parts;
}

// "multipart/mixed(text/plain,application/pdf)"
std::string Tree(const Entity& e) {
  std::string type = MediaType(e);
  if (!type.starts_with("multipart/")) return type;
  std::string out = type + "(";
  auto parts = SplitMultipart(e);
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + Tree(ParseEntity(parts[i]));
  return out + ")";
}

// The decoded content of a leaf entity.
std::string Content(const Entity& e) {
  std::string cte = ToLowerAscii(e.Field("Content-Transfer-Encoding").value_or("7bit"));
  if (cte == "base64") return DecodeBase64Lines(e.body);
  if (cte == "quoted-printable") return DecodeQp(e.body);
  return e.body;
}

// Every leaf, depth first.
void Leaves(const Entity& e, std::vector<Entity>& out) {
  if (!MediaType(e).starts_with("multipart/")) {
    out.push_back(e);
    return;
  }
  for (const auto& p : SplitMultipart(e)) Leaves(ParseEntity(p), out);
}

// Line rules for the whole message: CRLF only, at most 998 octets, 7-bit, ends with CRLF.
void ExpectWellFormedLines(std::string_view m) {
  ASSERT_TRUE(m.ends_with("\r\n"));
  std::size_t line = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    auto c = static_cast<unsigned char>(m[i]);
    ASSERT_LT(c, 0x80) << "8-bit octet at " << i;
    ASSERT_NE(c, 0) << "NUL at " << i;
    if (c == '\r') {
      ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
      ++i;
      line = 0;
      continue;
    }
    ASSERT_NE(c, '\n') << "bare LF at " << i;
    ASSERT_LE(++line, 998u) << "line too long at " << i;
  }
}

MessageSpec Simple() {
  MessageSpec s;
  s.from = {"sender@example.com", ""};
  s.to = {{"rcpt@example.net", ""}};
  s.subject = "Hi";
  s.text = "Hello\n";
  s.date = 1700000000;
  return s;
}

std::string Build(const MessageSpec& s) {
  auto m = BuildMessage(s);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  if (!m.ok()) return "";
  ExpectWellFormedLines(*m);
  return *m;
}

std::string Binary() {
  std::string bin;
  for (int i = 0; i < 3000; ++i) bin += static_cast<char>((i * 7919) % 256);
  return bin;
}

const std::string kPolish = "Zażółć gęślą jaźń";

// ---- encoders ----------------------------------------------------------------------------------------

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

// ---- validation --------------------------------------------------------------------------------------

TEST(MimeValidate, Addresses) {
  struct Row {
    std::string email;
    bool ok;
  } rows[] = {
      {"user@example.com", true},
      {"first.last+tag@sub.example.co.uk", true},
      {"\"john doe\"@example.com", true},
      {"user@[192.0.2.1]", true},
      {"", false},
      {"user", false},
      {"@example.com", false},
      {"user@", false},
      {"us er@example.com", false},
      {"user@example.com\r\nBcc: victim@example.org", false},
      {"user@example.com\n", false},
      {std::string("user\0@example.com", 17), false},
      {"usér@example.com", false},
      {"user@exämple.com", false},
      {"user@exa_mple.com", false},
      {"user@-example.com", false},
      {".user@example.com", false},
      {"user..x@example.com", false},
      {"<user@example.com>", false},
      {"Name <user@example.com>", false},
      {std::string(64, 'a') + "@" + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd'), false},
  };
  for (const auto& r : rows) {
    auto problem = ValidateAddress(r.email);
    EXPECT_EQ(!problem.has_value(), r.ok) << r.email << ": " << problem.value_or("");
  }
  EXPECT_NE(ValidateAddress("usér@example.com")->find("xn--"), std::string::npos) << "says what to do";
}

TEST(MimeValidate, DisplayNames) {
  EXPECT_FALSE(ValidateDisplayName(kPolish));
  EXPECT_FALSE(ValidateDisplayName("Ada \"AL\" <Lovelace>, Jr."));
  EXPECT_TRUE(ValidateDisplayName("Ada\r\nBcc: x@y.z"));
  EXPECT_TRUE(ValidateDisplayName("Ada\n"));
  EXPECT_TRUE(ValidateDisplayName(std::string("A\0da", 4)));
  EXPECT_TRUE(ValidateDisplayName("A\tda"));
  EXPECT_TRUE(ValidateDisplayName("\xff\xfe"));
  EXPECT_TRUE(ValidateDisplayName("\xc3"));        // truncated sequence
  EXPECT_TRUE(ValidateDisplayName("\xc0\xaf"));    // overlong '/'
  EXPECT_TRUE(ValidateDisplayName("\xed\xa0\x80"));  // surrogate
  EXPECT_TRUE(ValidateDisplayName(std::string(kMaxNameBytes + 1, 'a')));
}

TEST(MimeValidate, CustomHeaders) {
  struct Row {
    std::string name, value;
    const char* want;  // nullptr: accepted; otherwise a part of the problem text
  } rows[] = {
      {"X-Campaign", "spring", nullptr},
      {"List-Unsubscribe", "<https://example.com/u>, <mailto:u@example.com>", nullptr},
      {"X-Tab", "a\tb", nullptr},
      {"X-Utf8", kPolish, nullptr},
      {"X-Empty", "", nullptr},
      {"X-Slash/Tilde~", "ok", nullptr},
      {"X Bad", "v", "ftext"},
      {"X:Bad", "v", "ftext"},
      {"", "v", "empty"},
      {"X-Ünï", "v", "ftext"},
      {"X-\x01", "v", "ftext"},
      {std::string(77, 'X'), "v", "longer than 76"},
      {"Subject", "x", "cannot be given"},
      {"subject", "x", "cannot be given"},
      {"FROM", "x", "cannot be given"},
      {"To", "x", "cannot be given"},
      {"Cc", "x", "cannot be given"},
      {"bcc", "x", "cannot be given"},
      {"Date", "x", "cannot be given"},
      {"Message-Id", "x", "cannot be given"},
      {"Mime-Version", "x", "cannot be given"},
      {"CONTENT-TYPE", "x", "cannot be given"},
      {"Content-Transfer-Encoding", "x", "cannot be given"},
      {"content-disposition", "x", "cannot be given"},
      {"Content-ID", "x", "cannot be given"},
      {"Return-Path", "x", "cannot be given"},
      {"Received", "x", "cannot be given"},
      {"Dkim-Signature", "x", "cannot be given"},
      {"Reply-To", "x", "cannot be given"},
      {"Sender", "x", "cannot be given"},
      {"Authentication-Results", "x", "cannot be given"},
      {"ARC-Seal", "x", "cannot be given"},
      {"X-Inject", "a\r\nBcc: victim@example.org", "line break"},
      {"X-Inject", "a\nb", "line break"},
      {"X-Inject", "a\rb", "line break"},
      {"X-Inject", std::string("a\0b", 3), "NUL"},
      {"X-Inject", "a\x01" "b", "control"},
      {"X-Inject", "a\x7f", "control"},
      {"X-Bad", "\xff", "UTF-8"},
      {"X-Run", std::string(1000, 'r'), "998"},
      {"X-Huge", std::string(5000, 'r'), "longer than"},
  };
  for (const auto& r : rows) {
    auto problem = ValidateCustomHeader(r.name, r.value);
    if (!r.want) {
      EXPECT_FALSE(problem) << r.name << ": " << problem.value_or("");
    } else {
      ASSERT_TRUE(problem) << r.name << ": " << r.value;
      EXPECT_NE(problem->find(r.want), std::string::npos) << *problem;
    }
  }
  EXPECT_TRUE(IsReservedHeader("content-language"));
  EXPECT_FALSE(IsReservedHeader("X-Content-Type"));
  EXPECT_FALSE(IsReservedHeader("List-Id"));
}

TEST(MimeValidate, SpecProblemsNameTheField) {
  struct Row {
    const char* what;
    void (*change)(MessageSpec&);
    const char* pointer;
  } rows[] = {
      {"bad from", [](MessageSpec& s) { s.from.email = "nobody"; }, "/from/email"},
      {"from name LF", [](MessageSpec& s) { s.from.name = "A\nB"; }, "/from/name"},
      {"bad second to", [](MessageSpec& s) { s.to.push_back({"x@@y", ""}); }, "/to/1/email"},
      {"cc name CR", [](MessageSpec& s) { s.cc = {{"c@example.com", "C\rD"}}; }, "/cc/0/name"},
      {"bad bcc", [](MessageSpec& s) { s.bcc = {{"b c@example.com", ""}}; }, "/bcc/0/email"},
      {"bad reply_to", [](MessageSpec& s) { s.reply_to = {{"", ""}}; }, "/reply_to/0/email"},
      {"no recipients", [](MessageSpec& s) { s.to.clear(); }, "/to"},
      {"subject CRLF", [](MessageSpec& s) { s.subject = "Hi\r\nBcc: victim@example.org"; }, "/subject"},
      {"subject NUL", [](MessageSpec& s) { s.subject = std::string("a\0b", 3); }, "/subject"},
      {"subject too long", [](MessageSpec& s) { s.subject = std::string(kMaxSubjectBytes + 1, 's'); }, "/subject"},
      {"text not UTF-8", [](MessageSpec& s) { s.text = "\xff"; }, "/text"},
      {"html not UTF-8", [](MessageSpec& s) { s.html = "<p>\xc3</p>"; }, "/html"},
      {"empty", [](MessageSpec& s) { s.text.clear(); }, "/text"},
      {"reserved header", [](MessageSpec& s) { s.headers = {{"Bcc", "x@example.org"}}; }, "/headers/Bcc"},
      {"header pointer escaped", [](MessageSpec& s) { s.headers = {{"X/Y~Z", "a\nb"}}; }, "/headers/X~1Y~0Z"},
      {"no filename", [](MessageSpec& s) { s.attachments = {{"", "", "x", ""}}; }, "/attachments/0/filename"},
      {"filename CRLF", [](MessageSpec& s) { s.attachments = {{"a\r\n.pdf", "", "x", ""}}; }, "/attachments/0/filename"},
      {"filename NUL", [](MessageSpec& s) { s.attachments = {{std::string("a\0.pdf", 6), "", "x", ""}}; }, "/attachments/0/filename"},
      {"filename too long", [](MessageSpec& s) { s.attachments = {{std::string(256, 'f'), "", "x", ""}}; }, "/attachments/0/filename"},
      {"bad type", [](MessageSpec& s) { s.attachments = {{"a", "pdf", "x", ""}}; }, "/attachments/0/content_type"},
      {"type injection", [](MessageSpec& s) { s.attachments = {{"a", "text/plain\r\nX: y", "x", ""}}; }, "/attachments/0/content_type"},
      {"multipart type", [](MessageSpec& s) { s.attachments = {{"a", "multipart/mixed", "x", ""}}; }, "/attachments/0/content_type"},
      {"message type", [](MessageSpec& s) { s.attachments = {{"a.eml", "message/rfc822", "x", ""}}; }, "/attachments/0/content_type"},
      {"name param", [](MessageSpec& s) { s.attachments = {{"a", "text/plain; name=x", "x", ""}}; }, "/attachments/0/content_type"},
      {"bad content_id", [](MessageSpec& s) { s.attachments = {{"a.png", "", "x", "lo go"}}; }, "/attachments/0/content_id"},
      {"duplicate content_id",
       [](MessageSpec& s) { s.attachments = {{"a.png", "", "x", "logo"}, {"b.png", "", "x", "<logo>"}}; },
       "/attachments/1/content_id"},
      {"bad message_id", [](MessageSpec& s) { s.message_id = "no-at-sign"; }, "/message_id"},
      {"message_id space", [](MessageSpec& s) { s.message_id = "a b@c"; }, "/message_id"},
      {"bad id domain", [](MessageSpec& s) { s.message_id_domain = "bad domain"; }, "/message_id_domain"},
      {"date", [](MessageSpec& s) { s.date = 300000000000; }, "/date"},
  };
  for (const auto& r : rows) {
    MessageSpec s = Simple();
    r.change(s);
    auto problems = ValidateMessageSpec(s);
    ASSERT_EQ(problems.size(), 1u) << r.what << (problems.empty() ? "" : ": " + problems[0].pointer + " " + problems[0].detail);
    EXPECT_EQ(problems[0].pointer, r.pointer) << r.what << ": " << problems[0].detail;
    auto built = BuildMessage(s);
    ASSERT_FALSE(built.ok()) << r.what;
    EXPECT_EQ(built.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(built.error().message.find(r.pointer), std::string::npos) << built.error().message;
  }
  EXPECT_TRUE(ValidateMessageSpec(Simple()).empty());
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
}  // namespace kurier::api

namespace kurier::api {
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
}  // namespace kurier::api
