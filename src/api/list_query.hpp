// list_query.hpp - the query parameters of the API's event-backed listings (GET /v1/events,
// GET /v1/messages), read in one place: limit, cursor, from/to and each listing's own filters, into a
// store::EventFilter, with one field error per bad parameter. No I/O and no Boost.
// STANDARDS: RFC 3339 (from/to), RFC 6901 (the error pointers), RFC 9457 (problem details).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/http.hpp"
#include "store/store.hpp"

namespace kurier::api {

/// What one listing accepts besides limit (1 to 1000), cursor, from and to.
struct ListQuerySpec {
  /// order=asc|desc is accepted (asc: oldest first, and a cursor counts forward from it).
  bool order = false;
  /// Filters copied into the EventFilter as given: parameter name and member.
  std::vector<std::pair<std::string, std::string store::EventFilter::*>> text;
  /// The listing's other parameters: true when it took `name` (adding to `err` what is wrong with it),
  /// false when `name` is not one of them.
  std::function<bool(const std::string& name, const std::string& value, FieldErrors& err)> other;
  /// The detail of an unknown parameter, e.g. "unknown filter; use type, ... limit, cursor".
  std::string unknown;
};

/// Reads `query` into `f`, which holds the listing's defaults (limit, order, account, type); each bad
/// parameter adds one error to `err`, in the order of the parameter names.
void ParseListQuery(const std::map<std::string, std::string>& query, const ListQuerySpec& spec, store::EventFilter& f,
                    FieldErrors& err);

/// A time as the listings take it: RFC 3339 ("2026-11-26T10:00:00Z", "...+01:00") or a span before `now`
/// ("90s", "15m", "1h", "7d", "2w"), in microseconds; nullopt when it is neither. Also `kurier events
/// list --since`.
std::optional<int64_t> ParseTimeOrAgo(const std::string& text, int64_t now);

/// A `from` or `to` parameter (ParseTimeOrAgo) into `out`; an error naming /query/NAME when it is not a time.
void ReadTimeParameter(const std::string& name, const std::string& value, int64_t& out, FieldErrors& err);

/// The next_cursor of a page read with `f`: the last event's id when the page is full, else none.
std::optional<std::string> NextCursor(const std::vector<store::Event>& page, const store::EventFilter& f);

}  // namespace kurier::api
