// list_query.cpp - the query parameters of the API's event-backed listings (see list_query.hpp).
// STANDARDS: RFC 3339 (from/to), RFC 6901 (the error pointers), RFC 9457 (problem details).
#include "api/list_query.hpp"

#include <algorithm>
#include <iterator>

#include "common/ids.hpp"

namespace kurier::api {

std::optional<int64_t> ParseTimeOrAgo(const std::string& text, int64_t now) {
  if (auto t = ParseRfc3339(text)) return t;
  static constexpr std::pair<char, int64_t> kUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
  if (text.size() < 2) return std::nullopt;
  const auto unit = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& u) { return u.first == text.back(); });
  long long n = 0;
  if (unit == std::end(kUnits) || !ParseInteger(text.substr(0, text.size() - 1), 0, 100LL * 365 * 86400, n)) return std::nullopt;
  if (n * unit->second > 100LL * 365 * 86400) return std::nullopt;  // beyond a century: a typo
  return now - n * unit->second * 1'000'000;
}

void ReadTimeParameter(const std::string& name, const std::string& value, int64_t& out, FieldErrors& err) {
  auto t = ParseTimeOrAgo(value, NowMicros());
  if (!t) err.Add("/query/" + name, "must be an RFC 3339 time such as 2026-11-26T00:00:00Z, or a time ago such as 15m, 1h or 7d");
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
