// build_test_reader.hpp - for the MIME builder's tests only: a small reader for what the builder writes
// (quoted-printable, base64 lines, encoded words, header fields, multipart bodies), to check it from the
// receiving side, and a few message specs. Deliberately independent of mime/parse.hpp, so the builder is
// not checked against kurier's own reader.
#pragma once
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/encoding.hpp"
#include "mime/build.hpp"

namespace kurier::mime::test {

inline std::string DecodeQp(std::string_view s) {
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

inline std::string DecodeBase64Lines(std::string_view s) {
  std::string joined;
  for (char c : s)
    if (c != '\r' && c != '\n') joined += c;
  auto decoded = Base64Decode(joined);
  EXPECT_TRUE(decoded.has_value()) << s;
  return decoded.value_or("");
}

// Decodes a field body made of our encoded words (white space between them dropped, RFC 2047 6.2).
inline std::string DecodeWords(std::string_view s) {
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
inline std::string DecodePhrase(std::string_view s) {
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

inline Entity ParseEntity(std::string_view m) {
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

inline std::string Param(std::string_view field, std::string_view name) {
  auto p = field.find(std::string(name) + "=\"");
  if (p == std::string_view::npos) return "";
  p += name.size() + 2;
  return std::string(field.substr(p, field.find('"', p) - p));
}

inline std::string MediaType(const Entity& e) {
  std::string ct = e.Field("Content-Type").value_or("text/plain");
  return ct.substr(0, ct.find(';'));
}

inline std::vector<std::string> SplitMultipart(const Entity& e) {
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
inline std::string Tree(const Entity& e) {
  std::string type = MediaType(e);
  if (!type.starts_with("multipart/")) return type;
  std::string out = type + "(";
  auto parts = SplitMultipart(e);
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + Tree(ParseEntity(parts[i]));
  return out + ")";
}

// The decoded content of a leaf entity.
inline std::string Content(const Entity& e) {
  std::string cte = ToLowerAscii(e.Field("Content-Transfer-Encoding").value_or("7bit"));
  if (cte == "base64") return DecodeBase64Lines(e.body);
  if (cte == "quoted-printable") return DecodeQp(e.body);
  return e.body;
}

// Every leaf, depth first.
inline void Leaves(const Entity& e, std::vector<Entity>& out) {
  if (!MediaType(e).starts_with("multipart/")) {
    out.push_back(e);
    return;
  }
  for (const auto& p : SplitMultipart(e)) Leaves(ParseEntity(p), out);
}

// Line rules for the whole message: CRLF only, at most 998 octets, 7-bit, ends with CRLF.
inline void ExpectWellFormedLines(std::string_view m) {
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

inline MessageSpec Simple() {
  MessageSpec s;
  s.from = {"sender@example.com", ""};
  s.to = {{"rcpt@example.net", ""}};
  s.subject = "Hi";
  s.text = "Hello\n";
  s.date = 1700000000;
  return s;
}

inline std::string Build(const MessageSpec& s) {
  auto m = BuildMessage(s);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  if (!m.ok()) return "";
  ExpectWellFormedLines(*m);
  return *m;
}

inline std::string Binary() {
  std::string bin;
  for (int i = 0; i < 3000; ++i) bin += static_cast<char>((i * 7919) % 256);
  return bin;
}

inline const std::string kPolish = "Zażółć gęślą jaźń";

}  // namespace kurier::mime::test
