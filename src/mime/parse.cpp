// parse.cpp - the bounded MIME reader used on mail that comes back from other systems (bounces, ARF
// reports, auto-replies).
// SECURITY: the input is whatever a remote mail system (or an attacker posing as one) sent to the bounce
// listener. Nothing here trusts it: the input is cut at Limits::max_input, nesting stops at max_depth
// (deeper entities stay undecoded leaves), the tree holds at most max_parts entities and each header
// block at most max_fields fields. Decoders never read past their input and skip what they cannot
// decode; nothing throws on malformed data. Charset conversion goes through iconv with an output bound.
// STANDARDS: RFC 5322 (fields, folding), RFC 2045 (Content-Type, Content-Transfer-Encoding, base64,
// quoted-printable), RFC 2046 (multipart boundaries, message/rfc822, multipart/digest default),
// RFC 2047 (encoded words), RFC 2231 (parameter continuations), RFC 6532 (message/global).
#include "mime/parse.hpp"

#include <iconv.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/encoding.hpp"

namespace kurier::mime {

namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimWsp(std::string_view s) {
  while (!s.empty() && (IsWsp(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (IsWsp(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Returns the line starting at `pos` without its line end, and moves `pos` past the line end.
std::string_view NextLine(std::string_view text, std::size_t& pos) {
  std::size_t end = text.find('\n', pos);
  std::string_view line;
  if (end == std::string_view::npos) {
    line = text.substr(pos);
    pos = text.size();
  } else {
    line = text.substr(pos, end - pos);
    pos = end + 1;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Removes RFC 5322 comments (outside quoted strings) from a structured field value.
std::string StripComments(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted) {
      out += c;
      if (c == '\\' && i + 1 < v.size()) out += v[++i];
      else if (c == '"') quoted = false;
    } else if (depth > 0) {
      if (c == '\\' && i + 1 < v.size()) ++i;
      else if (c == '(') ++depth;
      else if (c == ')') --depth;
    } else if (c == '(') {
      depth = 1;
    } else {
      if (c == '"') quoted = true;
      out += c;
    }
  }
  return out;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct ParseState {
  const Limits& limits;
  std::size_t parts = 0;
};

// Splits a multipart body at its delimiter lines. Lines that start with "--boundary" and continue with
// nothing but white space (or "--" for the close delimiter) delimit parts; a missing close delimiter
// leaves the last part running to the end of the body.
std::vector<std::string_view> SplitMultipart(std::string_view body, std::string_view boundary, std::size_t max) {
  std::vector<std::string_view> parts;
  std::string delimiter = "--" + std::string(boundary);
  std::size_t pos = 0;
  std::size_t part_start = std::string_view::npos;
  while (pos < body.size()) {
    std::size_t line_start = pos;
    std::string_view line = NextLine(body, pos);
    if (line.size() < delimiter.size() || line.compare(0, delimiter.size(), delimiter) != 0) continue;
    std::string_view rest = line.substr(delimiter.size());
    bool close = rest.substr(0, 2) == "--";
    if (close) rest.remove_prefix(2);
    if (!TrimWsp(rest).empty()) continue;
    if (part_start != std::string_view::npos) {
      // The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
      std::size_t end = line_start;
      if (end > part_start && body[end - 1] == '\n') --end;
      if (end > part_start && body[end - 1] == '\r') --end;
      parts.push_back(body.substr(part_start, end - part_start));
      if (parts.size() >= max) return parts;
    }
    if (close) return parts;
    part_start = pos;
  }
  if (part_start != std::string_view::npos && part_start < body.size()) parts.push_back(body.substr(part_start));
  return parts;
}

// A multipart entity whose Content-Type lost its boundary parameter: take the first "--token" line that
// occurs at least twice in the body.
std::string_view GuessBoundary(std::string_view body) {
  std::size_t pos = 0;
  int candidates = 0;
  for (int lines = 0; pos < body.size() && lines < 200 && candidates < 8; ++lines) {
    std::string_view line = NextLine(body, pos);
    if (line.size() < 4 || line.substr(0, 2) != "--" || line.size() > 72) continue;
    std::string_view token = TrimWsp(line.substr(2));
    if (token.empty() || token.find(' ') != std::string_view::npos) continue;
    ++candidates;
    std::string again = "\n--" + std::string(token);
    if (body.find(again, pos > 0 ? pos - 1 : 0) != std::string_view::npos) return token;
  }
  return {};
}

Entity ParseEntity(std::string_view raw, int depth, const ContentType& default_type, ParseState& state) {
  ++state.parts;
  Entity entity;
  auto [head, body] = SplitHeaderBody(raw);
  entity.headers = ParseHeaders(head, state.limits.max_fields);
  auto ct = entity.headers.Get("Content-Type");
  entity.content_type = ct ? ParseContentType(*ct) : default_type;
  std::string_view cte = entity.headers.Get("Content-Transfer-Encoding").value_or("");
  const bool can_descend = depth < state.limits.max_depth && state.parts < state.limits.max_parts;

  if (entity.IsMultipart() && can_descend) {
    std::string_view boundary = entity.content_type.Param("boundary");
    if (boundary.empty()) boundary = GuessBoundary(body);
    if (!boundary.empty()) {
      ContentType child_default;
      if (entity.content_type.subtype == "digest") child_default = ParseContentType("message/rfc822");
      std::size_t room = state.limits.max_parts - state.parts;
      for (std::string_view part : SplitMultipart(body, boundary, room)) {
        if (state.parts >= state.limits.max_parts) break;
        entity.parts.push_back(ParseEntity(part, depth + 1, child_default, state));
      }
    }
    // A multipart without a usable boundary (or without any part) is kept as text, so that a reader can
    // still look at what it says.
    if (entity.parts.empty()) entity.body = DecodeTransferEncoding(body, cte);
    return entity;
  }
  const std::string mime_type = entity.content_type.MimeType();
  if ((mime_type == "message/rfc822" || mime_type == "message/global") && can_descend) {
    // Some systems base64-encode the returned message although RFC 2046 5.2.1 forbids it.
    std::string decoded = DecodeTransferEncoding(body, cte);
    entity.parts.push_back(ParseEntity(decoded, depth + 1, ContentType{}, state));
    return entity;
  }
  entity.body = DecodeTransferEncoding(body, cte);
  return entity;
}

void FlattenInto(const Entity& e, std::vector<const Entity*>& out) {
  out.push_back(&e);
  for (const Entity& child : e.parts) FlattenInto(child, out);
}

std::string NormaliseCharset(std::string_view charset) {
  std::string cs = ToLowerAscii(TrimWsp(charset));
  if (auto star = cs.find('*'); star != std::string::npos) cs.resize(star);  // RFC 2231 language suffix
  if (cs == "ks_c_5601-1987") return "cp949";
  if (cs == "x-sjis" || cs == "shift-jis") return "shift_jis";
  if (cs == "x-euc-jp") return "euc-jp";
  return cs;
}

}  // namespace

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const Field& f : fields_)
    if (IEquals(f.name, name)) return std::string_view(f.value);
  return std::nullopt;
}

std::vector<std::string_view> Headers::GetAll(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const Field& f : fields_)
    if (IEquals(f.name, name)) out.emplace_back(f.value);
  return out;
}

std::string_view ContentType::Param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

std::pair<std::string_view, std::string_view> SplitHeaderBody(std::string_view raw) {
  std::size_t pos = 0;
  while (pos < raw.size()) {
    std::size_t line_start = pos;
    std::string_view line = NextLine(raw, pos);
    if (line.empty()) return {raw.substr(0, line_start), raw.substr(pos)};
  }
  return {raw, {}};
}

Headers ParseHeaders(std::string_view block, std::size_t max_fields) {
  Headers headers;
  std::string name, value;
  bool have = false;
  auto flush = [&] {
    if (have && headers.fields().size() < max_fields) headers.Add(std::move(name), std::string(TrimWsp(value)));
    name.clear();
    value.clear();
    have = false;
  };
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::string_view line = NextLine(block, pos);
    if (!line.empty() && IsWsp(line.front())) {
      if (have) value.append(line);  // unfolding keeps the white space, drops the line break
      continue;
    }
    flush();
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;  // "From " mbox line or damage
    std::string_view n = line.substr(0, colon);
    while (!n.empty() && IsWsp(n.back())) n.remove_suffix(1);  // tolerate "Name :"
    bool valid = !n.empty() && n.size() <= 256;
    for (char c : n)
      if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 127) valid = false;
    if (!valid) continue;
    name.assign(n);
    value.assign(line.substr(colon + 1));
    have = true;
  }
  flush();
  return headers;
}

ContentType ParseContentType(std::string_view raw_value) {
  ContentType ct;
  std::string value = StripComments(raw_value);
  std::string_view v = value;
  std::size_t semi = v.find(';');
  std::string_view mime = TrimWsp(v.substr(0, semi));
  std::size_t slash = mime.find('/');
  if (slash != std::string_view::npos && slash > 0 && slash + 1 < mime.size()) {
    std::string type = ToLowerAscii(TrimWsp(mime.substr(0, slash)));
    std::string subtype = ToLowerAscii(TrimWsp(mime.substr(slash + 1)));
    bool ok = !type.empty() && !subtype.empty();
    for (char c : type + subtype)
      if (IsWsp(c) || c == '"') ok = false;
    if (ok) {
      ct.type = std::move(type);
      ct.subtype = std::move(subtype);
    }
  }
  if (semi == std::string_view::npos) return ct;

  // Parameters: name=value or name="quoted value", separated by ';'. RFC 2231 sections (name*0, name*1*)
  // are collected and joined in order below.
  struct Section {
    std::string name;
    int index;
    bool extended;
    std::string value;
  };
  std::vector<Section> sections;
  std::size_t i = semi + 1;
  while (i < v.size() && sections.size() < 64) {
    while (i < v.size() && (IsWsp(v[i]) || v[i] == ';' || v[i] == '\r' || v[i] == '\n')) ++i;
    std::size_t eq = v.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string pname = ToLowerAscii(TrimWsp(v.substr(i, eq - i)));
    i = eq + 1;
    while (i < v.size() && IsWsp(v[i])) ++i;
    std::string pvalue;
    if (i < v.size() && v[i] == '"') {
      ++i;
      while (i < v.size() && v[i] != '"') {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        pvalue += v[i++];
      }
      if (i < v.size()) ++i;  // closing quote
      while (i < v.size() && v[i] != ';') ++i;
    } else {
      std::size_t end = v.find(';', i);
      if (end == std::string_view::npos) end = v.size();
      pvalue = std::string(TrimWsp(v.substr(i, end - i)));
      i = end;
    }
    if (pname.empty() || pname.find_first_of(" \t\"") != std::string::npos) continue;
    Section s{pname, -1, false, std::move(pvalue)};
    if (!s.name.empty() && s.name.back() == '*') {
      s.extended = true;
      s.name.pop_back();
    }
    if (auto star = s.name.find('*'); star != std::string::npos) {
      std::string_view idx = std::string_view(s.name).substr(star + 1);
      int n = 0;
      bool digits = !idx.empty() && idx.size() <= 3;
      for (char c : idx) {
        if (c < '0' || c > '9') digits = false;
        else n = n * 10 + (c - '0');
      }
      if (digits) {
        s.index = n;
        s.name.resize(star);
      }
    }
    sections.push_back(std::move(s));
  }
  for (const Section& s : sections) {
    bool seen = false;
    for (const auto& [k, unused] : ct.params) seen = seen || k == s.name;
    if (seen) continue;
    if (s.index < 0) {
      std::string val = s.value;
      if (s.extended) {
        // charset'language'percent-encoded
        std::size_t q2 = std::string::npos;
        if (auto q1 = val.find('\''); q1 != std::string::npos) q2 = val.find('\'', q1 + 1);
        val = PercentDecode(q2 == std::string::npos ? std::string_view(val) : std::string_view(val).substr(q2 + 1));
      }
      ct.params.emplace_back(s.name, std::move(val));
      continue;
    }
    std::string joined;
    for (int n = 0; n < 100; ++n) {
      const Section* found = nullptr;
      for (const Section& t : sections)
        if (t.name == s.name && t.index == n) found = &t;
      if (!found) break;
      std::string_view piece = found->value;
      if (found->extended) {
        if (n == 0) {
          std::size_t q1 = piece.find('\'');
          std::size_t q2 = q1 == std::string_view::npos ? q1 : piece.find('\'', q1 + 1);
          if (q2 != std::string_view::npos) piece.remove_prefix(q2 + 1);
        }
        joined += PercentDecode(piece);
      } else {
        joined += piece;
      }
    }
    ct.params.emplace_back(s.name, std::move(joined));
  }
  return ct;
}

std::string DecodeBase64(std::string_view text) {
  static constexpr auto kTable = [] {
    std::array<signed char, 256> t{};
    for (auto& x : t) x = -1;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    t['-'] = 62;  // base64url, seen in the wild
    t['_'] = 63;
    return t;
  }();
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  unsigned int acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') {
      // Padding ends a base64 unit; some writers concatenate encoded blocks, so keep going after it.
      acc = 0;
      bits = 0;
      continue;
    }
    int v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<unsigned int>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string DecodeQuotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '=') {
      out += c;
      continue;
    }
    // Soft line break: "=" followed by optional white space and the line end.
    std::size_t j = i + 1;
    while (j < text.size() && IsWsp(text[j])) ++j;
    if (j < text.size() && (text[j] == '\n' || (text[j] == '\r' && j + 1 < text.size() && text[j + 1] == '\n'))) {
      i = text[j] == '\r' ? j + 1 : j;
      continue;
    }
    if (j == text.size()) break;  // "=" at the very end
    if (i + 2 < text.size() && HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
      continue;
    }
    out += c;  // malformed escape: keep it as written (RFC 2045 6.7 note 1)
  }
  return out;
}

std::string DecodeTransferEncoding(std::string_view body, std::string_view encoding) {
  std::string enc = ToLowerAscii(TrimWsp(encoding));
  if (enc == "base64") return DecodeBase64(body);
  if (enc == "quoted-printable") return DecodeQuotedPrintable(body);
  return std::string(body);
}

std::optional<std::string> ToUtf8(std::string_view text, std::string_view charset) {
  std::string cs = NormaliseCharset(charset);
  if (cs.empty() || cs == "us-ascii" || cs == "ascii" || cs == "utf-8" || cs == "utf8") return std::string(text);
  if (cs.size() > 40) return std::nullopt;
  for (char c : cs)  // charset names only; never let arbitrary bytes reach iconv_open
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return std::nullopt;
  iconv_t cd = iconv_open("UTF-8", cs.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  std::string out;
  const std::size_t bound = text.size() * 4 + 16;  // no charset needs more than 4 UTF-8 octets per input octet
  out.resize(bound);
  char* in_ptr = const_cast<char*>(text.data());  // iconv's signature is not const-correct; it does not write
  std::size_t in_left = text.size();
  char* out_ptr = out.data();
  std::size_t out_left = out.size();
  while (in_left > 0) {
    std::size_t r = iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left);
    if (r != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG || out_left < 4) break;
    // An invalid or truncated sequence: mark it and skip one octet.
    *out_ptr++ = '?';
    --out_left;
    ++in_ptr;
    --in_left;
  }
  iconv(cd, nullptr, nullptr, &out_ptr, &out_left);  // flush shift state (ISO-2022-*)
  iconv_close(cd);
  out.resize(bound - out_left);
  return out;
}

std::string DecodeEncodedWords(std::string_view value) {
  std::string out;
  std::string pending;          // decoded octets of adjacent encoded words in one charset
  std::string pending_charset;  // their charset
  std::string pending_raw;      // the words as written, used when the charset cannot be converted
  std::string gap;              // white space seen since the last token
  bool after_word = false;      // the last token was an encoded word
  auto flush = [&] {
    if (pending_charset.empty()) return;
    if (auto utf8 = ToUtf8(pending, pending_charset)) out += *utf8;
    else out += pending_raw;
    pending.clear();
    pending_charset.clear();
    pending_raw.clear();
  };
  std::size_t i = 0;
  while (i < value.size()) {
    if (value.compare(i, 2, "=?") == 0) {
      // =?charset?X?text?=
      std::size_t q1 = value.find('?', i + 2);
      std::size_t q2 = q1 == std::string_view::npos ? q1 : value.find('?', q1 + 1);
      std::size_t end = q2 == std::string_view::npos ? q2 : value.find("?=", q2 + 1);
      if (end != std::string_view::npos && q2 == q1 + 2 && q1 - i - 2 <= 64) {
        std::string charset = NormaliseCharset(value.substr(i + 2, q1 - i - 2));
        char scheme = static_cast<char>(value[q1 + 1] | 0x20);
        std::string_view payload = value.substr(q2 + 1, end - q2 - 1);
        if ((scheme == 'b' || scheme == 'q') && !charset.empty() && payload.find(' ') == std::string_view::npos) {
          std::string decoded;
          if (scheme == 'b') {
            decoded = DecodeBase64(payload);
          } else {
            std::string underscores(payload);
            for (char& c : underscores)
              if (c == '_') c = ' ';
            decoded = DecodeQuotedPrintable(underscores);
          }
          if (charset != pending_charset) flush();
          if (!after_word) out += gap;  // white space between two encoded words is dropped, not before one
          gap.clear();
          pending_charset = charset;
          pending += decoded;
          pending_raw += std::string(value.substr(i, end + 2 - i));
          after_word = true;
          i = end + 2;
          continue;
        }
      }
    }
    char c = value[i];
    if (IsWsp(c) || c == '\r' || c == '\n') {
      gap += c == '\r' || c == '\n' ? ' ' : c;
      ++i;
      continue;
    }
    flush();
    out += gap;
    gap.clear();
    out += c;
    after_word = false;
    ++i;
  }
  flush();
  out += gap;
  return out;
}

Entity Parse(std::string_view raw, const Limits& limits) {
  if (raw.size() > limits.max_input) raw = raw.substr(0, limits.max_input);
  if (raw.substr(0, 5) == "From ") {
    std::size_t pos = 0;
    (void)NextLine(raw, pos);
    raw.remove_prefix(pos);
  }
  ParseState state{limits};
  return ParseEntity(raw, 0, ContentType{}, state);
}

std::vector<const Entity*> Flatten(const Entity& root) {
  std::vector<const Entity*> out;
  FlattenInto(root, out);
  return out;
}

}  // namespace kurier::mime
