// smtp_server.hpp - the SMTP listeners (submission 587/STARTTLS, submissions 465/implicit TLS and
// the trusted-network relay listener, and the bounce listener for DSNs and feedback reports) driving proto::ServerSession over Boost.Asio.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"

namespace boost::asio {
class io_context;
}
namespace kurier::store {
class Store;
}
namespace kurier::bounce {
class FeedbackIntake;
}
namespace kurier::spool {
class Spool;
}

namespace kurier::smtp::server {

class AuthService;

class SmtpServer {
 public:
  /// Runs on `ioc`, whose threads the caller provides.
  SmtpServer(const Config& config, store::Store& store, spool::Spool& spool, boost::asio::io_context& ioc);
  ~SmtpServer();
  /// What the bounce listener (smtp.inbound) does with mail: the domains it takes (FeedbackIntake::Accepts,
  /// on I/O threads) and each message before the 250 (Process, on a worker thread; a reason it returns
  /// is answered 451 and the sender retries). Needed before Start when smtp.inbound is enabled.
  void SetBounceIntake(bounce::FeedbackIntake* intake);
  /// Binds every enabled listener; fails with the address and the reason (e.g. in use).
  Result<void> Start();
  /// Loads tls.certificate and tls.private_key again (SIGHUP; the files are also watched every
  /// tls.reload_interval): new connections get the new certificate, open ones keep theirs. A pair that
  /// does not load is logged (with `why`) and returned, and the certificate in use is kept.
  Result<void> ReloadTls(std::string_view why);
  /// Closes the listeners; sessions answer 421 at their next command.
  void Stop();
  struct BoundListener {
    std::string name;  ///< "submission", "submissions", "relay", "inbound"
    std::string host;  ///< the address bound, e.g. "127.0.0.1" or "::1"
    uint16_t port = 0;  ///< the port bound (the one the system chose for a configured port 0)
  };
  /// The listeners Start bound, in that order.
  std::vector<BoundListener> bound() const;
  /// AUTH throttling state, for `kurier auth status|unblock` (thread-safe).
  AuthService& auth_service();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kurier::smtp::server
