// secret.hpp - the node's signing secret (server.secret_file): made once, kept across restarts.
#pragma once
#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace kurier {

/// The secret in `path` (at least 32 bytes); when the file does not exist it is created with 32 random
/// bytes, mode 0600. Fails when it cannot be read or made, or is shorter than 32 bytes.
Result<std::string> LoadOrCreateSecret(const std::filesystem::path& path);

}  // namespace kurier
