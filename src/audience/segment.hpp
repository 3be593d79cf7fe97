// segment.hpp - audience segments (issue 17): a small query language over a contact's fields, attributes,
// engagement and memberships, parsed without I/O into a Segment and compiled to a parameterised SQL
// condition over the contacts row `c` for SQLite or PostgreSQL. No text of the query ever reaches the SQL
// text: strings, attribute keys, list, campaign and segment names all travel as typed parameters.
//
//   expr       := or
//   or         := and ("or" and)*
//   and        := unary ("and" unary)*
//   unary      := "not" unary | "(" expr ")" | comparison | call
//   comparison := field op value | field "in" "(" value ("," value)* ")" | field "exists" | field "is" "empty"
//   op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "starts" "with" | "ends" "with"
//   field      := "address" | "name" | "domain" | "status" | "created_at" | "attributes" "." key
//   key        := [A-Za-z_][A-Za-z0-9_-]* | "quoted string"
//   value      := "string" (\" and \\ escapes) | -?digits | -?digits.digits | "true" | "false" | span
//   span       := digits ("h" | "d" | "w")          (for created_at: now minus the span)
//   call       := ("opened" | "clicked" | "delivered" | "bounced" | "complained" | "unsubscribed" | "sent")
//                 "(" [arg ("," arg)*] ")"  with arg := "within" ":" span | "campaign" ":" string
//                                                       | "at_least" ":" integer   (any order, each once)
//               | "in_list" "(" string ")" | "in_segment" "(" string ")"
//
// Keywords, field and function names are case-insensitive; attribute keys and strings are not. Bounds:
// kMaxSegmentBytes of text, kMaxSegmentDepth of nesting, kMaxSegmentTerms conditions and values.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kurier::audience {

inline constexpr std::size_t kMaxSegmentBytes = 4096;
inline constexpr int kMaxSegmentDepth = 32;
inline constexpr int kMaxSegmentTerms = 200;

/// A literal of a query. Numbers keep their text as written (after a sign and digits check), so the
/// canonical form shows what the user wrote; `integer`/`real` hold their value. A span ("30d") has its
/// length in microseconds in `integer`.
struct SegmentValue {
  enum class Kind { kString, kInteger, kDecimal, kBool, kSpan };
  Kind kind = Kind::kString;
  std::string text;      ///< the string (unescaped); the number or span as written ("-1.50", "30d")
  int64_t integer = 0;   ///< kInteger: the value; kSpan: microseconds
  double real = 0;       ///< kDecimal: the value
  bool boolean = false;  ///< kBool
  bool operator==(const SegmentValue&) const = default;
};

enum class SegmentField { kAddress, kName, kDomain, kStatus, kCreatedAt, kAttribute };

enum class SegmentOp { kEq, kNe, kLt, kLe, kGt, kGe, kContains, kStartsWith, kEndsWith, kIn, kExists, kIsEmpty };

/// Engagement calls count events of the contact's address; in_list and in_segment test memberships.
enum class SegmentFunction { kOpened, kClicked, kDelivered, kBounced, kComplained, kUnsubscribed, kSent, kInList, kInSegment };

/// One node of the tree. kAnd and kOr hold two or more children (chains are flattened: `a and (b and c)`
/// is one kAnd of three), kNot one.
struct SegmentNode {
  enum class Kind { kAnd, kOr, kNot, kCompare, kCall };
  Kind kind = Kind::kCompare;
  std::vector<SegmentNode> children;

  // kCompare: field op values (one value; kIn one or more; kExists and kIsEmpty none).
  SegmentField field = SegmentField::kAddress;
  std::string key;  ///< kAttribute: the attribute's key
  SegmentOp op = SegmentOp::kEq;
  std::vector<SegmentValue> values;

  // kCall
  SegmentFunction function = SegmentFunction::kOpened;
  std::optional<SegmentValue> within;    ///< a kSpan: events newer than now minus it
  std::optional<std::string> campaign;   ///< a campaign's id or name
  int64_t at_least = 1;                  ///< the events needed (engagement calls)
  std::string name;                      ///< in_list: list id or name; in_segment: the segment's name

  bool operator==(const SegmentNode&) const = default;
};

struct Segment {
  SegmentNode root;
  bool operator==(const Segment&) const = default;
};

/// Parses a query. Errors (kInvalidArgument) start with the 1-based column (in characters) where the
/// problem is, say what was expected and what to write: `column 27: expected a value after '=' (a
/// "string", a number, true or false)`.
Result<Segment> ParseSegment(std::string_view text);

/// The canonical text of a segment: lower-case keywords, one space between tokens, strings re-escaped,
/// call arguments in the order within, campaign, at_least. ParseSegment(Describe(s)) == s.
std::string Describe(const Segment& segment);

enum class Dialect { kSqlite, kPostgres };

/// A parameter of the compiled SQL, typed: in SQLite a TEXT parameter never equals a JSON number.
/// PostgreSQL receives every parameter as text and the SQL casts it ($3::bigint, $4::numeric, $5::text).
struct SqlParam {
  enum Kind { kText, kInt, kReal };
  Kind kind = kText;
  std::string text;
  int64_t i = 0;
  double d = 0;
  bool operator==(const SqlParam&) const = default;
};

struct CompileOptions {
  Dialect dialect = Dialect::kSqlite;
  /// The number of the first placeholder ($first_param, $first_param + 1, ...), so that the condition can
  /// follow the caller's own parameters. SQLite reads $n as ?n once the caller turns them (the store's
  /// ToSqlitePlaceholders); repeated placeholders name one parameter.
  int first_param = 1;
  /// The current time, microseconds since the epoch: spans mean `now` minus the span.
  int64_t now = 0;
  /// An SQL expression giving contact c's status (active, unsubscribed, complained, bounced, suppressed),
  /// e.g. store::ContactStatusSql(). Spliced as given: it is the caller's SQL, never the user's. Needed
  /// only by queries that name `status`.
  std::string status_sql;
  /// The query text of a saved segment by name (for in_segment); unset: in_segment is an error.
  std::function<Result<std::string>(const std::string& name)> resolve_segment;
  /// How deep in_segment may nest saved segments inside one another.
  int max_segment_nesting = 8;
};

struct CompiledSegment {
  std::string sql;  ///< a boolean SQL expression over contacts row `c` (and tables events, lists, list_members)
  std::vector<SqlParam> params;  ///< params[k] is placeholder $(first_param + k)
};

/// Compiles a segment to a condition over contacts `c` (columns id, account, address, name, attributes,
/// created_at) that is TRUE or FALSE, never NULL. Errors: a saved segment that cannot be resolved or
/// parsed, an in_segment cycle (naming it), nesting or size past the bounds (kInvalidArgument); `status`
/// without options.status_sql (kInternal).
Result<CompiledSegment> CompileSegment(const Segment& segment, const CompileOptions& options);

}  // namespace kurier::audience
