// log.hpp - logging set-up (spdlog to stderr): text lines, or one JSON object per line.
#pragma once
#include <chrono>
#include <string>
#include <string_view>

namespace kurier {
/// `format` is "text" (the default: "TIME LEVEL message") or "json" (one JSON object per line).
void InitLogging(const std::string& level, const std::string& format = "text");
/// True once InitLogging chose "json": a message that ends the program is then logged, not printed.
bool JsonLogging();

/// One log record as a line of JSON: {"time":"2026-12-07T06:30:00.123Z","level":"info","message":"..."}
/// and "\n". The time is RFC 3339 in UTC; the message is escaped so the line is valid JSON whatever it
/// holds (quotes, line breaks and other control characters escaped, invalid UTF-8 as U+FFFD).
std::string JsonLogLine(std::chrono::system_clock::time_point time, std::string_view level, std::string_view message);
}  // namespace kurier
