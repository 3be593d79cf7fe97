// libFuzzer target: the segment language (src/audience/segment.hpp) on arbitrary text. It never crashes
// or hangs; a query that parses prints (Describe) as text that parses back to the same tree, and that
// text is canonical (printing it again gives the same text); it compiles for SQLite and PostgreSQL, with
// in_segment resolved to a query derived from the input (so cycles and nesting are explored), and the SQL
// text is the same when every string of the query (keys, values, list, campaign and segment names) is
// replaced by a neutral one: user text reaches the SQL only as parameters.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "audience/segment.hpp"

namespace {

using namespace kurier::audience;

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The same tree with every string the user typed replaced by a neutral one. created_at's dates stay (they
// are checked times whose kind, date or instant, shapes the SQL), and status's values (one of five words);
// in_segment names become s0, s1, ... one
// per name (case-insensitive, as the compiler tells cycles), remembered to resolve them as the originals.
struct Neutralizer {
  std::map<std::string, std::string> to_neutral, to_original;

  void Node(SegmentNode& n) {
    for (auto& c : n.children) Node(c);
    if (!n.key.empty()) n.key = "k";
    if (n.field != SegmentField::kCreatedAt && n.field != SegmentField::kStatus)
      for (auto& v : n.values)
        if (v.kind == SegmentValue::Kind::kString) v.text = "v";
    if (n.campaign) n.campaign = "c";
    if (n.function == SegmentFunction::kInSegment && n.kind == SegmentNode::Kind::kCall) {
      auto [it, added] = to_neutral.emplace(Lower(n.name), "s" + std::to_string(to_neutral.size()));
      if (added) to_original[it->second] = n.name;
      n.name = it->second;
    } else if (!n.name.empty()) {
      n.name = "l";
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto s = ParseSegment(text);
  if (!s.ok()) {
    if (s.error().message.empty()) std::abort();
    return 0;
  }
  const std::string canonical = Describe(*s);
  auto again = ParseSegment(canonical);
  if (!again.ok() || !(*again == *s)) std::abort();
  if (Describe(*again) != canonical) std::abort();

  Neutralizer neutralizer;
  Segment neutral = *s;
  neutralizer.Node(neutral.root);
  // A saved segment is the input itself or its canonical form, by the parity of its name's length, so
  // in_segment explores cycles and nesting.
  auto saved = [&](const std::string& name) { return name.size() % 2 ? text : canonical; };
  for (Dialect d : {Dialect::kSqlite, Dialect::kPostgres}) {
    CompileOptions o;
    o.dialect = d;
    o.now = 1772323200000000;
    o.first_param = 1 + static_cast<int>(size % 7);
    o.status_sql = "'active'";
    o.resolve_segment = [&](const std::string& name) -> kurier::Result<std::string> { return saved(name); };
    auto c = CompileSegment(*s, o);
    if (!c.ok()) {
      if (c.error().message.empty()) std::abort();
      continue;
    }
    // No user text in the SQL: the SQL text does not change when every string of the query does.
    o.resolve_segment = [&](const std::string& name) -> kurier::Result<std::string> {
      auto inner = ParseSegment(saved(neutralizer.to_original.at(name)));
      if (!inner.ok()) std::abort();
      neutralizer.Node(inner->root);
      return Describe(*inner);
    };
    auto n = CompileSegment(neutral, o);
    if (!n.ok() || n->sql != c->sql || n->params.size() != c->params.size()) std::abort();
    if (c->sql.find(';') != std::string::npos) std::abort();
  }
  return 0;
}
