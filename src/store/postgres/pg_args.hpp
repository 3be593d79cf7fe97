// pg_args.hpp - statement parameters from C++ values: Args(name, 42, true, std::nullopt) gives the text
// forms PostgreSQL reads for text, bigint, boolean and NULL, so call sites stay one line like SQLite's binds.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "store/postgres/pg_db.hpp"

namespace kurier::store::pg {

inline Param Arg(const std::string& s) { return s; }
inline Param Arg(std::string_view s) { return std::string(s); }
inline Param Arg(const char* s) { return std::string(s); }
inline Param Arg(bool b) { return std::string(b ? "true" : "false"); }
inline Param Arg(std::nullopt_t) { return std::nullopt; }
template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
Param Arg(T v) {
  return std::to_string(v);
}
template <class T>
Param Arg(const std::optional<T>& v) {
  return v ? Arg(*v) : std::nullopt;
}

template <class... A>
std::vector<Param> Args(const A&... a) {
  return {Arg(a)...};
}

/// A boolean column as PostgreSQL sends it in text form ("t" or "f").
inline bool Bool(const Result& r, int row, int column) { return r.Text(row, column) == "t"; }

}  // namespace kurier::store::pg
