// resolver.hpp - asynchronous DNS on libunbound: MX and address lookups with unbound's own cache
// (which honours TTLs). The upstream is configurable (dns.forward) so tests use a local server.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "dns/mx_route.hpp"

namespace kurier::dns {

struct ResolverConfig {
  std::string forward;  ///< "127.0.0.1@5353" (or several, comma-separated); empty: /etc/resolv.conf
};

struct AddressAnswer {
  Rcode rcode = Rcode::kTempFail;
  std::vector<std::string> addresses;  ///< IPv6 first when present, then IPv4 (textual)
  std::string error;
};

class Resolver {
 public:
  static Result<std::unique_ptr<Resolver>> Create(const ResolverConfig& config);
  ~Resolver();
  /// Callbacks run on the resolver's thread; post to your own executor from there.
  void ResolveMx(const std::string& domain, std::function<void(MxAnswer)> done);
  /// A and AAAA together.
  void ResolveAddresses(const std::string& host, std::function<void(AddressAnswer)> done);
  /// Blocking variants, for the CLI.
  MxAnswer ResolveMxSync(const std::string& domain);
  AddressAnswer ResolveAddressesSync(const std::string& host);

 private:
  struct Impl;
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kurier::dns
