// control.hpp - the control socket: `kurier queue retry|delete|suspend|resume`, `kurier auth
// status|unblock` and `kurier status` talk to a running server through a UNIX socket in the data
// directory (only the owner may connect: mode 0600).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

/// A listener as `kurier status` names it: {"submission", "127.0.0.1:2587"}.
struct ListenerAddress {
  std::string name, address;
};
/// "127.0.0.1:2587", "[::1]:2587".
std::string HostPort(const std::string& host, uint16_t port);
/// The listeners the configuration enables, as it writes them (what `kurier status` shows, saying so,
/// when no server runs).
std::vector<ListenerAddress> ConfiguredListeners(const Config& config);

/// Registers "status": what `kurier status` shows of the running server as a JSON object: its pid, when
/// it started, the listeners it bound (`listeners`: each address and port as bound, so a configured
/// port 0 shows the port the system chose) and whether delivery runs. Before the server runs its
/// io_context (the handler map is not locked).
void AddStatusHandler(ControlServer& control, const Config& config, std::vector<ListenerAddress> listeners);

/// The most ids one "delete-many" request carries (its request line stays within the socket's 4 KiB).
constexpr std::size_t kDeleteManyBatch = 150;

/// Sends one command; nullopt when no server listens on `path`, or it leaves the command to the caller
/// (the caller acts on the files itself).
std::optional<ControlAnswer> SendControl(const std::filesystem::path& path, const std::string& command,
                                         const std::string& argument);

}  // namespace kurier::app
