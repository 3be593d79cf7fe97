// mime/build.cpp - the MIME builder behind POST /v1/messages: fields in, a complete 7-bit message out.
//
// SECURITY: every input comes from an API caller. Nothing the caller sends reaches the message unencoded
// unless it was checked first: addresses are RFC 5321 mailboxes, display names, subjects, file names and
// header values can carry no CR, LF, NUL or other control characters (no header injection), custom fields
// cannot replace the ones kurier writes, and every text is valid UTF-8 before it is encoded. Output lines
// are bounded (998 octets) whatever the input, and boundaries are checked against the encoded parts.
// STANDARDS: RFC 5322 2.1.1, 2.2.3, 3.2-3.6 (line limits, folding, phrases, quoted strings, fields),
// RFC 2045 6.7-6.8 (quoted-printable, base64), RFC 2046 5.1 (multipart, boundaries), RFC 2047 (encoded
// words; Q restricted to the phrase-safe set of 5(3)), RFC 2231 3-4 (continuations, charset), RFC 2183
// (Content-Disposition), RFC 2387 (multipart/related with its type parameter), RFC 2392 (Content-ID).
#include "mime/build.hpp"

#include <algorithm>
#include <cstring>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "mime/parse.hpp"
#include "smtp/proto/command_parser.hpp"
#include "smtp/proto/header_from.hpp"

namespace kurier::mime {

namespace {

constexpr std::size_t kFoldAt = 76;            // RFC 2047 2: lines holding encoded words stay within 76
constexpr std::size_t kMaxLine = 998;          // RFC 5322 2.1.1
constexpr std::size_t kMax7bitLine = 78;       // longer text lines go quoted-printable
constexpr std::size_t kMaxHeaderName = 76;
constexpr std::size_t kMaxHeaderValueBytes = 4096;
constexpr std::size_t kMaxIdBytes = 250;       // Message-ID and Content-ID
constexpr int64_t kMaxDate = 253402300799;  // 9999-12-31T23:59:59Z

// ---- character classes -------------------------------------------------------------------------------

bool IsAtext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 2045 5.1 token characters: printable ASCII except tspecials.
bool IsTokenChar(unsigned char c) {
  return c > 32 && c < 127 && std::string_view("()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) == std::string_view::npos;
}

// RFC 2231 7 attribute-char: token characters except '*', '\'' and '%'.
bool IsAttributeChar(unsigned char c) { return IsTokenChar(c) && c != '*' && c != '\'' && c != '%'; }

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// A problem with a piece of header text (name, subject, file name), or nullopt.
std::optional<std::string> CheckHeaderText(std::string_view s, std::size_t max_bytes, bool allow_tab) {
  if (s.size() > max_bytes) return "is longer than " + std::to_string(max_bytes) + " octets";
  for (unsigned char c : s) {
    if (c == '\r' || c == '\n') return std::string("contains a line break (CR or LF), which is not allowed here");
    if (c == 0) return std::string("contains a NUL character");
    if (IsControl(c) && !(allow_tab && c == '\t')) return std::string("contains a control character");
  }
  if (!IsValidUtf8(s)) return std::string("is not valid UTF-8");
  return std::nullopt;
}

std::string QuotedString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// ---- header folding ----------------------------------------------------------------------------------

// Writes one header field, folding (RFC 5322 2.2.3) before a chunk that would carry the line past kFoldAt.
// It never folds right after the field name, so no line is white space only.
class FieldWriter {
 public:
  explicit FieldWriter(std::string_view name) : out_(name) {
    out_ += ':';
    line_ = out_.size();
  }
  /// Room for a chunk after a space on the current line.
  std::size_t Remaining() const { return line_ + 1 >= kFoldAt ? 0 : kFoldAt - line_ - 1; }
  /// A chunk after a separating space, the space being the fold point; `glued` is the size of what will
  /// be glued right after it (a ',' or ';'), kept on the same line.
  void Word(std::string_view w, std::size_t glued = 0) {
    if (can_fold_ && line_ + 1 + w.size() + glued > kFoldAt) Break();
    out_ += ' ';
    ++line_;
    Append(w);
  }
  /// A chunk that starts with its own white space (unstructured text), folded before that white space.
  void Segment(std::string_view s) {
    if (can_fold_ && line_ + s.size() > kFoldAt) Break();
    Append(s);
  }
  /// Glued to what precedes: no fold point.
  void Glue(std::string_view s) { Append(s); }
  std::string Finish() && { return std::move(out_) + "\r\n"; }

 private:
  void Break() {
    out_ += "\r\n";
    line_ = 0;
  }
  void Append(std::string_view s) {
    out_ += s;
    line_ += s.size();
    can_fold_ = true;
  }
  std::string out_;
  std::size_t line_ = 0;
  bool can_fold_ = false;
};

// The longest run without white space in `s`.
std::size_t LongestWord(std::string_view s) {
  std::size_t best = 0, run = 0;
  for (char c : s) {
    run = (c == ' ' || c == '\t') ? 0 : run + 1;
    best = std::max(best, run);
  }
  return best;
}

// Encoded words for `text` from the writer's position: the first word uses the rest of the line only
// when that does not cost an extra word; otherwise the writer folds first. Fewer words, fewer splits.
void WriteEncoded(FieldWriter& w, std::string_view text) {
  auto words = EncodeWords(text, w.Remaining());
  auto whole_lines = EncodeWords(text, 75);
  for (const auto& word : words.size() > whole_lines.size() ? whole_lines : words) w.Word(word);
}

// Unstructured text (Subject, custom fields): kept as it is when it is ASCII, folded at its white space;
// otherwise RFC 2047 encoded words. With `encode_long`, ASCII is encoded too when it holds "=?" (which a
// reader would try to decode) or a run too long to fold within kFoldAt; a custom field is never encoded
// when ASCII, since it may be structured (List-Unsubscribe) and encoded words would break it.
void WriteUnstructured(FieldWriter& w, std::string_view text, std::size_t name_size, bool encode_long) {
  std::size_t first = 0;
  while (first < text.size() && text[first] != ' ' && text[first] != '\t') ++first;
  bool encode = !IsAscii(text) ||
                (encode_long && (text.find("=?") != std::string_view::npos || LongestWord(text) + 1 > kFoldAt ||
                                 first + name_size + 2 > kFoldAt));
  if (encode) {
    WriteEncoded(w, text);
    return;
  }
  // Segments: leading non-space run, then (white space + non-space run)*; folding inserts CRLF before a
  // segment's white space, so unfolding gives back exactly the original text.
  w.Glue(" " + std::string(text.substr(0, first)));
  for (std::size_t i = first; i < text.size();) {
    std::size_t start = i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t word = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    // Trailing white space is glued: a folded line of white space only is not allowed (RFC 5322 3.2.2).
    if (word == i) w.Glue(text.substr(start));
    else w.Segment(text.substr(start, i - start));
  }
}

// A display name as a phrase (RFC 5322 3.2.5). Plain ASCII words stay atoms, a short ASCII name with
// specials one quoted string; otherwise word by word (RFC 2047 5(3)): ASCII words as atoms or quoted
// strings, runs of words that need encoding as encoded words. Keeping ASCII words out of encoded words
// leaves few encoded words side by side, which some readers join with a space where RFC 2047 6.2 says
// none (Python's email.headerregistry before gh-128110, for one).
void WritePhrase(FieldWriter& w, std::string_view name) {
  bool ascii = IsAscii(name) && name.find("=?") == std::string_view::npos;
  bool regular_spacing = name.front() != ' ' && name.back() != ' ' && name.find("  ") == std::string_view::npos;
  bool atoms = ascii && regular_spacing;
  for (unsigned char c : name) atoms = atoms && (IsAtext(c) || c == ' ');
  std::vector<std::string_view> words;
  for (std::size_t start = 0; start < name.size();) {
    auto sp = std::min(name.find(' ', start), name.size());
    words.push_back(name.substr(start, sp - start));
    start = sp + 1;
  }
  if (ascii && !atoms && (QuotedString(name).size() + 2 < kFoldAt || !regular_spacing)) {
    w.Word(QuotedString(name));  // over 76 only when its spacing must be kept; at most 258 octets
    return;
  }
  if (!ascii && !regular_spacing) {
    WriteEncoded(w, name);
    return;
  }
  std::string run;
  auto flush = [&] {
    if (run.empty()) return;
    WriteEncoded(w, run);
    run.clear();
  };
  for (auto word : words) {
    if (!IsAscii(word) || word.find("=?") != std::string_view::npos) {
      run += (run.empty() ? "" : " ") + std::string(word);
      continue;
    }
    flush();
    bool atom = true;
    for (unsigned char c : word) atom = atom && IsAtext(c);
    w.Word(atom ? std::string(word) : QuotedString(word));  // a single word over 74 octets stays whole
  }
  flush();
}

std::string AddressListField(std::string_view field, const std::vector<Address>& list) {
  FieldWriter w(field);
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i].name.empty()) {
      w.Word(list[i].email, i + 1 < list.size());
    } else {
      WritePhrase(w, list[i].name);
      w.Word("<" + list[i].email + ">", i + 1 < list.size());
    }
    if (i + 1 < list.size()) w.Glue(",");
  }
  return std::move(w).Finish();
}

// ---- parameters (RFC 2045 5.1, RFC 2231) ---------------------------------------------------------------

struct MediaType {
  std::string type, subtype;
  std::vector<std::pair<std::string, std::string>> params;  // value unquoted
};

std::optional<MediaType> ParseMediaType(std::string_view s, std::string& error) {
  auto skip_ws = [&](std::size_t& i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  auto token = [&](std::size_t& i) {
    std::size_t start = i;
    while (i < s.size() && IsTokenChar(static_cast<unsigned char>(s[i]))) ++i;
    return std::string(s.substr(start, i - start));
  };
  MediaType ct;
  std::size_t i = 0;
  skip_ws(i);
  ct.type = ToLowerAscii(token(i));
  if (ct.type.empty() || i >= s.size() || s[i] != '/') {
    error = "is not a media type such as application/pdf";
    return std::nullopt;
  }
  ++i;
  ct.subtype = ToLowerAscii(token(i));
  if (ct.subtype.empty()) {
    error = "is not a media type such as application/pdf";
    return std::nullopt;
  }
  for (;;) {
    skip_ws(i);
    if (i == s.size()) break;
    if (s[i] != ';') {
      error = "has unexpected text after the media type (parameters are '; name=value')";
      return std::nullopt;
    }
    ++i;
    skip_ws(i);
    if (i == s.size()) break;  // a trailing ';' is tolerated
    std::string attr = ToLowerAscii(token(i));
    if (attr.empty() || i >= s.size() || s[i] != '=') {
      error = "has a malformed parameter (parameters are '; name=value')";
      return std::nullopt;
    }
    ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < s.size()) c = s[i++];
        value += c;
      }
      if (!closed) {
        error = "has an unterminated quoted parameter value";
        return std::nullopt;
      }
    } else {
      value = token(i);
      if (value.empty()) {
        error = "has a parameter without a value";
        return std::nullopt;
      }
    }
    ct.params.emplace_back(std::move(attr), std::move(value));
  }
  return ct;
}

std::string ParamValue(std::string_view v) {
  bool token = !v.empty();
  for (unsigned char c : v) token = token && IsTokenChar(c);
  return token ? std::string(v) : QuotedString(v);
}

std::string GuessContentType(std::string_view filename) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"pdf", "application/pdf"},   {"png", "image/png"},         {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},       {"gif", "image/gif"},         {"webp", "image/webp"},
      {"svg", "image/svg+xml"},     {"txt", "text/plain"},        {"csv", "text/csv"},
      {"htm", "text/html"},         {"html", "text/html"},        {"ics", "text/calendar"},
      {"json", "application/json"}, {"xml", "application/xml"},   {"zip", "application/zip"},
      {"gz", "application/gzip"},   {"doc", "application/msword"}, {"xls", "application/vnd.ms-excel"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
  };
  auto dot = filename.rfind('.');
  if (dot != std::string_view::npos) {
    std::string ext = ToLowerAscii(filename.substr(dot + 1));
    for (const auto& [e, t] : kTypes)
      if (e == ext) return std::string(t);
  }
  return "application/octet-stream";
}

// RFC 2231 parameter `attr` for a UTF-8 value: one "attr*=utf-8''..." when it fits a line, otherwise
// continuations "attr*0*=utf-8''...", "attr*1*=...", each within kFoldAt after its leading space and
// trailing ';', cut only between characters.
std::vector<std::string> Rfc2231Param(std::string_view attr, std::string_view value) {
  std::vector<std::string> pieces;  // one percent-encoded piece per character
  for (std::size_t i = 0; i < value.size();) {
    std::size_t n = std::max<std::size_t>(1, Utf8SequenceLength(value, i));
    std::string piece;
    for (std::size_t k = i; k < i + n && k < value.size(); ++k) {
      auto c = static_cast<unsigned char>(value[k]);
      if (IsAttributeChar(c)) piece += static_cast<char>(c);
      else AppendHex(piece, '%', c);
    }
    pieces.push_back(std::move(piece));
    i += n;
  }
  std::string whole;
  for (const auto& p : pieces) whole += p;
  std::string single = std::string(attr) + "*=utf-8''" + whole;
  if (single.size() + 2 <= kFoldAt) return {single};
  std::vector<std::string> out;
  std::string current;
  auto head = [&](std::size_t index) {
    return std::string(attr) + "*" + std::to_string(index) + "*=" + (index == 0 ? "utf-8''" : "");
  };
  for (const auto& p : pieces) {
    if (!current.empty() && head(out.size()).size() + current.size() + p.size() + 2 > kFoldAt) {
      out.push_back(head(out.size()) + current);
      current.clear();
    }
    current += p;
  }
  if (!current.empty()) out.push_back(head(out.size()) + current);
  return out;
}

// ---- parts -------------------------------------------------------------------------------------------

struct Part {
  std::vector<std::string> headers;  // complete field lines, CRLF included; for a multipart filled in later
  std::string body;                  // encoded
  std::string multipart;             // subtype when this is a multipart ("mixed", "alternative", "related")
  std::string related_type;          // RFC 2387 type parameter
  bool base64 = false;               // the body's final CRLF only ends its last line
  std::vector<Part> children;
};

bool Fits7bit(std::string_view crlf_text) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < crlf_text.size(); ++i) {
    auto c = static_cast<unsigned char>(crlf_text[i]);
    if (c == '\r' && i + 1 < crlf_text.size() && crlf_text[i + 1] == '\n') {
      ++i;
      line = 0;
      continue;
    }
    if ((IsControl(c) && c != '\t') || c >= 0x80) return false;
    if (++line > kMax7bitLine) return false;
  }
  return true;
}

std::size_t Base64LinesSize(std::size_t n) {
  std::size_t chars = (n + 2) / 3 * 4;
  return chars + (chars + 75) / 76 * 2;
}

Part TextPart(std::string_view subtype, std::string_view text) {
  std::string canonical = NormalizeLineEndings(text);
  Part p;
  p.headers.push_back("Content-Type: text/" + std::string(subtype) + "; charset=utf-8\r\n");
  if (Fits7bit(canonical)) {
    p.headers.push_back("Content-Transfer-Encoding: 7bit\r\n");
    p.body = std::move(canonical);
    return p;
  }
  std::string qp = EncodeQuotedPrintable(canonical);
  // Mostly non-Latin text is a third of the size in base64; quoted-printable stays readable otherwise, and
  // is kept unless base64 saves a fifth.
  if (Base64LinesSize(canonical.size()) * 5 < qp.size() * 4) {
    p.headers.push_back("Content-Transfer-Encoding: base64\r\n");
    p.body = EncodeBase64Lines(canonical);
    p.base64 = true;
  } else {
    p.headers.push_back("Content-Transfer-Encoding: quoted-printable\r\n");
    p.body = std::move(qp);
  }
  return p;
}

std::string StripAngles(std::string_view id) {
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  return std::string(id);
}

Part AttachmentPart(const Attachment& a, bool is_inline) {
  Part p;
  std::string err;
  auto ct = a.content_type.empty() ? ParseMediaType(GuessContentType(a.filename), err)
                                   : ParseMediaType(a.content_type, err);  // validated before
  bool ascii_name = IsAscii(a.filename);
  auto write = [&](std::string_view field, const std::vector<std::string>& items) {
    FieldWriter w(field);
    for (std::size_t i = 0; i < items.size(); ++i) {
      w.Word(items[i], i + 1 < items.size());
      if (i + 1 < items.size()) w.Glue(";");
    }
    p.headers.push_back(std::move(w).Finish());
  };
  std::vector<std::string> type_items{ct->type + "/" + ct->subtype};
  for (const auto& [k, v] : ct->params) type_items.push_back(k + "=" + ParamValue(v));
  // name= is for readers that ignore Content-Disposition; for a non-ASCII name it holds RFC 2047 words,
  // which RFC 2047 5 does not allow in a quoted string but Outlook, Gmail and Python read. It stays on one
  // line: some parsers keep a fold inside a quoted string.
  std::string words;
  if (!ascii_name)
    for (const auto& word : EncodeWords(a.filename)) words += (words.empty() ? "" : " ") + word;
  type_items.push_back("name=" + (ascii_name ? QuotedString(a.filename) : "\"" + words + "\""));
  write("Content-Type", type_items);
  // A non-ASCII name gets RFC 2231 only: next to a plain filename= fallback, readers such as Python's
  // email package pick the fallback.
  std::vector<std::string> disposition{is_inline ? "inline" : "attachment"};
  if (ascii_name) {
    disposition.push_back("filename=" + QuotedString(a.filename));
  } else {
    for (auto& piece : Rfc2231Param("filename", a.filename)) disposition.push_back(std::move(piece));
  }
  write("Content-Disposition", disposition);
  if (!a.content_id.empty()) p.headers.push_back("Content-ID: <" + StripAngles(a.content_id) + ">\r\n");
  p.headers.push_back("Content-Transfer-Encoding: base64\r\n");
  p.body = EncodeBase64Lines(a.content);
  p.base64 = true;
  return p;
}

Part Multipart(std::string subtype, std::vector<Part> children, std::string related_type = {}) {
  Part p;
  p.multipart = std::move(subtype);
  p.children = std::move(children);
  p.related_type = std::move(related_type);
  return p;
}

// Serialises a part's body; for a multipart, chooses its boundary and fills in its Content-Type.
void Serialize(Part& p) {
  if (p.multipart.empty()) return;
  std::vector<std::string> children;
  for (auto& c : p.children) {
    Serialize(c);
    std::string s;
    for (const auto& h : c.headers) s += h;
    s += "\r\n";
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1), so base64's last line break
    // is dropped here; the blank line after the headers stays even when the body is empty.
    std::string_view body = c.body;
    if (c.base64 && body.ends_with("\r\n")) body.remove_suffix(2);
    s += body;
    children.push_back(std::move(s));
  }
  // "=_" cannot occur in quoted-printable or base64 output; 7bit text and nested parts are checked.
  std::string boundary;
  for (;;) {
    boundary = "=_" + RandomToken(18);
    bool clash = false;
    for (const auto& c : children) clash = clash || c.find("--" + boundary) != std::string::npos;
    if (!clash) break;
  }
  FieldWriter w("Content-Type");
  w.Word("multipart/" + p.multipart, 1);
  if (!p.related_type.empty()) {
    w.Glue(";");
    w.Word("type=\"" + p.related_type + "\"", 1);
  }
  w.Glue(";");
  w.Word("boundary=\"" + boundary + "\"");
  p.headers = {std::move(w).Finish()};
  p.body.clear();
  for (const auto& c : children) p.body += "--" + boundary + "\r\n" + c + "\r\n";
  p.body += "--" + boundary + "--\r\n";
}

std::string DomainOf(std::string_view email) {
  auto at = email.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(email.substr(at + 1));
}

std::optional<std::string> CheckId(std::string_view id, bool need_at) {
  std::string bare = StripAngles(id);
  if (bare.empty()) return std::string("is empty");
  if (bare.size() > kMaxIdBytes) return "is longer than " + std::to_string(kMaxIdBytes) + " octets";
  for (unsigned char c : bare)
    if (!IsAtext(c) && c != '.' && c != '@')
      return std::string("may hold only letters, digits, '.', '@' and !#$%&'*+-/=?^_`{|}~");
  auto at = bare.find('@');
  if (need_at && (at == std::string::npos || at == 0 || at + 1 == bare.size() || bare.find('@', at + 1) != std::string::npos))
    return std::string("must look like id@domain");
  return std::nullopt;
}

void CheckAddressList(std::vector<Problem>& out, std::string_view field, const std::vector<Address>& list) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string base = "/" + std::string(field) + "/" + std::to_string(i);
    if (auto p = ValidateAddress(list[i].email)) out.push_back({base + "/email", "address " + *p});
    if (auto p = ValidateDisplayName(list[i].name)) out.push_back({base + "/name", "name " + *p});
  }
}

}  // namespace

// ---- validation --------------------------------------------------------------------------------------

std::optional<std::string> ValidateAddress(std::string_view email) {
  if (email.empty()) return std::string("is empty: give an address such as user@example.com");
  if (email.size() > 254) return std::string("is longer than 254 octets");
  for (unsigned char c : email)
    if (c == '\r' || c == '\n' || c == 0 || IsControl(c)) return std::string("contains a control character (CR, LF, NUL, ...)");
  if (!IsAscii(email))
    return std::string("is not ASCII: internationalised addresses are not supported here; write the domain in "
                       "its xn-- form");
  std::string error;
  if (!smtp::proto::ParseMailbox(email, error)) return "is not a valid address (" + error + "): write user@example.com";
  return std::nullopt;
}

std::optional<Address> ParseAddressText(std::string_view text, std::string& error) {
  error.clear();
  if (text.find('<') == std::string_view::npos) return Address{std::string(text), ""};
  auto list = smtp::proto::ParseAddressList(text);
  if (!list.error.empty() || list.addresses.size() != 1 || list.groups != 0) {
    error = list.error;
    return std::nullopt;
  }
  const auto& m = list.addresses.front();
  return Address{m.local + "@" + m.domain, DecodeEncodedWords(m.display)};
}

std::optional<std::string> ValidateDisplayName(std::string_view name) {
  return CheckHeaderText(name, kMaxNameBytes, false);
}

bool IsReservedHeader(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "From",   "To",          "Cc",       "Bcc",           "Subject",        "Date",
      "Sender", "Reply-To",    "Message-ID", "MIME-Version", "Return-Path",  "Received",
      "DKIM-Signature", "Authentication-Results"};
  for (auto r : kReserved)
    if (IEquals(name, r)) return true;
  return IStartsWith(name, "Content-") || IStartsWith(name, "ARC-") || IStartsWith(name, "X-Kurier-");
}

std::optional<std::string> ValidateCustomHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return std::string("header name is empty");
  if (name.size() > kMaxHeaderName) return "header name is longer than " + std::to_string(kMaxHeaderName) + " octets";
  for (unsigned char c : name)
    if (c <= 32 || c >= 127 || c == ':')
      return std::string("header name may hold only printable ASCII without ':' or space (RFC 5322 ftext)");
  if (IsReservedHeader(name))
    return "header " + std::string(name) + " is set by kurier from the message fields and cannot be given in headers";
  if (value.size() > kMaxHeaderValueBytes)
    return "value of " + std::string(name) + " is longer than " + std::to_string(kMaxHeaderValueBytes) + " octets";
  for (unsigned char c : value) {
    if (c == '\r' || c == '\n') return "value of " + std::string(name) + " contains a line break (CR or LF)";
    if (c == 0) return "value of " + std::string(name) + " contains a NUL character";
    if (IsControl(c) && c != '\t') return "value of " + std::string(name) + " contains a control character";
  }
  if (!IsValidUtf8(value)) return "value of " + std::string(name) + " is not valid UTF-8";
  if (IsAscii(value) && name.size() + 2 + LongestWord(value) > kMaxLine)
    return "value of " + std::string(name) + " has a run without spaces too long for a 998-octet line";
  return std::nullopt;
}

std::vector<Problem> ValidateMessageSpec(const MessageSpec& spec) {
  std::vector<Problem> out;
  if (auto p = ValidateAddress(spec.from.email)) out.push_back({"/from/email", "address " + *p});
  if (auto p = ValidateDisplayName(spec.from.name)) out.push_back({"/from/name", "name " + *p});
  CheckAddressList(out, "to", spec.to);
  CheckAddressList(out, "cc", spec.cc);
  CheckAddressList(out, "bcc", spec.bcc);
  CheckAddressList(out, "reply_to", spec.reply_to);
  if (spec.to.empty() && spec.cc.empty() && spec.bcc.empty())
    out.push_back({"/to", "no recipient: give at least one address in to, cc or bcc"});
  if (auto p = CheckHeaderText(spec.subject, kMaxSubjectBytes, true)) out.push_back({"/subject", "subject " + *p});
  if (!IsValidUtf8(spec.text)) out.push_back({"/text", "text is not valid UTF-8"});
  if (!IsValidUtf8(spec.html)) out.push_back({"/html", "html is not valid UTF-8"});
  if (spec.text.empty() && spec.html.empty() && spec.attachments.empty())
    out.push_back({"/text", "the message is empty: give text, html or an attachment"});
  for (const auto& [name, value] : spec.headers)
    if (auto p = ValidateCustomHeader(name, value)) out.push_back({"/headers/" + JsonPointerToken(name), *p});
  std::vector<std::string> content_ids;
  for (std::size_t i = 0; i < spec.attachments.size(); ++i) {
    const auto& a = spec.attachments[i];
    std::string base = "/attachments/" + std::to_string(i);
    if (a.filename.empty()) {
      out.push_back({base + "/filename", "filename is empty: every attachment needs a file name"});
    } else if (auto p = CheckHeaderText(a.filename, kMaxFilenameBytes, false)) {
      out.push_back({base + "/filename", "filename " + *p});
    }
    if (!a.content_type.empty()) {
      std::string error;
      auto ct = ParseMediaType(a.content_type, error);
      if (!ct) {
        out.push_back({base + "/content_type", "content_type " + error});
      } else if (ct->type == "multipart" || ct->type == "message") {
        out.push_back({base + "/content_type", "content_type " + ct->type +
                                                   "/* cannot be sent base64-encoded (RFC 2046): attach it as "
                                                   "application/octet-stream"});
      } else if (std::any_of(ct->params.begin(), ct->params.end(), [](const auto& kv) {
                   return kv.first == "name" || kv.first == "boundary" || kv.first.find('*') != std::string::npos;
                 })) {
        out.push_back({base + "/content_type", "content_type must not carry name, boundary or RFC 2231 parameters: "
                                               "the file name comes from filename"});
      } else if (std::any_of(ct->params.begin(), ct->params.end(), [](const auto& kv) {
                   return CheckHeaderText(kv.second, 200, false).has_value() || !IsAscii(kv.second);
                 })) {
        out.push_back({base + "/content_type", "content_type has a parameter value that is not printable ASCII"});
      }
    }
    if (!a.content_id.empty()) {
      if (auto p = CheckId(a.content_id, false)) {
        out.push_back({base + "/content_id", "content_id " + *p});
      } else {
        std::string bare = StripAngles(a.content_id);
        if (std::find(content_ids.begin(), content_ids.end(), bare) != content_ids.end())
          out.push_back({base + "/content_id", "content_id " + bare + " is used by an earlier attachment"});
        content_ids.push_back(bare);
      }
    }
  }
  if (spec.date < 0 || spec.date > kMaxDate) out.push_back({"/date", "date is outside years 1970-9999"});
  if (!spec.message_id.empty()) {
    if (auto p = CheckId(spec.message_id, true)) out.push_back({"/message_id", "message_id " + *p});
  } else if (!spec.message_id_domain.empty() &&
             (!IsAscii(spec.message_id_domain) || !smtp::proto::IsValidDomain(spec.message_id_domain))) {
    out.push_back({"/message_id_domain", "message_id_domain is not a valid ASCII domain name"});
  }
  return out;
}

// ---- the message -------------------------------------------------------------------------------------

Result<std::string> BuildMessage(const MessageSpec& spec) {
  auto problems = ValidateMessageSpec(spec);
  if (!problems.empty()) {
    std::string msg = "invalid message: ";
    for (std::size_t i = 0; i < problems.size() && i < 3; ++i)
      msg += (i ? "; " : "") + problems[i].pointer + ": " + problems[i].detail;
    if (problems.size() > 3) msg += "; and " + std::to_string(problems.size() - 3) + " more";
    return MakeError(ErrorCode::kInvalidArgument, msg);
  }

  // Body tree.
  std::vector<Part> inline_parts, attached;
  for (const auto& a : spec.attachments) {
    bool is_inline = !a.content_id.empty();
    if (is_inline && !spec.html.empty()) inline_parts.push_back(AttachmentPart(a, true));
    else attached.push_back(AttachmentPart(a, is_inline));
  }
  std::optional<Part> body;
  std::optional<Part> html;
  if (!spec.html.empty()) {
    html = TextPart("html", spec.html);
    if (!inline_parts.empty()) {
      std::vector<Part> related{std::move(*html)};
      for (auto& p : inline_parts) related.push_back(std::move(p));
      html = Multipart("related", std::move(related), "text/html");
    }
  }
  if (!spec.text.empty() && html) {
    body = Multipart("alternative", {TextPart("plain", spec.text), std::move(*html)});
  } else if (!spec.text.empty()) {
    body = TextPart("plain", spec.text);
  } else if (html) {
    body = std::move(*html);
  }
  if (!attached.empty()) {
    std::vector<Part> mixed;
    if (body) mixed.push_back(std::move(*body));
    for (auto& p : attached) mixed.push_back(std::move(p));
    body = Multipart("mixed", std::move(mixed));
  }
  Serialize(*body);

  // Header section.
  std::string m;
  m += "Date: " + FormatRfc5322Date(spec.date > 0 ? spec.date * 1000000 : NowMicros()) + "\r\n";
  m += AddressListField("From", {spec.from});
  if (!spec.reply_to.empty()) m += AddressListField("Reply-To", spec.reply_to);
  if (!spec.to.empty()) m += AddressListField("To", spec.to);
  if (!spec.cc.empty()) m += AddressListField("Cc", spec.cc);
  if (!spec.subject.empty()) {
    FieldWriter w("Subject");
    WriteUnstructured(w, spec.subject, 7, true);
    m += std::move(w).Finish();
  }
  std::string id = spec.message_id.empty()
                       ? RandomToken(15) + "@" + (spec.message_id_domain.empty() ? DomainOf(spec.from.email)
                                                                                 : spec.message_id_domain)
                       : StripAngles(spec.message_id);
  m += "Message-ID: <" + id + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  for (const auto& [name, value] : spec.headers) {
    FieldWriter w(name);
    WriteUnstructured(w, value, name.size(), false);
    m += std::move(w).Finish();
  }
  for (const auto& h : body->headers) m += h;
  m += "\r\n";
  m += body->body;
  if (m.size() < 2 || m.compare(m.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  return m;
}

}  // namespace kurier::mime
