// secret.cpp - the node's signing secret. SECURITY: created with O_EXCL and mode 0600 so that another
// process cannot pre-create or read it; never logged.
#include "common/secret.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace kurier {

Result<std::string> LoadOrCreateSecret(const std::filesystem::path& path) {
  constexpr std::size_t kBytes = 32;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    std::filesystem::create_directories(path.parent_path(), ec);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      unsigned char buf[kBytes];
      randombytes_buf(buf, sizeof buf);
      bool ok = ::write(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf) && ::fsync(fd) == 0;
      ::close(fd);
      sodium_memzero(buf, sizeof buf);
      if (!ok) return MakeError(ErrorCode::kStorage, path.string() + ": cannot write the new secret: " + std::strerror(errno));
    } else if (errno != EEXIST) {
      return MakeError(ErrorCode::kStorage, path.string() + ": cannot create the secret (" + std::strerror(errno) +
                                                "); check that the data directory is writable");
    }
  }
  std::ifstream in(path, std::ios::binary);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return MakeError(ErrorCode::kStorage, path.string() + ": cannot read the secret");
  if (secret.size() < kBytes)
    return MakeError(ErrorCode::kConfig, path.string() + " holds " + std::to_string(secret.size()) +
                                             " bytes; a secret needs at least 32: remove the file to have a new one made "
                                             "(links and bounce addresses signed with the old one stop working)");
  return secret;
}

}  // namespace kurier
