// segment.cpp - the parser and canonical printer of audience segments (segment.hpp has the grammar): a
// tokenizer over the whole text, then recursive descent with every node checked as it is made (a field's
// operators and values, a call's arguments), so a Segment that parses always compiles.
//
// SECURITY: reads queries that API users type. Bounded: kMaxSegmentBytes of text, kMaxSegmentDepth of
// parentheses and `not` (the recursion), kMaxSegmentTerms conditions; strings must be UTF-8 without NUL.
// Nothing here builds SQL (segment_compile.cpp does, with parameters only). Fuzzed by fuzz/segment_fuzz.cpp.
// STANDARDS: RFC 3339 (times of created_at), RFC 3629 (UTF-8).
#include "audience/segment.hpp"

#include <charconv>
#include <utility>

#include "audience/segment_time.hpp"

namespace kurier::audience {

namespace {

enum class Tok { kEnd, kWord, kString, kNumber, kOp, kLParen, kRParen, kComma, kColon, kDot };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // a word or number as written, a string unescaped, an operator
  std::size_t pos = 0;
};

constexpr std::string_view kValueHint = "(a \"string\", a number, true or false)";
constexpr std::string_view kTimeHint = "(a date \"2026-01-31\", a time \"2026-01-31T12:00:00Z\" or a span like 30d)";
constexpr std::string_view kOperatorHint =
    "(=, !=, <, <=, >, >=, contains, starts with, ends with, in (...), exists, is empty)";
constexpr std::string_view kConditionHint =
    "a condition (e.g. attributes.country = \"PL\", opened(within: 30d) or in_list(\"news\"))";
constexpr int64_t kMaxSpanMicros = 36500LL * 86400 * 1000000;
constexpr std::size_t kMaxKeyBytes = 256;

bool IsWordStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return IsWordStart(c) || IsDigit(c) || c == '-'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The length of the UTF-8 sequence at s[i], 0 when it is not one (RFC 3629: no overlongs, surrogates or
// code points above U+10FFFF).
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  const unsigned c = b(i);
  const auto cont = [&](std::size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned c1 = b(i + 1);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) return 0;
    return cont(i + 1) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned c1 = b(i + 1);
    if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return 0;
    return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<Segment> Run() {
    if (text_.size() > kMaxSegmentBytes)
      return MakeError(ErrorCode::kInvalidArgument, "the query is " + std::to_string(text_.size()) +
                                                        " bytes long; the limit is " + std::to_string(kMaxSegmentBytes) +
                                                        ": split it into saved segments and use in_segment(\"name\")");
    if (!Tokenize()) return *error_;
    Segment out;
    if (Peek().kind == Tok::kEnd) return Fail(Peek(), "expected " + std::string(kConditionHint));
    if (!ParseOr(out.root)) return *error_;
    if (Peek().kind != Tok::kEnd)
      return Fail(Peek(), "expected 'and', 'or' or the end of the query, found " + Show(Peek()));
    return out;
  }

 private:
  // ---- errors
  int Column(std::size_t pos) const {
    int col = 1;
    for (std::size_t i = 0; i < pos && i < text_.size(); ++i)
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
    return col;
  }
  Error FailAt(std::size_t pos, const std::string& what) {
    if (!error_) error_ = MakeError(ErrorCode::kInvalidArgument, "column " + std::to_string(Column(pos)) + ": " + what);
    return *error_;
  }
  Error Fail(const Token& t, const std::string& what) { return FailAt(t.pos, what); }
  static std::string Show(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd: return "the end of the query";
      case Tok::kString: return "a string";
      default: return "'" + t.text + "'";
    }
  }

  // ---- tokens
  bool Tokenize() {
    std::size_t i = 0;
    while (i < text_.size()) {
      const char c = text_[i];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++i;
        continue;
      }
      Token t;
      t.pos = i;
      if (IsWordStart(c)) {
        std::size_t j = i;
        while (j < text_.size() && IsWordChar(text_[j])) ++j;
        t.kind = Tok::kWord;
        t.text = std::string(text_.substr(i, j - i));
        i = j;
      } else if (c == '"') {
        if (!LexString(i, t)) return false;
      } else if (IsDigit(c) || c == '-') {
        if (!LexNumber(i, t)) return false;
      } else if (!LexPunctuation(i, t)) {
        return false;
      }
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.pos = text_.size();
    tokens_.push_back(end);
    return true;
  }

  bool LexString(std::size_t& i, Token& t) {
    const std::size_t start = i++;
    t.kind = Tok::kString;
    while (true) {
      if (i >= text_.size()) {
        FailAt(start, "the string that starts here has no closing '\"' (write \\\" for a quote inside it)");
        return false;
      }
      const char c = text_[i];
      if (c == '"') {
        ++i;
        return true;
      }
      if (c == '\\') {
        if (i + 1 < text_.size() && (text_[i + 1] == '"' || text_[i + 1] == '\\')) {
          t.text += text_[i + 1];
          i += 2;
          continue;
        }
        FailAt(i, "unknown escape in a string: write \\\" for a quote and \\\\ for a backslash");
        return false;
      }
      if (c == '\0') {
        FailAt(i, "a string may not hold a NUL byte");
        return false;
      }
      const std::size_t n = Utf8Length(text_, i);
      if (n == 0) {
        FailAt(i, "a string must be UTF-8 text; this byte is not (convert the query to UTF-8)");
        return false;
      }
      t.text.append(text_.substr(i, n));
      i += n;
    }
  }

  bool LexNumber(std::size_t& i, Token& t) {
    std::size_t j = i;
    if (text_[j] == '-') ++j;
    if (j >= text_.size() || !IsDigit(text_[j])) {
      FailAt(i, "expected a digit after '-' (a negative number is written -5 or -2.5)");
      return false;
    }
    while (j < text_.size() && IsDigit(text_[j])) ++j;
    if (j < text_.size() && text_[j] == '.') {
      ++j;
      if (j >= text_.size() || !IsDigit(text_[j])) {
        FailAt(i, "expected a digit after the decimal point (write 2.5, not 2. or 2,5)");
        return false;
      }
      while (j < text_.size() && IsDigit(text_[j])) ++j;
    }
    while (j < text_.size() && IsWordChar(text_[j])) ++j;  // a span's unit, or a mistake to report whole
    t.kind = Tok::kNumber;
    t.text = std::string(text_.substr(i, j - i));
    i = j;
    return true;
  }

  bool LexPunctuation(std::size_t& i, Token& t) {
    const char c = text_[i];
    const char next = i + 1 < text_.size() ? text_[i + 1] : '\0';
    t.kind = Tok::kOp;
    if ((c == '!' || c == '<' || c == '>') && next == '=') {
      t.text = std::string(text_.substr(i, 2));
      i += 2;
      return true;
    }
    if (c == '<' && next == '>') {
      FailAt(i, "unknown operator '<>': write != for 'not equal'");
      return false;
    }
    if (c == '=' && next == '=') {
      FailAt(i, "unknown operator '==': write = for 'equal'");
      return false;
    }
    static constexpr std::pair<char, Tok> kSingle[] = {{'(', Tok::kLParen}, {')', Tok::kRParen}, {',', Tok::kComma},
                                                       {':', Tok::kColon},  {'.', Tok::kDot},    {'=', Tok::kOp},
                                                       {'<', Tok::kOp},     {'>', Tok::kOp}};
    for (const auto& [ch, kind] : kSingle) {
      if (c != ch) continue;
      t.kind = kind;
      t.text = std::string(1, c);
      ++i;
      return true;
    }
    const std::size_t n = Utf8Length(text_, i);
    if (n > 1) {
      FailAt(i, "unexpected '" + std::string(text_.substr(i, n)) +
                    "': put text in double quotes (\"Kraków\"), attribute keys too (attributes.\"Miasto\")");
    } else if (c == '\'') {
      FailAt(i, "unexpected \"'\": strings go in double quotes (\"PL\")");
    } else if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F) {
      FailAt(i, "unexpected '" + std::string(1, c) + "'");
    } else {
      FailAt(i, "unexpected byte " + std::to_string(static_cast<unsigned char>(c)) + " (the query must be UTF-8 text)");
    }
    return false;
  }

  const Token& Peek(std::size_t ahead = 0) const {
    return tokens_[std::min(next_ + ahead, tokens_.size() - 1)];
  }
  const Token& Take() {
    const Token& t = Peek();
    if (next_ < tokens_.size() - 1) ++next_;
    return t;
  }
  bool IsWord(const Token& t, std::string_view lower) const { return t.kind == Tok::kWord && Lower(t.text) == lower; }
  bool Expect(Tok kind, const std::string& what) {
    if (Peek().kind == kind) {
      Take();
      return true;
    }
    Fail(Peek(), what + ", found " + Show(Peek()));
    return false;
  }

  // ---- expressions
  bool Enter(const Token& at) {
    if (++depth_ <= kMaxSegmentDepth) return true;
    Fail(at, "the query nests deeper than " + std::to_string(kMaxSegmentDepth) +
                 " levels of parentheses and 'not': simplify it or split it into saved segments (in_segment)");
    return false;
  }
  bool CountTerm(const Token& at) {
    if (++terms_ <= kMaxSegmentTerms) return true;
    Fail(at, "the query has more than " + std::to_string(kMaxSegmentTerms) +
                 " conditions and values: split it into saved segments and use in_segment(\"name\")");
    return false;
  }

  bool ParseChain(SegmentNode& out, SegmentNode::Kind kind, std::string_view word) {
    SegmentNode first;
    if (kind == SegmentNode::Kind::kOr ? !ParseChain(first, SegmentNode::Kind::kAnd, "and") : !ParseUnary(first))
      return false;
    if (!IsWord(Peek(), word)) {
      out = std::move(first);
      return true;
    }
    out = SegmentNode{};
    out.kind = kind;
    auto add = [&](SegmentNode&& n) {
      if (n.kind == kind) {  // (a and b) and c is one chain
        for (auto& c : n.children) out.children.push_back(std::move(c));
      } else {
        out.children.push_back(std::move(n));
      }
    };
    add(std::move(first));
    while (IsWord(Peek(), word)) {
      const Token& op = Take();
      if (Peek().kind == Tok::kEnd) return Fail(Peek(), "expected " + std::string(kConditionHint) + " after '" + op.text + "'"), false;
      SegmentNode next;
      if (kind == SegmentNode::Kind::kOr ? !ParseChain(next, SegmentNode::Kind::kAnd, "and") : !ParseUnary(next))
        return false;
      add(std::move(next));
    }
    return true;
  }
  bool ParseOr(SegmentNode& out) { return ParseChain(out, SegmentNode::Kind::kOr, "or"); }

  bool ParseUnary(SegmentNode& out) {
    const Token& t = Peek();
    if (IsWord(t, "not")) {
      Take();
      if (!Enter(t)) return false;
      out = SegmentNode{};
      out.kind = SegmentNode::Kind::kNot;
      out.children.emplace_back();
      if (!ParseUnary(out.children.back())) return false;
      --depth_;
      return true;
    }
    if (t.kind == Tok::kLParen) {
      Take();
      if (!Enter(t)) return false;
      if (!ParseOr(out)) return false;
      if (Peek().kind != Tok::kRParen)
        return Fail(Peek(), "expected ')' to close the '(' at column " + std::to_string(Column(t.pos)) + ", found " +
                                Show(Peek())),
               false;
      Take();
      --depth_;
      return true;
    }
    if (t.kind != Tok::kWord) return Fail(t, "expected " + std::string(kConditionHint) + ", found " + Show(t)), false;
    if (!CountTerm(t)) return false;
    if (Peek(1).kind == Tok::kLParen) return ParseCall(out);
    return ParseComparison(out);
  }

  // ---- comparisons
  bool ParseField(SegmentNode& out) {
    const Token& t = Take();
    static constexpr std::pair<std::string_view, SegmentField> kFields[] = {
        {"address", SegmentField::kAddress}, {"name", SegmentField::kName},
        {"domain", SegmentField::kDomain},   {"status", SegmentField::kStatus},
        {"created_at", SegmentField::kCreatedAt}};
    const std::string word = Lower(t.text);
    for (const auto& [name, field] : kFields) {
      if (word != name) continue;
      out.field = field;
      return true;
    }
    if (word != "attributes") {
      Fail(t, "unknown field '" + t.text +
                  "': write address, name, domain, status, created_at or attributes.KEY (e.g. attributes.country)");
      return false;
    }
    out.field = SegmentField::kAttribute;
    if (!Expect(Tok::kDot, "expected '.' and a key after 'attributes' (attributes.country, attributes.\"Miasto\")"))
      return false;
    const Token& k = Peek();
    if (k.kind != Tok::kWord && k.kind != Tok::kString) {
      Fail(k, "expected an attribute key after 'attributes.' (a name like country, or in double quotes: \"Miasto\"), found " +
                  Show(k));
      return false;
    }
    if (k.text.empty() || k.text.size() > kMaxKeyBytes) {
      Fail(k, "an attribute key has 1 to " + std::to_string(kMaxKeyBytes) + " bytes");
      return false;
    }
    out.key = Take().text;
    return true;
  }

  bool ParseOperator(SegmentNode& out) {
    const Token& t = Take();
    if (t.kind == Tok::kOp) {
      static constexpr std::pair<std::string_view, SegmentOp> kOps[] = {
          {"=", SegmentOp::kEq}, {"!=", SegmentOp::kNe}, {"<", SegmentOp::kLt},
          {"<=", SegmentOp::kLe}, {">", SegmentOp::kGt}, {">=", SegmentOp::kGe}};
      for (const auto& [text, op] : kOps)
        if (t.text == text) out.op = op;
      return true;
    }
    const std::string w = t.kind == Tok::kWord ? Lower(t.text) : "";
    if (w == "contains" || w == "exists" || w == "in") {
      out.op = w == "contains" ? SegmentOp::kContains : w == "exists" ? SegmentOp::kExists : SegmentOp::kIn;
      return true;
    }
    if (w == "starts" || w == "ends") {
      out.op = w == "starts" ? SegmentOp::kStartsWith : SegmentOp::kEndsWith;
      if (IsWord(Peek(), "with")) return Take(), true;
      Fail(Peek(), "expected 'with' after '" + t.text + "' (" + w + " with \"...\")");
      return false;
    }
    if (w == "is") {
      out.op = SegmentOp::kIsEmpty;
      if (IsWord(Peek(), "empty")) return Take(), true;
      Fail(Peek(), "expected 'empty' after 'is' (write 'is empty'; for the opposite put 'not' before the condition)");
      return false;
    }
    Fail(t, "expected an operator after the field " + std::string(kOperatorHint) + ", found " + Show(t));
    return false;
  }

  bool ParseComparison(SegmentNode& out) {
    out = SegmentNode{};
    out.kind = SegmentNode::Kind::kCompare;
    if (!ParseField(out)) return false;
    const Token& op_token = Peek();
    if (!ParseOperator(out)) return false;
    if (!CheckOperator(out, op_token)) return false;
    if (out.op == SegmentOp::kExists || out.op == SegmentOp::kIsEmpty) return true;
    if (out.op != SegmentOp::kIn) {
      out.values.emplace_back();
      return ParseValue(out, out.values.back(), op_token);
    }
    if (!Expect(Tok::kLParen, "expected '(' after 'in' (in (\"PL\", \"DE\"))")) return false;
    while (true) {
      if (!CountTerm(Peek())) return false;
      out.values.emplace_back();
      if (!ParseValue(out, out.values.back(), op_token)) return false;
      if (Peek().kind == Tok::kComma) {
        Take();
        continue;
      }
      return Expect(Tok::kRParen, "expected ',' or ')' in the list of values after 'in'");
    }
  }

  bool CheckOperator(const SegmentNode& n, const Token& at) {
    const SegmentOp op = n.op;
    const bool ordering = op == SegmentOp::kLt || op == SegmentOp::kLe || op == SegmentOp::kGt || op == SegmentOp::kGe;
    if (n.field == SegmentField::kStatus && op != SegmentOp::kEq && op != SegmentOp::kNe && op != SegmentOp::kIn)
      return Fail(at, "status takes =, != or in (...) (status = \"active\")"), false;
    if (n.field == SegmentField::kCreatedAt && op != SegmentOp::kEq && op != SegmentOp::kNe && !ordering)
      return Fail(at, "created_at takes =, !=, <, <=, > or >= (created_at > 30d: created in the last 30 days)"), false;
    if (op == SegmentOp::kExists && n.field != SegmentField::kAttribute)
      return Fail(at, "'exists' is for attributes.KEY; for the other fields write 'not FIELD is empty'"), false;
    return true;
  }

  bool ParseValue(const SegmentNode& n, SegmentValue& v, const Token& op) {
    const Token& t = Peek();
    const bool time = n.field == SegmentField::kCreatedAt;
    const std::string after = "after '" + (op.kind == Tok::kWord ? Lower(op.text) : op.text) + "' ";
    if (t.kind == Tok::kString) {
      v.kind = SegmentValue::Kind::kString;
      v.text = t.text;
    } else if (t.kind == Tok::kNumber) {
      if (!ParseNumber(t, v)) return false;
    } else if (IsWord(t, "true") || IsWord(t, "false")) {
      v.kind = SegmentValue::Kind::kBool;
      v.boolean = IsWord(t, "true");
      v.text = v.boolean ? "true" : "false";
    } else {
      Fail(t, "expected a value " + after + std::string(time ? kTimeHint : kValueHint) + ", found " + Show(t));
      return false;
    }
    if (!CheckValue(n, v, t)) return false;
    Take();
    return true;
  }

  bool ParseNumber(const Token& t, SegmentValue& v) {
    const std::string& s = t.text;
    std::size_t digits_end = s[0] == '-' ? 1 : 0;
    bool decimal = false;
    while (digits_end < s.size() && (IsDigit(s[digits_end]) || s[digits_end] == '.'))
      decimal |= s[digits_end++] == '.';
    const std::string_view number(s.data(), digits_end);
    const std::string unit = Lower(std::string_view(s).substr(digits_end));
    if (!unit.empty()) {
      const int64_t per = unit == "h" ? 3600LL * 1000000 : unit == "d" ? 86400LL * 1000000 : unit == "w" ? 604800LL * 1000000 : 0;
      if (per == 0 || decimal || s[0] == '-')
        return Fail(t, "'" + s + "' is not a number or a span: a span is a whole number of hours, days or weeks (12h, 30d, 2w)"), false;
      int64_t count = 0;
      const auto r = std::from_chars(number.data(), number.data() + number.size(), count);
      if (r.ec != std::errc() || count > kMaxSpanMicros / per)
        return Fail(t, "the span '" + s + "' is too long: the limit is 36500d"), false;
      v.kind = SegmentValue::Kind::kSpan;
      v.integer = count * per;
      v.text = std::to_string(count) + unit;
      return true;
    }
    if (decimal) {
      if (s.size() > 40) return Fail(t, "the number '" + s + "' has more than 40 characters"), false;
      v.kind = SegmentValue::Kind::kDecimal;
      v.text = s;
      std::from_chars(s.data(), s.data() + s.size(), v.real);
      return true;
    }
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v.integer);
    if (r.ec != std::errc())
      return Fail(t, "the number '" + s + "' is out of range (whole numbers go up to 9223372036854775807)"), false;
    v.kind = SegmentValue::Kind::kInteger;
    v.text = std::to_string(v.integer);
    return true;
  }

  bool CheckValue(const SegmentNode& n, const SegmentValue& v, const Token& t) {
    using K = SegmentValue::Kind;
    const SegmentOp op = n.op;
    const bool pattern = op == SegmentOp::kContains || op == SegmentOp::kStartsWith || op == SegmentOp::kEndsWith;
    if (n.field == SegmentField::kCreatedAt) {
      if (v.kind == K::kSpan) return true;
      if (v.kind == K::kString && ParseSegmentTime(v.text).has_value()) return true;
      return Fail(t, "created_at compares with a date \"2026-01-31\", an RFC 3339 time \"2026-01-31T12:00:00Z\" or a "
                     "span like 30d (created_at > 30d: created in the last 30 days)"),
             false;
    }
    if (v.kind == K::kSpan) return Fail(t, "a span like " + v.text + " is for created_at and within:"), false;
    if (n.field == SegmentField::kStatus) {
      static constexpr std::string_view kStatuses[] = {"active", "unsubscribed", "complained", "bounced", "suppressed"};
      for (auto s : kStatuses)
        if (v.kind == K::kString && v.text == s) return true;
      return Fail(t, "status is one of \"active\", \"unsubscribed\", \"complained\", \"bounced\", \"suppressed\""), false;
    }
    if (n.field != SegmentField::kAttribute && v.kind != K::kString)
      return Fail(t, "this field compares with a \"string\" (name = \"Jan\")"), false;
    if (pattern && v.kind != K::kString)
      return Fail(t, "contains, starts with and ends with take a \"string\""), false;
    if (v.kind == K::kBool && op != SegmentOp::kEq && op != SegmentOp::kNe && op != SegmentOp::kIn)
      return Fail(t, "true and false compare with =, != or in (...)"), false;
    return true;
  }

  // ---- calls
  bool ParseCall(SegmentNode& out) {
    out = SegmentNode{};
    out.kind = SegmentNode::Kind::kCall;
    const Token& name = Take();
    static constexpr std::pair<std::string_view, SegmentFunction> kFunctions[] = {
        {"opened", SegmentFunction::kOpened},       {"clicked", SegmentFunction::kClicked},
        {"delivered", SegmentFunction::kDelivered}, {"bounced", SegmentFunction::kBounced},
        {"complained", SegmentFunction::kComplained}, {"unsubscribed", SegmentFunction::kUnsubscribed},
        {"sent", SegmentFunction::kSent},           {"in_list", SegmentFunction::kInList},
        {"in_segment", SegmentFunction::kInSegment}};
    const std::string word = Lower(name.text);
    bool known = false;
    for (const auto& [n, f] : kFunctions)
      if (word == n) out.function = f, known = true;
    if (!known)
      return Fail(name, "unknown function '" + name.text + "': write opened, clicked, delivered, bounced, complained, "
                                                          "unsubscribed, sent, in_list or in_segment"),
             false;
    Take();  // (
    if (out.function == SegmentFunction::kInList || out.function == SegmentFunction::kInSegment) {
      const Token& arg = Peek();
      if (arg.kind != Tok::kString || arg.text.empty())
        return Fail(arg, "expected a list's " + std::string(out.function == SegmentFunction::kInList ? "name or id" : "segment's name") +
                             " in double quotes: " + word + "(\"news\"), found " + Show(arg)),
               false;
      out.name = Take().text;
      return Expect(Tok::kRParen, "expected ')' after the name: " + word + " takes one argument");
    }
    if (Peek().kind == Tok::kRParen) return Take(), true;
    bool seen_at_least = false;
    while (true) {
      if (!ParseArgument(out, word, seen_at_least)) return false;
      if (Peek().kind == Tok::kComma) {
        Take();
        continue;
      }
      return Expect(Tok::kRParen, "expected ',' or ')' after an argument of " + word + "(...)");
    }
  }

  bool ParseArgument(SegmentNode& out, const std::string& function, bool& seen_at_least) {
    const Token& name = Peek();
    const std::string arg = name.kind == Tok::kWord ? Lower(name.text) : "";
    if (arg != "within" && arg != "campaign" && arg != "at_least")
      return Fail(name, "unknown argument " + Show(name) + " of " + function +
                            ": write within: 30d, campaign: \"name\" or at_least: 2"),
             false;
    Take();
    if (!Expect(Tok::kColon, "expected ':' after '" + arg + "' (" + arg + ": ...)")) return false;
    const bool twice = arg == "within" ? out.within.has_value() : arg == "campaign" ? out.campaign.has_value() : seen_at_least;
    if (twice) return Fail(name, "'" + arg + "' is given twice"), false;
    const Token& t = Peek();
    SegmentValue v;
    if (t.kind == Tok::kNumber && !ParseNumber(t, v)) return false;
    if (arg == "within") {
      if (t.kind != Tok::kNumber || v.kind != SegmentValue::Kind::kSpan)
        return Fail(t, "within: takes a span: a number of hours, days or weeks (12h, 30d, 2w)"), false;
      out.within = v;
    } else if (arg == "campaign") {
      if (t.kind != Tok::kString || t.text.empty())
        return Fail(t, "campaign: takes a campaign's name or id in double quotes (campaign: \"spring\")"), false;
      out.campaign = t.text;
    } else {
      if (t.kind != Tok::kNumber || v.kind != SegmentValue::Kind::kInteger || v.integer < 1 || v.integer > 1000000)
        return Fail(t, "at_least: takes a whole number from 1 to 1000000 (at_least: 3)"), false;
      out.at_least = v.integer;
      seen_at_least = true;
    }
    Take();
    return true;
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  std::size_t next_ = 0;
  int depth_ = 0;
  int terms_ = 0;
  std::optional<Error> error_;
};

// ---- Describe

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool IsPlainKey(const std::string& key) {
  if (key.empty() || !IsWordStart(key[0])) return false;
  for (char c : key)
    if (!IsWordChar(c)) return false;
  return true;
}

std::string DescribeValue(const SegmentValue& v) {
  return v.kind == SegmentValue::Kind::kString ? Quote(v.text) : v.text;
}

std::string DescribeCompare(const SegmentNode& n) {
  static constexpr std::string_view kFieldNames[] = {"address", "name", "domain", "status", "created_at"};
  std::string out = n.field == SegmentField::kAttribute
                        ? "attributes." + (IsPlainKey(n.key) ? n.key : Quote(n.key))
                        : std::string(kFieldNames[static_cast<int>(n.field)]);
  static constexpr std::string_view kOpNames[] = {"=", "!=", "<", "<=", ">", ">=", "contains", "starts with",
                                                  "ends with", "in", "exists", "is empty"};
  out += " ";
  out += kOpNames[static_cast<int>(n.op)];
  if (n.op == SegmentOp::kIn) {
    out += " (";
    for (std::size_t i = 0; i < n.values.size(); ++i) out += (i ? ", " : "") + DescribeValue(n.values[i]);
    return out + ")";
  }
  if (!n.values.empty()) out += " " + DescribeValue(n.values[0]);
  return out;
}

std::string DescribeCall(const SegmentNode& n) {
  static constexpr std::string_view kNames[] = {"opened", "clicked",  "delivered", "bounced",   "complained",
                                                "unsubscribed", "sent", "in_list", "in_segment"};
  std::string out(kNames[static_cast<int>(n.function)]);
  if (n.function == SegmentFunction::kInList || n.function == SegmentFunction::kInSegment)
    return out + "(" + Quote(n.name) + ")";
  std::vector<std::string> args;
  if (n.within) args.push_back("within: " + n.within->text);
  if (n.campaign) args.push_back("campaign: " + Quote(*n.campaign));
  if (n.at_least != 1) args.push_back("at_least: " + std::to_string(n.at_least));
  out += "(";
  for (std::size_t i = 0; i < args.size(); ++i) out += (i ? ", " : "") + args[i];
  return out + ")";
}

std::string DescribeNode(const SegmentNode& n) {
  auto child = [](const SegmentNode& c) {
    const bool group = c.kind == SegmentNode::Kind::kAnd || c.kind == SegmentNode::Kind::kOr;
    return group ? "(" + DescribeNode(c) + ")" : DescribeNode(c);
  };
  switch (n.kind) {
    case SegmentNode::Kind::kAnd:
    case SegmentNode::Kind::kOr: {
      std::string out;
      for (std::size_t i = 0; i < n.children.size(); ++i)
        out += (i ? (n.kind == SegmentNode::Kind::kAnd ? " and " : " or ") : "") + child(n.children[i]);
      return out;
    }
    case SegmentNode::Kind::kNot: return "not " + (n.children.empty() ? std::string("()") : child(n.children[0]));
    case SegmentNode::Kind::kCompare: return DescribeCompare(n);
    case SegmentNode::Kind::kCall: return DescribeCall(n);
  }
  return "";
}

}  // namespace

Result<Segment> ParseSegment(std::string_view text) { return Parser(text).Run(); }

std::string Describe(const Segment& segment) { return DescribeNode(segment.root); }

}  // namespace kurier::audience
