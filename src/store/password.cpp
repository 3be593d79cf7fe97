// password.cpp - Argon2id hashing with libsodium's interactive limits (about 64 MiB, 2 passes):
// expensive enough to slow down guessing from a stolen database, cheap enough per login.
#include "store/password.hpp"

#include <sodium.h>

namespace kurier::store {

Result<std::string> HashPassword(const std::string& password) {
  if (sodium_init() < 0) return MakeError(ErrorCode::kInternal, "libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return MakeError(ErrorCode::kInternal, "out of memory while hashing a password (Argon2id needs 64 MiB)");
  return std::string(out);
}

bool VerifyPassword(const std::string& hash, const std::string& password) {
  if (sodium_init() < 0) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace kurier::store
