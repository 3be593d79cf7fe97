// segment_compile.cpp - a parsed segment (segment.hpp) as a parameterised SQL condition over contacts row
// `c`, for SQLite and PostgreSQL: fields and attributes, engagement as EXISTS/count over the event log
// (events e, matched by account and lower-cased recipient), list memberships, saved segments inline.
//
// SECURITY: the query is user text; none of it reaches the SQL text. Every string, attribute key, list,
// campaign and segment name is a typed parameter ($n; PostgreSQL casts each: $n::text, $n::bigint,
// $n::numeric); LIKE patterns escape % _ and \ (ESCAPE '\'). What the SQL text holds comes from this file's
// own constants, the placeholders' numbers and the caller's status SQL. Every condition is TRUE or FALSE,
// never NULL, so `not` is a plain negation. Saved segments nest at most CompileOptions::max_segment_nesting
// deep, a cycle is an error, and the whole expansion holds at most kMaxCompiledTerms conditions.
// Attributes on SQLite go through json_each (the key compared as a value), not a json_extract path: SQLite
// 3.40's path syntax cannot quote a key holding '"' and compares labels undecoded.
#include <utility>

#include "audience/segment.hpp"
#include "audience/segment_time.hpp"

namespace kurier::audience {

namespace {

constexpr int kMaxCompiledTerms = 2000;
constexpr int64_t kDayMicros = 86400LL * 1000000;

std::string AsciiLower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// A LIKE pattern for contains / starts with / ends with, the value's own % _ and \ taken literally.
std::string LikePattern(const std::string& text, SegmentOp op) {
  std::string out = op == SegmentOp::kStartsWith ? "" : "%";
  for (char ch : text) {
    if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
    out += ch;
  }
  return op == SegmentOp::kEndsWith ? out : out + "%";
}

std::string_view OpSql(SegmentOp op) {
  switch (op) {
    case SegmentOp::kLt: return " < ";
    case SegmentOp::kLe: return " <= ";
    case SegmentOp::kGt: return " > ";
    case SegmentOp::kGe: return " >= ";
    default: return " = ";
  }
}

bool IsPattern(SegmentOp op) {
  return op == SegmentOp::kContains || op == SegmentOp::kStartsWith || op == SegmentOp::kEndsWith;
}

class Compiler {
 public:
  explicit Compiler(const CompileOptions& o) : o_(o), pg_(o.dialect == Dialect::kPostgres) {}

  Result<CompiledSegment> Run(const Segment& s) {
    auto sql = Node(s.root);
    if (!sql) return sql.error();
    return CompiledSegment{std::move(*sql), std::move(params_)};
  }

 private:
  // ---- parameters
  std::string Add(SqlParam p, std::string_view pg_cast) {
    params_.push_back(std::move(p));
    const std::string ph = "$" + std::to_string(o_.first_param + static_cast<int>(params_.size()) - 1);
    return pg_ ? ph + "::" + std::string(pg_cast) : ph;
  }
  std::string Text(std::string s) {
    SqlParam p;
    p.kind = SqlParam::kText;
    p.text = std::move(s);
    return Add(std::move(p), "text");
  }
  std::string Int(int64_t v, std::string_view pg_cast = "bigint") {
    SqlParam p;
    p.kind = SqlParam::kInt;
    p.i = v;
    p.text = std::to_string(v);
    return Add(std::move(p), pg_cast);
  }
  std::string Number(const SegmentValue& v) {
    if (v.kind == SegmentValue::Kind::kInteger) return Int(v.integer, "numeric");
    SqlParam p;
    p.kind = SqlParam::kReal;
    p.d = v.real;
    p.text = v.text;  // PostgreSQL reads the decimal as written: no binary rounding
    return Add(std::move(p), "numeric");
  }

  Result<void> Count(int n = 1) {
    terms_ += n;
    if (terms_ <= kMaxCompiledTerms) return {};
    return MakeError(ErrorCode::kInvalidArgument, "the segment, with the saved segments it includes, has more than " +
                                                      std::to_string(kMaxCompiledTerms) + " conditions: simplify it");
  }

  // ---- tree
  Result<std::string> Node(const SegmentNode& n) {
    switch (n.kind) {
      case SegmentNode::Kind::kAnd:
      case SegmentNode::Kind::kOr: {
        if (n.children.empty()) return MakeError(ErrorCode::kInvalidArgument, "an empty 'and'/'or' in the segment");
        std::string out = "(";
        for (std::size_t i = 0; i < n.children.size(); ++i) {
          auto c = Node(n.children[i]);
          if (!c) return c;
          out += (i ? (n.kind == SegmentNode::Kind::kAnd ? " AND " : " OR ") : "") + *c;
        }
        return out + ")";
      }
      case SegmentNode::Kind::kNot: {
        if (n.children.size() != 1) return MakeError(ErrorCode::kInvalidArgument, "'not' without a condition");
        auto c = Node(n.children[0]);
        if (!c) return c;
        return "(NOT " + *c + ")";
      }
      case SegmentNode::Kind::kCompare: return Compare(n);
      case SegmentNode::Kind::kCall: return Call(n);
    }
    return MakeError(ErrorCode::kInternal, "unknown segment node");
  }

  Result<std::string> Compare(const SegmentNode& n) {
    if (auto c = Count(std::max<int>(1, static_cast<int>(n.values.size()))); !c) return c.error();
    if (n.op == SegmentOp::kNe) {
      auto eq = n;
      eq.op = SegmentOp::kEq;
      auto c = Compare(eq);
      if (!c) return c;
      return "(NOT " + *c + ")";
    }
    if (n.op == SegmentOp::kIn) {
      if (n.values.empty()) return MakeError(ErrorCode::kInvalidArgument, "'in' without values");
      std::string out = "(";
      for (std::size_t i = 0; i < n.values.size(); ++i) {
        auto c = Leaf(n, SegmentOp::kEq, &n.values[i]);
        if (!c) return c;
        out += (i ? " OR " : "") + *c;
      }
      return out + ")";
    }
    const bool needs_value = n.op != SegmentOp::kExists && n.op != SegmentOp::kIsEmpty;
    if (needs_value && n.values.size() != 1)
      return MakeError(ErrorCode::kInvalidArgument, "a comparison without its value");
    return Leaf(n, n.op, needs_value ? &n.values[0] : nullptr);
  }

  Result<std::string> Leaf(const SegmentNode& n, SegmentOp op, const SegmentValue* v) {
    if (v && v->kind == SegmentValue::Kind::kSpan && n.field != SegmentField::kCreatedAt)
      return MakeError(ErrorCode::kInvalidArgument, "a span compares only with created_at");
    switch (n.field) {
      case SegmentField::kAddress: return Column("c.address", op, v, true);
      case SegmentField::kName: return Column("c.name", op, v, false);
      case SegmentField::kDomain:
        return Column(pg_ ? "split_part(c.address, '@', -1)"
                          : "substr(c.address, length(rtrim(c.address, replace(c.address, '@', ''))) + 1)",
                      op, v, true);
      case SegmentField::kStatus:
        if (o_.status_sql.empty())
          return MakeError(ErrorCode::kInternal, "the segment names status but CompileOptions::status_sql is empty");
        return Column("(" + o_.status_sql + ")", op, v, false);
      case SegmentField::kCreatedAt: return CreatedAt(op, v);
      case SegmentField::kAttribute: return Attribute(n.key, op, v);
    }
    return MakeError(ErrorCode::kInternal, "unknown segment field");
  }

  // address, name, domain, status: text columns (address and domain are stored in lower case).
  Result<std::string> Column(const std::string& col, SegmentOp op, const SegmentValue* v, bool lower) {
    if (op == SegmentOp::kIsEmpty) return "(" + col + " = '')";
    if (!v || v->kind != SegmentValue::Kind::kString || op == SegmentOp::kExists)
      return MakeError(ErrorCode::kInvalidArgument, "this field compares only with a string");
    const std::string value = lower ? AsciiLower(v->text) : v->text;
    if (IsPattern(op))
      return "(" + col + (pg_ ? " ILIKE " : " LIKE ") + Text(LikePattern(value, op)) + " ESCAPE '\\')";
    if (op == SegmentOp::kEq) return "(" + col + " = " + Text(value) + ")";
    return "(" + col + (pg_ ? " COLLATE \"C\"" : "") + std::string(OpSql(op)) + Text(value) + ")";
  }

  Result<std::string> CreatedAt(SegmentOp op, const SegmentValue* v) {
    if (!v || (op != SegmentOp::kEq && op != SegmentOp::kLt && op != SegmentOp::kLe && op != SegmentOp::kGt &&
               op != SegmentOp::kGe))
      return MakeError(ErrorCode::kInvalidArgument, "created_at compares with =, !=, <, <=, > or >=");
    int64_t at = 0;
    bool day = false;
    if (v->kind == SegmentValue::Kind::kSpan) {
      at = o_.now - v->integer;
    } else {
      const auto t = v->kind == SegmentValue::Kind::kString ? ParseSegmentTime(v->text) : std::nullopt;
      if (!t) return MakeError(ErrorCode::kInvalidArgument, "created_at compares with a date, a time or a span");
      at = t->micros;
      day = t->date_only;
    }
    if (!day) return "(c.created_at" + std::string(OpSql(op)) + Int(at) + ")";
    // A date is its whole (UTC) day: = within it, < before it, <= up to its end, > after it, >= from it on.
    switch (op) {
      case SegmentOp::kEq: {
        const std::string from = Int(at);
        return "(c.created_at >= " + from + " AND c.created_at < " + Int(at + kDayMicros) + ")";
      }
      case SegmentOp::kLt: return "(c.created_at < " + Int(at) + ")";
      case SegmentOp::kLe: return "(c.created_at < " + Int(at + kDayMicros) + ")";
      case SegmentOp::kGt: return "(c.created_at >= " + Int(at + kDayMicros) + ")";
      default: return "(c.created_at >= " + Int(at) + ")";
    }
  }

  Result<std::string> Attribute(const std::string& key, SegmentOp op, const SegmentValue* v) {
    const std::string k = Text(key);
    if (pg_) return AttributePg(k, op, v);
    const std::string each = "EXISTS (SELECT 1 FROM json_each(c.attributes) j WHERE j.key = " + k + " AND ";
    if (op == SegmentOp::kExists) return each + "j.type <> 'null')";
    if (op == SegmentOp::kIsEmpty) return "(NOT " + each + "j.type <> 'null' AND NOT (j.type = 'text' AND j.value = '')))";
    if (!v) return MakeError(ErrorCode::kInvalidArgument, "a comparison without its value");
    switch (v->kind) {
      case SegmentValue::Kind::kString:
        if (IsPattern(op)) return each + "j.type = 'text' AND j.value LIKE " + Text(LikePattern(v->text, op)) + " ESCAPE '\\')";
        return each + "j.type = 'text' AND j.value" + std::string(OpSql(op)) + Text(v->text) + ")";
      case SegmentValue::Kind::kInteger:
      case SegmentValue::Kind::kDecimal:
        if (IsPattern(op)) break;
        return each + "j.type IN ('integer', 'real') AND j.value" + std::string(OpSql(op)) + Number(*v) + ")";
      case SegmentValue::Kind::kBool:
        if (op != SegmentOp::kEq) break;
        return each + (v->boolean ? "j.type = 'true')" : "j.type = 'false')");
      case SegmentValue::Kind::kSpan: break;
    }
    return MakeError(ErrorCode::kInvalidArgument, "this operator does not apply to that value");
  }

  // PostgreSQL: attributes is JSONB; -> keeps the JSON value (typed comparisons), ->> gives text.
  Result<std::string> AttributePg(const std::string& k, SegmentOp op, const SegmentValue* v) {
    const std::string json = "(c.attributes->" + k + ")", text = "(c.attributes->>" + k + ")";
    if (op == SegmentOp::kExists) return "(COALESCE(jsonb_typeof" + json + ", 'null') <> 'null')";
    if (op == SegmentOp::kIsEmpty) return "(COALESCE(" + text + ", '') = '')";
    if (!v) return MakeError(ErrorCode::kInvalidArgument, "a comparison without its value");
    const auto typed = [&](std::string_view type, const std::string& cond) {
      return "COALESCE(jsonb_typeof" + json + " = '" + std::string(type) + "' AND " + cond + ", FALSE)";
    };
    switch (v->kind) {
      case SegmentValue::Kind::kString:
        if (IsPattern(op)) return typed("string", text + " ILIKE " + Text(LikePattern(v->text, op)) + " ESCAPE '\\'");
        if (op == SegmentOp::kEq) return typed("string", text + " = " + Text(v->text));
        return typed("string", text + " COLLATE \"C\"" + std::string(OpSql(op)) + Text(v->text));
      case SegmentValue::Kind::kInteger:
      case SegmentValue::Kind::kDecimal:
        if (IsPattern(op)) break;
        return typed("number", json + std::string(OpSql(op)) + "to_jsonb(" + Number(*v) + ")");
      case SegmentValue::Kind::kBool:
        if (op != SegmentOp::kEq) break;
        return typed("boolean", json + (v->boolean ? " = 'true'::jsonb" : " = 'false'::jsonb"));
      case SegmentValue::Kind::kSpan: break;
    }
    return MakeError(ErrorCode::kInvalidArgument, "this operator does not apply to that value");
  }

  // ---- calls
  Result<std::string> Call(const SegmentNode& n) {
    if (auto c = Count(); !c) return c.error();
    if (n.function == SegmentFunction::kInSegment) return SavedSegment(n.name);
    if (n.function == SegmentFunction::kInList) {
      const std::string list = Text(n.name);
      return "EXISTS (SELECT 1 FROM list_members m JOIN lists l ON l.id = m.list_id WHERE m.contact_id = c.id AND "
             "m.status = 'subscribed' AND l.account = c.account AND (l.id = " + list + " OR lower(l.name) = lower(" +
             list + ")))";
    }
    static constexpr std::string_view kTypes[] = {"'opened'", "'clicked'", "'delivered'", "'bounced'",
                                                  "'complained'", "'unsubscribed'"};
    const bool sent = n.function == SegmentFunction::kSent;
    // `accepted` events name their recipients in an array, not in `recipient`: a sent message shows in
    // its delivery outcome (delivered, deferred or bounced) instead.
    std::string from = "FROM events e WHERE e.account = c.account AND e.recipient = c.address AND e.type ";
    from += sent ? "IN ('delivered', 'deferred', 'bounced')" : "= " + std::string(kTypes[static_cast<int>(n.function)]);
    if (n.within) from += " AND e.time >= " + Int(o_.now - n.within->integer);
    if (n.campaign) {
      const std::string id = Text(*n.campaign);
      from += pg_ ? " AND ((e.data->'metadata'->>'campaign') = " + id +
                        " OR lower(e.data->'metadata'->>'campaign_name') = lower(" + id + "))"
                  : " AND (json_extract(e.data, '$.metadata.campaign') = " + id +
                        " OR lower(json_extract(e.data, '$.metadata.campaign_name')) = lower(" + id + "))";
    }
    if (n.at_least <= 1) return "EXISTS (SELECT 1 " + from + ")";
    return "((SELECT count(" + std::string(sent ? "DISTINCT e.message_id" : "*") + ") " + from + ") >= " +
           Int(n.at_least) + ")";
  }

  Result<std::string> SavedSegment(const std::string& name) {
    const std::string key = AsciiLower(name);
    std::string path;
    for (const auto& s : stack_) path += "\"" + s + "\" -> ";
    for (const auto& s : stack_)
      if (s == key)
        return MakeError(ErrorCode::kInvalidArgument,
                         "saved segment \"" + name + "\" includes itself: " + path + "\"" + key + "\"; remove one in_segment");
    if (static_cast<int>(stack_.size()) >= o_.max_segment_nesting)
      return MakeError(ErrorCode::kInvalidArgument, "saved segments nest deeper than " +
                                                        std::to_string(o_.max_segment_nesting) + " levels: " + path +
                                                        "\"" + key + "\"");
    if (!o_.resolve_segment)
      return MakeError(ErrorCode::kInvalidArgument, "in_segment(\"" + name + "\"): no saved segments here");
    auto text = o_.resolve_segment(name);
    if (!text) return text.error();
    auto parsed = ParseSegment(*text);
    if (!parsed) return MakeError(ErrorCode::kInvalidArgument, "saved segment \"" + name + "\": " + parsed.error().message);
    stack_.push_back(key);
    auto sql = Node(parsed->root);
    stack_.pop_back();
    if (!sql) return sql;
    return "(" + *sql + ")";
  }

  const CompileOptions& o_;
  const bool pg_;
  std::vector<SqlParam> params_;
  std::vector<std::string> stack_;  // the saved segments being expanded, outermost first (lower case)
  int terms_ = 0;
};

}  // namespace

Result<CompiledSegment> CompileSegment(const Segment& segment, const CompileOptions& options) {
  return Compiler(options).Run(segment);
}

}  // namespace kurier::audience
