// mx_route.hpp - from DNS answers to the ordered list of hosts to try for a recipient domain
// (RFC 5321 5.1, RFC 7505 null MX). Pure: the resolver feeds it answers, tests feed it tables.
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace kurier::dns {

enum class Rcode {
  kOk,        ///< records found
  kNoData,    ///< the name exists, no record of this type
  kNxDomain,  ///< the name does not exist
  kTempFail,  ///< SERVFAIL, REFUSED, timeout, DNSSEC bogus: try again later
};

struct MxRecord {
  uint16_t preference = 0;
  std::string exchange;  ///< lower case, without the trailing dot; "" for the root (null MX)
};

struct MxAnswer {
  Rcode rcode = Rcode::kTempFail;
  std::vector<MxRecord> records;
  std::string error;  ///< for kTempFail: what went wrong
};

enum class RouteKind {
  kMx,        ///< deliver to `hosts`, in order
  kImplicit,  ///< no MX: the domain itself is the host (RFC 5321 5.1)
  kNullMx,    ///< the domain accepts no mail: fail permanently (RFC 7505)
  kNxDomain,  ///< the domain does not exist: fail permanently
  kTempFail,  ///< DNS could not answer: defer
};

struct Route {
  RouteKind kind = RouteKind::kTempFail;
  std::vector<std::string> hosts;  ///< exchanges by preference, equal preferences in random order
  std::string detail;              ///< human text for events and DSNs
};

/// Plans the route for `domain` from its MX answer; `rng` shuffles equal preferences.
Route PlanRoute(std::string_view domain, const MxAnswer& mx, std::mt19937& rng);

/// Decodes an uncompressed wire-format domain name (RFC 1035 3.1) at `data[0..len)` into dotted
/// lower-case text without the trailing dot. nullopt when malformed.
std::optional<std::string> DecodeWireName(const unsigned char* data, std::size_t len, std::size_t* consumed = nullptr);
/// Decodes MX RDATA (preference + exchange).
std::optional<MxRecord> DecodeMxRdata(const unsigned char* data, std::size_t len);

}  // namespace kurier::dns
