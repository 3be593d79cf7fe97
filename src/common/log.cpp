// log.cpp - spdlog on stderr with a level from configuration.
#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace kurier {
void InitLogging(const std::string& level) {
  // stderr only: stdout belongs to command output (JSON, tables).
  if (!spdlog::get("kurier")) spdlog::set_default_logger(spdlog::stderr_logger_mt("kurier"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}
}  // namespace kurier
