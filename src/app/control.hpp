// control.hpp - the control socket: `kurier queue retry|delete|suspend|resume` talk to a running
// server through a UNIX socket in the data directory (only the owner may connect: mode 0600).
#pragma once
#include <filesystem>
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

namespace kurier::app {

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& ioc, std::filesystem::path path, delivery::DeliveryManager& delivery);
  ~ControlServer();
  Result<void> Start();
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

struct ControlAnswer {
  bool ok = false;
  std::string detail;
};

/// Sends one command; nullopt when no server listens on `path` (the caller acts on the files itself).
std::optional<ControlAnswer> SendControl(const std::filesystem::path& path, const std::string& command,
                                         const std::string& argument);

}  // namespace kurier::app
