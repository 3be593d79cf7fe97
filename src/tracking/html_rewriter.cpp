// html_rewriter.cpp - click-tracking link rewriting and the open pixel, over a byte-exact HTML scanner.
// SECURITY: the HTML comes from the API caller (the sender), not from the Internet, but it is large and
// may be malformed on purpose or by accident. The scanner is one forward pass with no recursion and no
// backtracking (each byte is looked at a bounded number of times), keeps every byte it does not
// replace, and gives up rewriting (copying the rest unchanged) at a tag, comment or raw-text element
// that does not end, and at SVG or MathML. Only href values of <a>/<area> that a browser would follow as http(s) URLs are handed to the
// rewriter, so that text, styles, scripts, comments and other attributes are never touched; the new
// value is escaped, so it cannot end the attribute or the tag.
// STANDARDS: WHATWG HTML Living Standard 13.2.5 "Tokenization": data, tag open, end tag open, tag name,
// before/after attribute name, attribute name, before attribute value, attribute value (double-quoted,
// single-quoted, unquoted), markup declaration open, comment (with "<!-->", "--!>" ends), bogus
// comment (<![CDATA[ in HTML content included), RCDATA/RAWTEXT/script data end tags, PLAINTEXT;
// foreign content (SVG, MathML) is not followed: the scan stops there; 13.2.5.72
// "Character reference state" and 13.5 "Named character references" (the legacy no-semicolon names,
// and the attribute-value rule for `&name=` and `&namex`). WHATWG URL Standard for what a browser
// strips from an href before parsing it. Checked against html5lib (a conformant parser) on random
// documents: the same links found, and the rewritten document parses to the same tree.
// Not tracked, by design: links inside conditional comments (Outlook's VML buttons), which are
// comments to every other client.
#include "tracking/html_rewriter.hpp"

#include <algorithm>
#include <cstdint>

#include "common/encoding.hpp"

namespace kurier::tracking {

namespace {

bool IsHtmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

struct Attribute {
  std::string_view name;
  std::size_t value_begin = 0;  // offsets into the document; begin == end for an empty or missing value
  std::size_t value_end = 0;
  char quote = 0;  // '"', '\'' or 0 (unquoted or no value)
  bool has_value = false;
};

struct Tag {
  bool end = false;
  std::string_view name;  // as written; compare with IEquals
  std::size_t begin = 0;  // offset of '<'
  std::size_t end_offset = 0;  // just after '>'
  const std::vector<Attribute>* attributes = nullptr;  // only those IsInterestingAttribute names
};

// Elements whose content the tokenizer reads as text up to the matching end tag (RCDATA, RAWTEXT,
// script data). <noscript> is not one of them: mail clients run no scripts, so its content is markup.
bool IsRawTextElement(std::string_view name) {
  for (std::string_view raw : {"style", "script", "title", "textarea", "xmp", "iframe", "noembed", "noframes"})
    if (IEquals(name, raw)) return true;
  return false;
}

bool IsInterestingAttribute(std::string_view name) {
  return IEquals(name, "href") || IEquals(name, "data-kurier-notrack") || IEquals(name, "clicktracking");
}

constexpr std::size_t kNone = std::string_view::npos;

struct ScanEnd {
  bool complete = true;
  // Where a token or element that never ends begins (a browser drops it or shows it as text).
  std::size_t unterminated = kNone;
};

// Tag name and attributes from `p` (just after "<" or "</") of `html`; fills `tag` (its attributes
// into `attrs`), returns false at EOF.
bool ParseTag(std::string_view html, std::size_t p, Tag& tag, std::vector<Attribute>& attrs) {
  const std::size_t n = html.size();
  std::size_t name_begin = p;
  while (p < n && !IsHtmlSpace(html[p]) && html[p] != '/' && html[p] != '>') ++p;
  if (p >= n) return false;
  tag.name = html.substr(name_begin, p - name_begin);
  attrs.clear();
  for (;;) {
    while (p < n && (IsHtmlSpace(html[p]) || html[p] == '/')) ++p;  // before attribute name
    if (p >= n) return false;
    if (html[p] == '>') break;
    std::size_t a = p++;  // a first '=' belongs to the name
    while (p < n && !IsHtmlSpace(html[p]) && html[p] != '/' && html[p] != '>' && html[p] != '=') ++p;
    Attribute attr;
    attr.name = html.substr(a, p - a);
    while (p < n && IsHtmlSpace(html[p])) ++p;  // after attribute name
    if (p >= n) return false;
    if (html[p] == '=') {
      ++p;
      while (p < n && IsHtmlSpace(html[p])) ++p;  // before attribute value
      if (p >= n) return false;
      attr.has_value = true;
      if (html[p] == '"' || html[p] == '\'') {
        std::size_t close = html.find(html[p], p + 1);
        if (close == std::string_view::npos) return false;
        attr.quote = html[p];
        attr.value_begin = p + 1;
        attr.value_end = close;
        p = close + 1;
      } else if (html[p] != '>') {  // '>' here: an empty value, and the tag ends
        attr.value_begin = p;
        while (p < n && !IsHtmlSpace(html[p]) && html[p] != '>') ++p;
        if (p >= n) return false;
        attr.value_end = p;
      } else {
        attr.value_begin = attr.value_end = p;
      }
    }
    // Only the few attributes the rewriter reads are kept, so that a tag with many attributes stays
    // linear. Duplicates are dropped: the first one counts (WHATWG 13.2.5.33).
    if (IsInterestingAttribute(attr.name) &&
        std::none_of(attrs.begin(), attrs.end(), [&](const Attribute& x) { return IEquals(x.name, attr.name); }))
      attrs.push_back(attr);
  }
  tag.end_offset = p + 1;
  tag.attributes = &attrs;
  return true;
}

// One forward pass over the document, calling on_tag(const Tag&) for each start and end tag that is
// markup. Incomplete when the document ends inside a token or reaches foreign content (what follows
// was not looked at).
template <typename OnTag>
ScanEnd ScanTags(std::string_view html, OnTag&& on_tag) {
  const std::size_t n = html.size();
  std::vector<Attribute> attrs;
  std::size_t i = 0;
  auto find = [&](std::string_view what, std::size_t from) { return html.find(what, from); };

  // Skips to just after `close`, or fails at EOF.
  auto skip_past = [&](std::string_view close, std::size_t from) {
    std::size_t k = find(close, from);
    if (k == std::string_view::npos) return false;
    i = k + close.size();
    return true;
  };

  for (;;) {
    std::size_t lt = html.find('<', i);
    if (lt == std::string_view::npos || lt + 1 >= n) return ScanEnd{true, kNone};
    char c = html[lt + 1];
    if (c == '!') {
      std::string_view rest = html.substr(lt + 2);
      if (rest.starts_with("--")) {
        std::size_t p = lt + 4;
        if (p < n && html[p] == '>') { i = p + 1; continue; }  // "<!-->"
        if (p + 1 < n && html[p] == '-' && html[p + 1] == '>') { i = p + 2; continue; }  // "<!--->"
        bool closed = false;
        while (!closed) {
          std::size_t k = find("--", p);
          if (k == std::string_view::npos) return ScanEnd{false, lt};
          std::size_t m = k + 2;
          while (m < n && html[m] == '-') ++m;
          if (m < n && html[m] == '>') { i = m + 1; closed = true; }
          else if (m + 1 < n && html[m] == '!' && html[m + 1] == '>') { i = m + 2; closed = true; }
          else p = m;
        }
        continue;
      }
      // DOCTYPE, bogus comment, <![if ...]>, and <![CDATA[, which outside SVG and MathML is a bogus
      // comment too: it ends at the first '>', not at "]]>" (what follows is markup to a browser).
      if (!skip_past(">", lt + 2)) return ScanEnd{false, lt};
      continue;
    }
    if (c == '?') {
      if (!skip_past(">", lt + 2)) return ScanEnd{false, lt};
      continue;
    }
    if (c == '/') {
      if (lt + 2 >= n) return ScanEnd{true, lt};  // "</" at EOF is text, but would swallow what follows
      char d = html[lt + 2];
      if (d == '>') { i = lt + 3; continue; }
      if (!IsAlpha(d)) {
        if (!skip_past(">", lt + 2)) return ScanEnd{false, lt};
        continue;
      }
      Tag tag;
      tag.end = true;
      tag.begin = lt;
      if (!ParseTag(html, lt + 2, tag, attrs)) return ScanEnd{false, lt};
      on_tag(static_cast<const Tag&>(tag));
      i = tag.end_offset;
      continue;
    }
    if (!IsAlpha(c)) {  // "< " or "<3": text
      i = lt + 1;
      continue;
    }
    Tag tag;
    tag.begin = lt;
    if (!ParseTag(html, lt + 1, tag, attrs)) return ScanEnd{false, lt};
    on_tag(static_cast<const Tag&>(tag));
    i = tag.end_offset;
    if (IEquals(tag.name, "plaintext")) return ScanEnd{true, tag.begin};  // the rest is text
    // Inside SVG and MathML the tokenizer follows other rules (CDATA sections, no raw-text elements,
    // HTML integration points), which only tree construction can track: stop rather than guess.
    if (IEquals(tag.name, "svg") || IEquals(tag.name, "math")) return ScanEnd{false, kNone};
    if (IsRawTextElement(tag.name)) {
      // Text up to "</name" followed by whitespace, '/' or '>'; that end tag is then scanned normally.
      std::string_view name = tag.name;
      for (;;) {
        std::size_t k = find("</", i);
        if (k == std::string_view::npos) return ScanEnd{false, tag.begin};  // raw text to EOF
        std::size_t after = k + 2 + name.size();
        if (after < n && IEquals(html.substr(k + 2, name.size()), name) &&
            (IsHtmlSpace(html[after]) || html[after] == '/' || html[after] == '>')) {
          i = k;
          break;
        }
        i = k + 2;
      }
    }
  }
}

const Attribute* FindAttribute(const std::vector<Attribute>& attrs, std::string_view name) {
  for (const Attribute& a : attrs)
    if (IEquals(a.name, name)) return &a;
  return nullptr;
}

struct LegacyEntity {
  std::string_view name;
  std::uint32_t code;
};

// The 106 named references a browser also recognises without the ';' (WHATWG 13.5).
constexpr LegacyEntity kLegacyEntities[] = {
    {"QUOT", 34},    {"quot", 34},    {"AMP", 38},     {"amp", 38},     {"LT", 60},      {"lt", 60},
    {"GT", 62},      {"gt", 62},      {"nbsp", 160},   {"iexcl", 161},  {"cent", 162},   {"pound", 163},
    {"curren", 164}, {"yen", 165},    {"brvbar", 166}, {"sect", 167},   {"uml", 168},    {"COPY", 169},
    {"copy", 169},   {"ordf", 170},   {"laquo", 171},  {"not", 172},    {"shy", 173},    {"REG", 174},
    {"reg", 174},    {"macr", 175},   {"deg", 176},    {"plusmn", 177}, {"sup2", 178},   {"sup3", 179},
    {"acute", 180},  {"micro", 181},  {"para", 182},   {"middot", 183}, {"cedil", 184},  {"sup1", 185},
    {"ordm", 186},   {"raquo", 187},  {"frac14", 188}, {"frac12", 189}, {"frac34", 190}, {"iquest", 191},
    {"Agrave", 192}, {"Aacute", 193}, {"Acirc", 194},  {"Atilde", 195}, {"Auml", 196},   {"Aring", 197},
    {"AElig", 198},  {"Ccedil", 199}, {"Egrave", 200}, {"Eacute", 201}, {"Ecirc", 202},  {"Euml", 203},
    {"Igrave", 204}, {"Iacute", 205}, {"Icirc", 206},  {"Iuml", 207},   {"ETH", 208},    {"Ntilde", 209},
    {"Ograve", 210}, {"Oacute", 211}, {"Ocirc", 212},  {"Otilde", 213}, {"Ouml", 214},   {"times", 215},
    {"Oslash", 216}, {"Ugrave", 217}, {"Uacute", 218}, {"Ucirc", 219},  {"Uuml", 220},   {"Yacute", 221},
    {"THORN", 222},  {"szlig", 223},  {"agrave", 224}, {"aacute", 225}, {"acirc", 226},  {"atilde", 227},
    {"auml", 228},   {"aring", 229},  {"aelig", 230},  {"ccedil", 231}, {"egrave", 232}, {"eacute", 233},
    {"ecirc", 234},  {"euml", 235},   {"igrave", 236}, {"iacute", 237}, {"icirc", 238},  {"iuml", 239},
    {"eth", 240},    {"ntilde", 241}, {"ograve", 242}, {"oacute", 243}, {"ocirc", 244},  {"otilde", 245},
    {"ouml", 246},   {"divide", 247}, {"oslash", 248}, {"ugrave", 249}, {"uacute", 250}, {"ucirc", 251},
    {"uuml", 252},   {"yacute", 253}, {"thorn", 254},  {"yuml", 255},
};

// Names that exist only with ';' and stand for ASCII characters URLs use (obfuscated links spell
// "https&colon;&sol;&sol;..."). Any other name followed by ';' makes the decoder give up.
constexpr LegacyEntity kAsciiEntities[] = {
    {"Tab", 9},      {"NewLine", 10}, {"excl", 33},   {"num", 35},    {"dollar", 36}, {"percnt", 37},
    {"apos", 39},    {"lpar", 40},    {"rpar", 41},   {"ast", 42},    {"midast", 42}, {"plus", 43},
    {"comma", 44},   {"period", 46},  {"sol", 47},    {"colon", 58},  {"semi", 59},   {"equals", 61},
    {"quest", 63},   {"commat", 64},  {"lsqb", 91},   {"lbrack", 91}, {"bsol", 92},   {"rsqb", 93},
    {"rbrack", 93},  {"Hat", 94},     {"lowbar", 95}, {"grave", 96},  {"lcub", 123},  {"lbrace", 123},
    {"verbar", 124}, {"vert", 124},   {"rcub", 125},  {"rbrace", 125},
};

std::optional<std::uint32_t> Lookup(std::string_view name, bool with_semicolon) {
  for (const auto& e : kLegacyEntities)
    if (e.name == name) return e.code;
  if (with_semicolon)
    for (const auto& e : kAsciiEntities)
      if (e.name == name) return e.code;
  return std::nullopt;
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// What a browser passes to the URL parser, minus percent-encoding: the WHATWG URL parser first trims
// leading and trailing C0 controls and spaces, then drops every tab and newline.
std::string UrlAsBrowserSees(std::string_view v) {
  while (!v.empty() && static_cast<unsigned char>(v.front()) <= 0x20) v.remove_prefix(1);
  while (!v.empty() && static_cast<unsigned char>(v.back()) <= 0x20) v.remove_suffix(1);
  std::string out;
  out.reserve(v.size());
  for (char c : v)
    if (c != '\t' && c != '\n' && c != '\r') out += c;
  return out;
}

bool IsTrackableUrl(std::string_view url) { return IStartsWith(url, "http://") || IStartsWith(url, "https://"); }

}  // namespace

std::optional<std::string> DecodeAttributeValue(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  std::size_t i = 0;
  const std::size_t n = raw.size();
  while (i < n) {
    std::size_t amp = raw.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(raw.substr(i));
      break;
    }
    out.append(raw.substr(i, amp - i));
    std::size_t p = amp + 1;
    if (p < n && raw[p] == '#') {
      std::size_t q = p + 1;
      bool hex = q < n && (raw[q] == 'x' || raw[q] == 'X');
      if (hex) ++q;
      std::size_t digits_begin = q;
      std::uint32_t cp = 0;
      bool overflow = false;
      while (q < n && (hex ? IsHex(raw[q]) : IsDigit(raw[q]))) {
        char c = raw[q++];
        std::uint32_t d = IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
        if (!overflow) {
          cp = cp * (hex ? 16 : 10) + d;
          if (cp > 0x10FFFF) overflow = true;
        }
      }
      if (q == digits_begin) {  // "&#" or "&#x" with no digits: written as is
        out.append(raw.substr(amp, q - amp));
        i = q;
        continue;
      }
      if (q < n && raw[q] == ';') ++q;
      if (overflow || cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
      if (cp >= 0x80 && cp <= 0x9F) return std::nullopt;  // browsers map these through windows-1252
      AppendUtf8(out, cp);
      i = q;
      continue;
    }
    std::size_t q = p;
    while (q < n && IsAlnum(raw[q])) ++q;
    std::string_view name = raw.substr(p, q - p);
    if (name.empty()) {
      out += '&';
      i = p;
      continue;
    }
    if (q < n && raw[q] == ';') {
      auto cp = Lookup(name, true);
      if (!cp) return std::nullopt;  // maybe one of the other 2000 names: don't guess
      AppendUtf8(out, *cp);
      i = q + 1;
      continue;
    }
    // Without ';', only a whole legacy name counts, and in an attribute not before '=' (a longer run
    // of letters or digits means a legacy prefix followed by an alphanumeric: left as written).
    auto cp = Lookup(name, false);
    if (cp && !(q < n && raw[q] == '=')) {
      AppendUtf8(out, *cp);
    } else {
      out.append(raw.substr(amp, q - amp));
    }
    i = q;
  }
  return out;
}

RewriteResult RewriteLinks(std::string_view html, const LinkRewriter& rewrite) {
  RewriteResult r;
  std::size_t copied = 0;
  r.complete = ScanTags(html, [&](const Tag& tag) {
    if (tag.end || !(IEquals(tag.name, "a") || IEquals(tag.name, "area"))) return;
    const auto& attrs = *tag.attributes;
    const Attribute* href = FindAttribute(attrs, "href");
    if (!href || !href->has_value) return;
    if (FindAttribute(attrs, "data-kurier-notrack")) return;
    if (const Attribute* ct = FindAttribute(attrs, "clicktracking");
        ct && IEquals(html.substr(ct->value_begin, ct->value_end - ct->value_begin), "off"))
      return;
    auto decoded = DecodeAttributeValue(html.substr(href->value_begin, href->value_end - href->value_begin));
    if (!decoded) return;
    std::string url = UrlAsBrowserSees(*decoded);
    if (!IsTrackableUrl(url)) return;
    std::optional<std::string> replacement = rewrite(url, r.candidates++);
    if (!replacement) return;
    if (r.html.empty()) r.html.reserve(html.size() + html.size() / 4);
    r.html.append(html.substr(copied, href->value_begin - copied));
    if (href->quote == 0) r.html += '"';
    r.html += HtmlEscape(*replacement);
    if (href->quote == 0) r.html += '"';
    copied = href->value_end;
    r.urls.push_back(std::move(url));
  }).complete;
  r.html.append(html.substr(copied));
  r.rewritten = r.urls.size();
  return r;
}

std::string InsertOpenPixel(std::string_view html, std::string_view pixel_url) {
  std::size_t at = kNone;
  ScanEnd end = ScanTags(html, [&](const Tag& tag) {
    if (tag.end && IEquals(tag.name, "body")) at = tag.begin;
  });
  // Without </body>, the end of the document; but before a tag, comment or raw-text element that never
  // ends, which would otherwise swallow the pixel (or take its attributes).
  if (at == kNone) at = std::min(end.unterminated, html.size());
  std::string img = "<img src=\"" + HtmlEscape(pixel_url) +
                    "\" width=\"1\" height=\"1\" alt=\"\" border=\"0\" "
                    "style=\"display:none;width:1px;height:1px;border:0;margin:0;padding:0\">";
  std::string out;
  out.reserve(html.size() + img.size());
  out.append(html.substr(0, at));
  out += img;
  out.append(html.substr(at));
  return out;
}

}  // namespace kurier::tracking
