// control.hpp - the control socket: `kurier queue retry|delete|suspend|resume`, `kurier auth
// status|unblock` and `kurier status` talk to a running server through a UNIX socket in the data
// directory (only the owner may connect: mode 0600).
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace boost::asio {
class io_context;
}
namespace kurier::delivery {
class DeliveryManager;
}
namespace kurier {
struct Config;
}

namespace kurier::app {

struct ControlAnswer;

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& ioc, std::filesystem::path path, delivery::DeliveryManager& delivery);
  ~ControlServer();
  /// A command answered at once on the control socket's strand (before Start). `handler` gets the
  /// request's argument.
  void AddHandler(std::string command, std::function<ControlAnswer(const std::string& argument)> handler);
  /// With delivery off the queue commands are left to the client, which then changes the spool itself.
  void SetDeliveryRunning(bool running);
  Result<void> Start();
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

struct ControlAnswer {
  bool ok = false;
  std::string detail;
  bool unhandled = false;  ///< the server does not act on this command now (SendControl gives nullopt)
};

/// Registers "status": what `kurier status` shows of the running server as a JSON object: its pid, when
/// it started, the listeners it serves (name and address, from the configuration it runs with) and
/// whether delivery runs.
void AddStatusHandler(ControlServer& control, const Config& config);

/// The most ids one "delete-many" request carries (its request line stays within the socket's 4 KiB).
constexpr std::size_t kDeleteManyBatch = 150;

/// Sends one command; nullopt when no server listens on `path`, or it leaves the command to the caller
/// (the caller acts on the files itself).
std::optional<ControlAnswer> SendControl(const std::filesystem::path& path, const std::string& command,
                                         const std::string& argument);

}  // namespace kurier::app
