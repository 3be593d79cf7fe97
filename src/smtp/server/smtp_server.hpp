// smtp_server.hpp - the SMTP listeners (submission 587/STARTTLS, submissions 465/implicit TLS and
// the trusted-network relay listener, and the bounce listener for DSNs and feedback reports) driving proto::ServerSession over Boost.Asio.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

class AuthService;

/// What the bounce listener (smtp.inbound) needs from the rest of kurier.
struct InboundHooks {
  /// Whether mail to this lower-case domain is taken (a return-path domain of a sending domain).
  /// Called on I/O threads: answer from memory.
  std::function<bool(const std::string& domain)> accepts;
  /// Processes one received message (bounce, complaint, auto-reply) before the 250: runs on a worker
  /// thread; returns "" when it is recorded, else a short reason (answered 451, the sender retries).
  std::function<std::string(const std::string& mail_from, const std::vector<std::string>& recipients,
                            const std::string& client_ip, std::string message)>
      process;
};

class SmtpServer {
 public:
  /// Runs on `ioc`, whose threads the caller provides.
  SmtpServer(const Config& config, store::Store& store, spool::Spool& spool, boost::asio::io_context& ioc);
  ~SmtpServer();
  /// Needed before Start when smtp.inbound is enabled.
  void SetInboundHooks(InboundHooks hooks);
  /// Binds every enabled listener; fails with the address and the reason (e.g. in use).
  Result<void> Start();
  /// Closes the listeners; sessions answer 421 at their next command.
  void Stop();
  /// AUTH throttling state, for `kurier auth status|unblock` (thread-safe).
  AuthService& auth_service();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kurier::smtp::server
