// segment_time.hpp - the times a segment compares created_at with: a date "2026-01-31" (a whole UTC day)
// or an RFC 3339 date-time "2026-01-31T12:00:00Z", "2026-01-31 12:00:00.5+02:00" (section 5.6; 't' and
// a space for 'T' as its note allows, 'z' for 'Z'). Internal to segment.cpp and segment_compile.cpp.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kurier::audience {

struct SegmentTime {
  int64_t micros = 0;      ///< microseconds since the epoch, UTC
  bool date_only = false;  ///< a date: the day from micros to micros + 24 h
};

inline std::optional<SegmentTime> ParseSegmentTime(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](std::size_t n, int& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k, ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  auto skip = [&](char c) { return i < s.size() && s[i] == c ? (++i, true) : false; };
  int year = 0, month = 0, day = 0;
  if (!digits(4, year) || !skip('-') || !digits(2, month) || !skip('-') || !digits(2, day)) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  const int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  SegmentTime out;
  if (i == s.size()) {
    out.micros = days * 86400LL * 1000000;
    out.date_only = true;
    return out;
  }
  if (!(skip('T') || skip('t') || skip(' '))) return std::nullopt;
  int hour = 0, minute = 0, second = 0;
  if (!digits(2, hour) || !skip(':') || !digits(2, minute) || !skip(':') || !digits(2, second)) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  int64_t fraction = 0;
  if (skip('.')) {
    int scale = 100000, d = 0, count = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (!digits(1, d) || ++count > 9) return std::nullopt;
      fraction += d * scale;
      scale /= 10;
    }
    if (count == 0) return std::nullopt;
  }
  int offset = 0;
  if (skip('Z') || skip('z')) {
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i++] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!digits(2, oh) || !skip(':') || !digits(2, om) || oh > 23 || om > 59) return std::nullopt;
    offset = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const int64_t secs = days * 86400LL + hour * 3600LL + minute * 60LL + std::min(second, 59) - offset * 60LL;
  out.micros = secs * 1000000 + fraction;
  return out;
}

}  // namespace kurier::audience
