// password.hpp - Argon2id password hashes (libsodium crypto_pwhash_str).
#pragma once
#include <string>

#include "common/result.hpp"

namespace kurier::store {

Result<std::string> HashPassword(const std::string& password);
bool VerifyPassword(const std::string& hash, const std::string& password);

}  // namespace kurier::store
