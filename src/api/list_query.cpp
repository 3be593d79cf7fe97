// list_query.cpp - the query parameters of the API's event-backed listings (see list_query.hpp).
// STANDARDS: RFC 3339 (from/to), RFC 6901 (the error pointers), RFC 9457 (problem details).
#include "api/list_query.hpp"

#include <algorithm>

namespace kurier::api {

void ReadTimeParameter(const std::string& name, const std::string& value, int64_t& out, FieldErrors& err) {
  auto t = ParseRfc3339(value);
  if (!t) err.Add("/query/" + name, "must be an RFC 3339 time such as 2026-11-26T00:00:00Z");
  else out = *t;
}

void ParseListQuery(const std::map<std::string, std::string>& query, const ListQuerySpec& spec, store::EventFilter& f,
                    FieldErrors& err) {
  const bool ascending = spec.order && query.count("order") && query.at("order") == "asc";
  for (const auto& [k, v] : query) {
    long long n = 0;
    if (k == "limit") {
      if (!ParseInteger(v, 1, 1000, n)) err.Add("/query/limit", "must be a number from 1 to 1000");
      else f.limit = static_cast<size_t>(n);
    } else if (k == "cursor") {
      if (!ParseInteger(v, 1, INT64_MAX, n)) err.Add("/query/cursor", "must be the next_cursor of a previous page");
      else (ascending ? f.after_id : f.before_id) = n;
    } else if (k == "order" && spec.order) {
      if (v != "asc" && v != "desc") err.Add("/query/order", "must be asc (oldest first, for polling) or desc (newest first)");
      f.newest_first = v != "asc";
    } else if (k == "from" || k == "to") {
      ReadTimeParameter(k, v, k == "from" ? f.since : f.until, err);
    } else if (auto it = std::find_if(spec.text.begin(), spec.text.end(), [&key = k](const auto& t) { return t.first == key; });
               it != spec.text.end()) {
      f.*(it->second) = v;
    } else if (!spec.other || !spec.other(k, v, err)) {
      err.Add("/query/" + PointerToken(k), spec.unknown);
    }
  }
}

std::optional<std::string> NextCursor(const std::vector<store::Event>& page, const store::EventFilter& f) {
  if (page.empty() || page.size() != f.limit) return std::nullopt;
  return std::to_string(page.back().id);
}

}  // namespace kurier::api
