// tls_context.hpp - the server's TLS configuration (OpenSSL 3 through Asio): the checks of a certificate
// and its key, and the context the SMTP listeners hand each new connection, reloaded when the files change.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "common/config.hpp"
#include "common/result.hpp"

namespace boost::asio::ssl {
class context;
}

namespace kurier::smtp::server {

/// A server context with the configured certificate, key, minimum version and cipher policy
/// (tls.ciphers, see net/tls_policy.hpp); TLS 1.0/1.1, compression and renegotiation are off.
Result<void> ConfigureServerTls(boost::asio::ssl::context& ctx, const Config& config);

/// What a certificate file holds, for messages.
struct CertificateSummary {
  std::string subject;    ///< e.g. "CN=mail.example.com"
  std::string not_after;  ///< e.g. "Mar  1 12:00:00 2027 GMT"
  bool self_signed = false;
  bool expired = false;
};

/// Checks that `cert` is a readable PEM certificate (the first of a chain) and `key` the readable PEM
/// private key that belongs to it. Errors name the file by its label (e.g. "--tls-cert" or
/// "tls.certificate") and path and say what is wrong: unreadable, no PEM certificate or key in it, the
/// two swapped, or a key of another certificate. An expired certificate is not an error (see `expired`).
Result<CertificateSummary> CheckCertificatePair(const std::filesystem::path& cert, const std::filesystem::path& key,
                                                const std::string& cert_label = "tls.certificate",
                                                const std::string& key_label = "tls.private_key");

/// The TLS context the listeners give each new connection. `Reload` builds a new one from
/// tls.certificate and tls.private_key; connections already open keep the one they started with.
/// `Poll`, called every tls.reload_interval, reloads once the files have changed and then stayed the same
/// for one interval (so a file being written is not read half-way). Thread-safe.
class ServerTlsContext {
 public:
  explicit ServerTlsContext(const Config& config);
  ~ServerTlsContext();

  /// Loads both files into a new context; on success new connections get it, on failure the current
  /// one stays (the error says which file is wrong and how).
  Result<CertificateSummary> Reload();
  /// True when the files changed since the last Reload and have not changed since the last Poll: the
  /// caller then reloads (a change that fails to load is not retried until the files change again).
  bool Poll();
  /// The context for a new connection (kept alive by the connection while it lasts).
  std::shared_ptr<boost::asio::ssl::context> Current() const;

  /// Identity of both files (device, inode, size, modification and change times; stat follows the
  /// symbolic links certbot's live/ directory is made of).
  struct Stamp {
    dev_t dev[2] = {0, 0};
    ino_t ino[2] = {0, 0};
    off_t size[2] = {0, 0};
    long long mtime_ns[2] = {0, 0}, ctime_ns[2] = {0, 0};
    bool operator==(const Stamp&) const = default;
  };

 private:
  Stamp Read() const;

  const Config& config_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  Stamp loaded_{}, last_seen_{};
};

}  // namespace kurier::smtp::server
