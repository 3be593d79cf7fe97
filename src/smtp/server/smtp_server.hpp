// smtp_server.hpp - the SMTP listeners (submission 587/STARTTLS, submissions 465/implicit TLS and
// the trusted-network relay listener) driving proto::ServerSession over Boost.Asio.
#pragma once
#include <memory>

#include "common/config.hpp"
#include "common/result.hpp"

namespace boost::asio {
class io_context;
}
namespace kurier::store {
class Store;
}
namespace kurier::spool {
class Spool;
}

namespace kurier::smtp::server {

class SmtpServer {
 public:
  /// Runs on `ioc`, whose threads the caller provides.
  SmtpServer(const Config& config, store::Store& store, spool::Spool& spool, boost::asio::io_context& ioc);
  ~SmtpServer();
  /// Binds every enabled listener; fails with the address and the reason (e.g. in use).
  Result<void> Start();
  /// Closes the listeners; sessions answer 421 at their next command.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kurier::smtp::server
