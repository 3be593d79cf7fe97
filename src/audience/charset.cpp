// charset.cpp - charsets of contact imports: names, detection, conversion to UTF-8 in chunks.
//
// SECURITY: reads files that users upload. Conversion holds at most three octets between chunks (an
// incomplete UTF-8 sequence) and keeps at most kMaxProblems messages; every octet converts to at most
// three. Fuzzed through fuzz/csv_reader_fuzz.cpp.
// STANDARDS: RFC 3629 section 4 (the UTF-8 octet ranges: no overlong forms, no surrogates, nothing above
// U+10FFFF); windows-1250 and ISO-8859-2 as glibc's iconv maps them (IANA names; WHATWG aliases).
#include "audience/charset.hpp"

#include <iconv.h>

#include <cerrno>
#include <cstdio>
#include <optional>

namespace kurier::audience {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Hex(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

// What the octets at p[0..n) start with, per RFC 3629's table: a valid sequence of `length` octets; an
// invalid one whose maximal bad prefix is `length` octets long; or an incomplete one (n too short).
struct Sequence {
  enum { kValid, kInvalid, kIncomplete } kind;
  std::size_t length;
};

Sequence ReadSequence(const unsigned char* p, std::size_t n) {
  unsigned char lead = p[0];
  if (lead < 0x80) return {Sequence::kValid, 1};
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second octet
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return {Sequence::kInvalid, 1};
  }
  for (std::size_t i = 1; i < len; ++i) {
    if (i >= n) return {Sequence::kIncomplete, i};
    unsigned char c = p[i];
    bool ok = i == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return {Sequence::kInvalid, i};
  }
  return {Sequence::kValid, len};
}

// The sample is valid UTF-8 except, perhaps, for a sequence its end cut short.
bool LooksUtf8(std::string_view sample) {
  auto p = reinterpret_cast<const unsigned char*>(sample.data());
  std::size_t n = sample.size();
  for (std::size_t i = 0; i < n;) {
    Sequence s = ReadSequence(p + i, n - i);
    if (s.kind == Sequence::kInvalid) return false;
    if (s.kind == Sequence::kIncomplete) return true;
    i += s.length;
  }
  return true;
}

using Table = std::array<std::string, 256>;

// The UTF-8 of every octet of a single-octet charset, from iconv; nullopt when iconv cannot open it.
std::optional<Table> BuildTable(const char* iconv_name) {
  iconv_t cd = iconv_open("UTF-8", iconv_name);
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  Table table;
  for (int b = 0; b < 256; ++b) {
    char in = static_cast<char>(b);
    char out[8];
    char* in_p = &in;
    char* out_p = out;
    std::size_t in_left = 1, out_left = sizeof out;
    if (iconv(cd, &in_p, &in_left, &out_p, &out_left) == static_cast<std::size_t>(-1)) {
      iconv(cd, nullptr, nullptr, nullptr, nullptr);  // undefined octet: leave its entry empty
      continue;
    }
    table[b].assign(out, out_p);
  }
  iconv_close(cd);
  return table;
}

const Table* TableOf(Charset charset) {
  static const std::optional<Table> cp1250 = BuildTable("WINDOWS-1250");
  static const std::optional<Table> latin2 = BuildTable("ISO-8859-2");
  const std::optional<Table>& t = charset == Charset::kWindows1250 ? cp1250 : latin2;
  return t ? &*t : nullptr;
}

}  // namespace

std::string_view CharsetName(Charset charset) {
  switch (charset) {
    case Charset::kUtf8: return "utf-8";
    case Charset::kWindows1250: return "windows-1250";
    case Charset::kIso8859_2: return "iso-8859-2";
  }
  return "utf-8";
}

Result<Charset> ParseCharset(std::string_view name) {
  struct Alias {
    std::string_view name;
    Charset charset;
  };
  static constexpr Alias kAliases[] = {
      {"utf-8", Charset::kUtf8},          {"utf8", Charset::kUtf8},
      {"unicode-1-1-utf-8", Charset::kUtf8},
      {"windows-1250", Charset::kWindows1250}, {"windows1250", Charset::kWindows1250},
      {"cp1250", Charset::kWindows1250},  {"cp-1250", Charset::kWindows1250},
      {"win1250", Charset::kWindows1250}, {"x-cp1250", Charset::kWindows1250},
      {"iso-8859-2", Charset::kIso8859_2}, {"iso8859-2", Charset::kIso8859_2},
      {"iso_8859-2", Charset::kIso8859_2}, {"iso88592", Charset::kIso8859_2},
      {"latin2", Charset::kIso8859_2},    {"latin-2", Charset::kIso8859_2},
      {"l2", Charset::kIso8859_2},        {"iso-ir-101", Charset::kIso8859_2},
      {"csisolatin2", Charset::kIso8859_2},
  };
  std::string want = Lower(Trim(name));
  for (const auto& a : kAliases)
    if (a.name == want) return a.charset;
  return MakeError(ErrorCode::kInvalidArgument,
                   "unknown encoding '" + std::string(name) +
                       "': give utf-8, windows-1250 (also cp1250) or iso-8859-2 (also latin2)");
}

Charset DetectCharset(std::string_view sample) {
  if (LooksUtf8(sample)) return Charset::kUtf8;
  std::size_t cp1250 = 0, latin2 = 0;
  for (unsigned char c : sample) {
    if (c >= 0x80 && c <= 0x9F) return Charset::kWindows1250;
    switch (c) {
      case 0xB9: case 0xA5:  // ą Ą in windows-1250 (š Ľ in ISO-8859-2, rare in Polish text)
        ++cp1250;
        break;
      case 0xB1: case 0xA1:  // ą Ą in ISO-8859-2 (± ˇ in windows-1250)
      case 0xB6: case 0xA6:  // ś Ś in ISO-8859-2 (¶ ¦)
      case 0xBC: case 0xAC:  // ź Ź in ISO-8859-2 (ľ ¬)
        ++latin2;
        break;
      default:
        break;
    }
  }
  return latin2 > cp1250 ? Charset::kIso8859_2 : Charset::kWindows1250;
}

Result<Utf8Converter> Utf8Converter::Open(Charset from) {
  if (from == Charset::kUtf8) return Utf8Converter(from, nullptr);
  const Table* table = TableOf(from);
  if (!table)
    return MakeError(ErrorCode::kInternal, "iconv cannot convert from " + std::string(CharsetName(from)) +
                                               ": install glibc's gconv modules (package libc6)");
  return Utf8Converter(from, table);
}

void Utf8Converter::Convert(std::string_view chunk, std::string& out) {
  if (from_ == Charset::kUtf8)
    ConvertUtf8(chunk, out, false);
  else
    ConvertSingleByte(chunk, out);
}

void Utf8Converter::Finish(std::string& out) {
  if (from_ == Charset::kUtf8) ConvertUtf8({}, out, true);
}

std::vector<CharsetProblem> Utf8Converter::TakeProblems() {
  std::vector<CharsetProblem> out = std::move(problems_);
  problems_.clear();
  return out;
}

void Utf8Converter::Problem(std::string what) {
  if (problem_count_ > 0 && last_problem_line_ == lines_.line) return;  // once per line
  last_problem_line_ = lines_.line;
  ++problem_count_;
  if (problems_.size() < kMaxProblems) problems_.push_back({lines_.line, "line " + std::to_string(lines_.line) + ": " + what});
}

void Utf8Converter::ConvertSingleByte(std::string_view chunk, std::string& out) {
  out.reserve(out.size() + chunk.size() + chunk.size() / 8);
  for (char c : chunk) {
    const std::string& utf8 = (*table_)[static_cast<unsigned char>(c)];
    if (utf8.empty()) {
      out.append(kReplacement);
      Problem("octet " + Hex(static_cast<unsigned char>(c)) + " is no character in " +
              std::string(CharsetName(from_)) + " (replaced by U+FFFD); check the file's encoding (utf-8, "
              "windows-1250 or iso-8859-2)");
    } else {
      out.append(utf8);
    }
    lines_.Count(c);
  }
}

void Utf8Converter::ConvertUtf8(std::string_view chunk, std::string& out, bool at_end) {
  std::string joined;
  std::string_view data = chunk;
  if (!pending_.empty()) {
    joined = pending_ + std::string(chunk);
    pending_.clear();
    data = joined;
  }
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  out.reserve(out.size() + n);
  for (std::size_t i = 0; i < n;) {
    Sequence s = ReadSequence(p + i, n - i);
    if (s.kind == Sequence::kIncomplete && !at_end) {
      pending_.assign(data.substr(i));
      return;
    }
    if (s.kind == Sequence::kValid) {
      out.append(data.substr(i, s.length));
      if (s.length == 1) lines_.Count(data[i]);
    } else {
      out.append(kReplacement);
      Problem(std::string(s.kind == Sequence::kIncomplete ? "a UTF-8 sequence cut short by the end of the file"
                                                          : "invalid UTF-8 (octet " + Hex(p[i]) + ")") +
              ", replaced by U+FFFD; if the file comes from Excel or another Windows program, import it with "
              "--encoding windows-1250 (or iso-8859-2)");
    }
    i += s.length;
  }
}

}  // namespace kurier::audience
