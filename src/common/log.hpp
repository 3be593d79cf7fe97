// log.hpp - logging set-up (spdlog to stderr).
#pragma once
#include <string>

namespace kurier {
void InitLogging(const std::string& level);
}
