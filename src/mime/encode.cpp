// mime/encode.cpp - quoted-printable, base64 lines and RFC 2047 encoded words for the MIME builder.
// STANDARDS: RFC 2045 6.7-6.8 (quoted-printable, base64), RFC 2047 4-5 (encoded words; Q restricted to
// the phrase-safe set of 5(3)), RFC 5322 2.1 (CRLF line ends).
#include "mime/encode.hpp"

#include <algorithm>
#include <cstring>

#include "common/encoding.hpp"

namespace kurier::mime {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// RFC 2047 5(3): the characters a Q-encoded word may hold literally anywhere, phrases included.
bool IsQSafe(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '!' || c == '*' ||
         c == '+' || c == '-' || c == '/';
}

}  // namespace

void AppendHex(std::string& out, char prefix, unsigned char c) {
  out += prefix;
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

std::string NormalizeLineEndings(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  // The next CR and the next LF, each found with memchr and kept until passed.
  const char* base = text.data();
  auto next = [&](char c, std::size_t from) {
    const void* p = from < text.size() ? std::memchr(base + from, c, text.size() - from) : nullptr;
    return p ? static_cast<std::size_t>(static_cast<const char*>(p) - base) : text.size();
  };
  std::size_t cr = next('\r', 0), lf = next('\n', 0);
  for (std::size_t i = 0; i < text.size();) {
    // Copy the run up to the next line break at once.
    if (cr < i) cr = next('\r', i);
    if (lf < i) lf = next('\n', i);
    std::size_t brk = std::min(cr, lf);
    out.append(text.data() + i, brk - i);
    if (brk == text.size()) break;
    out += "\r\n";
    i = brk + ((text[brk] == '\r' && brk + 1 < text.size() && text[brk + 1] == '\n') ? 2 : 1);
  }
  return out;
}

std::string EncodeQuotedPrintable(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 8);
  std::size_t start = 0;
  for (;;) {
    auto eol = data.find("\r\n", start);
    std::string_view line = data.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
    std::size_t col = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      // A run of printable characters other than '=' is copied as is, up to the soft-break column
      // (the run's last character is left to the loop below when it ends the line: a final space
      // or tab must be encoded, and the last character may go up to column 76).
      std::size_t run = i;
      while (run + 1 < line.size() && run - i < 75 - col) {
        auto r = static_cast<unsigned char>(line[run]);
        if (!((r >= 33 && r <= 126 && r != '=') || r == ' ' || r == '\t')) break;
        ++run;
      }
      if (run > i) {
        out.append(line.data() + i, run - i);
        col += run - i;
        i = run - 1;
        continue;
      }
      auto c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      char token[3];
      std::size_t len;
      if ((c == ' ' || c == '\t') && !last) {
        token[0] = static_cast<char>(c), len = 1;
      } else if (c >= 33 && c <= 126 && c != '=') {
        token[0] = static_cast<char>(c), len = 1;
      } else {
        token[0] = '=', token[1] = kHex[c >> 4], token[2] = kHex[c & 15], len = 3;
      }
      // An encoded line holds at most 76 characters; a soft break's '=' counts, so 75 before it.
      if (col + len > (last ? 76u : 75u)) {
        out += "=\r\n";
        col = 0;
      }
      out.append(token, len);
      col += len;
    }
    if (eol == std::string_view::npos) break;
    out += "\r\n";
    start = eol + 2;
  }
  return out;
}

std::string EncodeBase64Lines(std::string_view data) {
  std::string b64 = Base64Encode(data);
  std::string out;
  out.reserve(b64.size() + b64.size() / 38 + 2);
  for (std::size_t i = 0; i < b64.size(); i += 76) {
    out.append(b64, i, 76);
    out += "\r\n";
  }
  return out;
}

std::vector<std::string> EncodeWords(std::string_view text, std::size_t first_max) {
  constexpr std::size_t kOverhead = 12;  // "=?utf-8?Q?" + "?="
  auto q_size = [](unsigned char c) -> std::size_t { return IsQSafe(c) || c == ' ' ? 1 : 3; };
  std::size_t q_total = 0;
  for (unsigned char c : text) q_total += q_size(c);
  bool use_q = q_total <= (text.size() + 2) / 3 * 4;
  auto encoded_size = [&](std::string_view raw) {
    if (!use_q) return (raw.size() + 2) / 3 * 4;
    std::size_t n = 0;
    for (unsigned char c : raw) n += q_size(c);
    return n;
  };
  auto encode = [&](std::string_view raw) {
    std::string w = use_q ? "=?utf-8?Q?" : "=?utf-8?B?";
    if (use_q) {
      for (unsigned char c : raw) {
        if (c == ' ') w += '_';
        else if (IsQSafe(c)) w += static_cast<char>(c);
        else AppendHex(w, '=', c);
      }
    } else {
      w += Base64Encode(raw);
    }
    return w + "?=";
  };
  std::size_t max = first_max >= 24 ? std::min<std::size_t>(first_max, 75) : 75;
  std::vector<std::string> words;
  std::size_t begin = 0, after_space = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = std::min(std::max<std::size_t>(1, Utf8SequenceLength(text, i)), text.size() - i);
    if (i > begin && kOverhead + encoded_size(text.substr(begin, i + n - begin)) > max) {
      // Cut after the last space when what follows it is short, so a reader that wrongly keeps the white
      // space between two encoded words shows a doubled space rather than a space inside a word.
      std::size_t cut = i;
      if (after_space > begin + 1 && kOverhead + encoded_size(text.substr(after_space, i - after_space)) <= 75 / 2)
        cut = after_space;
      words.push_back(encode(text.substr(begin, cut - begin)));
      begin = cut;
      after_space = 0;
      max = 75;
    }
    if (text[i] == ' ') after_space = i + 1;
    i += n;
  }
  if (begin < text.size()) words.push_back(encode(text.substr(begin)));
  return words;
}
}  // namespace kurier::mime
