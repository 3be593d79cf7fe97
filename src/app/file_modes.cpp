// file_modes.cpp - what kurier keeps on disk is for its own user only.
// SECURITY: the database (credential hashes, encrypted webhook secrets, events with recipients'
// addresses), the spool (every queued message), kurier.toml (backup relay passwords), the node secret,
// TLS and DKIM private keys. main() sets umask 077, so everything made since is 0600/0700; an install
// made by an older kurier (files 0644 inside a 0700 directory) is tightened when `serve` starts.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "app/app.hpp"

namespace kurier::app {

namespace {

std::string Octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Removes the group and other bits of one entry (no symlink is followed). Returns false when something
// was wrong and could not be fixed (it has been logged with the command that fixes it).
bool Tighten(const std::filesystem::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return true;  // gone meanwhile, or never made
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return true;  // symlinks (their targets are someone else's), sockets
  if ((st.st_mode & 077) == 0) return true;
  const mode_t want = st.st_mode & 0700;
  const char* fix = S_ISDIR(st.st_mode) ? "chmod 700 " : "chmod 600 ";
  if (st.st_uid != ::geteuid()) {
    spdlog::warn("{} is mode {} (readable by other users) and belongs to another user, so kurier cannot change it; run: {}{}",
                 p.string(), Octal(st.st_mode), fix, p.string());
    return false;
  }
  if (::chmod(p.c_str(), want) != 0) {
    spdlog::warn("{} is mode {} (readable by other users) and chmod failed ({}); run: {}{}", p.string(), Octal(st.st_mode),
                 std::strerror(errno), fix, p.string());
    return false;
  }
  spdlog::warn("{} was mode {}, readable by other users; kurier set it to {} (its files are for its own user only)",
               p.string(), Octal(st.st_mode), Octal(want));
  return true;
}

// A configuration that root keeps and only kurier's group may read (root:kurier 0640, as the Debian
// package installs /etc/kurier/kurier.toml) is as it should be: kurier reads it and cannot change it.
bool KeptByRootForOurGroup(const std::filesystem::path& p) {
  struct stat st {};
  return ::geteuid() != 0 && ::stat(p.c_str(), &st) == 0 && st.st_uid == 0 && st.st_gid == ::getegid() &&
         (st.st_mode & 027) == 0;
}

}  // namespace

void TightenFileModes(const Config& config) {
  constexpr int kMaxEntries = 100000;  // a data directory is a handful of files; stop before walking a whole disk
  if (!KeptByRootForOurGroup(config.file)) Tighten(config.file);
  Tighten(config.data_dir);
  // Files kurier names outside the data directory (absolute paths in kurier.toml).
  for (const auto& p : {config.sqlite_path, config.spool_path, config.secret_file, config.tls_private_key, config.arc.key_file,
                        config.store_password_file}) {
    if (p.empty()) continue;
    Tighten(p);
    for (const char* suffix : {"-wal", "-shm"}) Tighten(p.string() + suffix);
  }
  Tighten(config.spool_path.parent_path());
  std::error_code ec;
  int seen = 0;
  for (std::filesystem::recursive_directory_iterator it(config.data_dir, std::filesystem::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (++seen > kMaxEntries) {
      spdlog::warn("{} holds more than {} entries; file modes were checked for the first ones only", config.data_dir.string(),
                   kMaxEntries);
      break;
    }
    Tighten(it->path());
  }
}

}  // namespace kurier::app
