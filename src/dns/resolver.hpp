// resolver.hpp - asynchronous DNS on libunbound: MX and address lookups with unbound's own cache
// (which honours TTLs). The upstream is configurable (dns.forward) so tests use a local server.
#pragma once
#include <functional>
#include <optional>
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

struct TxtAnswer {
  Rcode rcode = Rcode::kTempFail;
  std::vector<std::string> records;  ///< each record's character-strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)
  std::string error;
};

/// Names from PTR or CNAME records (lower case, without the trailing dot).
struct NameAnswer {
  Rcode rcode = Rcode::kTempFail;
  std::vector<std::string> names;
  std::string error;
};

/// The reverse-lookup name of a textual IPv4 or IPv6 address (RFC 1035 3.5, RFC 3596 2.5):
/// "192.0.2.1" -> "1.2.0.192.in-addr.arpa". nullopt when `address` is not an address.
std::optional<std::string> ReverseName(const std::string& address);

/// Decodes TXT RDATA (a sequence of length-prefixed character-strings) into one joined string.
std::optional<std::string> DecodeTxtRdata(const unsigned char* data, std::size_t len);

class Resolver {
 public:
  static Result<std::unique_ptr<Resolver>> Create(const ResolverConfig& config);
  ~Resolver();
  /// Callbacks run on the resolver's thread; post to your own executor from there.
  void ResolveMx(const std::string& domain, std::function<void(MxAnswer)> done);
  /// A and AAAA together.
  void ResolveAddresses(const std::string& host, std::function<void(AddressAnswer)> done);
  void ResolveTxt(const std::string& name, std::function<void(TxtAnswer)> done);
  /// PTR records of an address; CNAME records of a name.
  void ResolvePtr(const std::string& address, std::function<void(NameAnswer)> done);
  void ResolveCname(const std::string& name, std::function<void(NameAnswer)> done);
  /// Blocking variants, for the CLI.
  TxtAnswer ResolveTxtSync(const std::string& name);
  MxAnswer ResolveMxSync(const std::string& domain);
  AddressAnswer ResolveAddressesSync(const std::string& host);
  NameAnswer ResolvePtrSync(const std::string& address);
  NameAnswer ResolveCnameSync(const std::string& name);

 private:
  struct Impl;
  void ResolveNames(const std::string& name, int type, std::function<void(NameAnswer)> done);
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kurier::dns
