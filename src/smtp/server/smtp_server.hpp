// smtp_server.hpp - the SMTP listeners (submission 587/STARTTLS, submissions 465/implicit TLS and
// the trusted-network relay listener) driving proto::ServerSession over Boost.Asio.
#pragma once
#include <memory>

#include "common/config.hpp"
#include "common/result.hpp"

namespace kurier::store {
class Store;
}
namespace kurier::spool {
class Spool;
}

namespace kurier::smtp::server {

class SmtpServer {
 public:
  SmtpServer(const Config& config, store::Store& store, spool::Spool& spool);
  ~SmtpServer();
  /// Binds every enabled listener; fails with the address and the reason (e.g. in use).
  Result<void> Start();
  /// Serves until SIGINT/SIGTERM or Stop(); returns after the listeners are closed.
  void Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kurier::smtp::server
