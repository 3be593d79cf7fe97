// log.cpp - spdlog on stderr with a level and a format (text or JSON lines) from configuration.
#include "common/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <memory>

#include "common/encoding.hpp"

namespace kurier {
namespace {

// `s` as the inside of a JSON string (RFC 8259): every byte string gives valid JSON in UTF-8.
void AppendJsonEscaped(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\\ufffd";  // a byte that is not part of valid UTF-8
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

std::atomic<bool> json_logging{false};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    std::string line = JsonLogLine(msg.time, std::string_view(level.data(), level.size()),
                                   std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

std::string JsonLogLine(std::chrono::system_clock::time_point time, std::string_view level, std::string_view message) {
  using namespace std::chrono;
  const auto since = time.time_since_epoch();
  const std::time_t secs = static_cast<std::time_t>(floor<seconds>(since).count());
  const auto millis = static_cast<int>(floor<milliseconds>(since).count() - int64_t{secs} * 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  std::string out = "{\"time\":\"";
  out.reserve(message.size() + 80);
  out += stamp;
  out += "\",\"level\":\"";
  AppendJsonEscaped(out, level);
  out += "\",\"message\":\"";
  AppendJsonEscaped(out, message);
  out += "\"}\n";
  return out;
}

bool JsonLogging() { return json_logging; }

void InitLogging(const std::string& level, const std::string& format) {
  // stderr only: stdout belongs to command output (JSON, tables).
  if (!spdlog::get("kurier")) spdlog::set_default_logger(spdlog::stderr_logger_mt("kurier"));
  json_logging = format == "json";
  if (json_logging)
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  else
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}
}  // namespace kurier
