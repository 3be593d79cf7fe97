// mx_route.cpp - route planning for outbound delivery.
// SECURITY: decodes DNS data that an attacker controlling a domain's zone chooses: every length is
// checked against the buffer, names are bounded to 255 octets and 63-octet labels.
// STANDARDS: RFC 5321 5.1 (MX ordering, implicit MX), RFC 7505 (null MX), RFC 1035 3.1/3.3.9 (wire names, MX).
#include "dns/mx_route.hpp"

#include <algorithm>
#include <map>

namespace kurier::dns {

std::optional<std::string> DecodeWireName(const unsigned char* data, std::size_t len, std::size_t* consumed) {
  std::string out;
  std::size_t i = 0;
  while (true) {
    if (i >= len) return std::nullopt;
    unsigned label = data[i++];
    if (label == 0) break;
    if (label > 63 || i + label > len) return std::nullopt;  // compression pointers are not allowed here
    if (!out.empty()) out += '.';
    for (unsigned k = 0; k < label; ++k) {
      char c = static_cast<char>(data[i + k]);
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      out += c;
    }
    i += label;
    if (out.size() > 253) return std::nullopt;
  }
  if (consumed) *consumed = i;
  return out;
}

std::optional<MxRecord> DecodeMxRdata(const unsigned char* data, std::size_t len) {
  if (len < 3) return std::nullopt;
  MxRecord r;
  r.preference = static_cast<uint16_t>((data[0] << 8) | data[1]);
  std::size_t used = 0;
  auto name = DecodeWireName(data + 2, len - 2, &used);
  if (!name || used != len - 2) return std::nullopt;
  r.exchange = *name;
  return r;
}

Route PlanRoute(std::string_view domain, const MxAnswer& mx, std::mt19937& rng) {
  Route route;
  switch (mx.rcode) {
    case Rcode::kTempFail:
      route.kind = RouteKind::kTempFail;
      route.detail = "DNS lookup of the MX records of " + std::string(domain) + " failed: " + mx.error;
      return route;
    case Rcode::kNxDomain:
      route.kind = RouteKind::kNxDomain;
      route.detail = "the domain " + std::string(domain) + " does not exist (NXDOMAIN)";
      return route;
    case Rcode::kNoData:
      route.kind = RouteKind::kImplicit;
      route.hosts = {std::string(domain)};
      route.detail = std::string(domain) + " has no MX records; using its address records (RFC 5321 5.1)";
      return route;
    case Rcode::kOk: break;
  }
  // RFC 7505: a single MX with an empty exchange ("." ) means the domain accepts no mail.
  bool null_mx = std::any_of(mx.records.begin(), mx.records.end(), [](const MxRecord& r) { return r.exchange.empty(); });
  if (null_mx) {
    route.kind = RouteKind::kNullMx;
    route.detail = std::string(domain) + " publishes a null MX: it accepts no mail (RFC 7505)";
    return route;
  }
  std::map<uint16_t, std::vector<std::string>> by_pref;
  for (const auto& r : mx.records) {
    auto& v = by_pref[r.preference];
    if (std::find(v.begin(), v.end(), r.exchange) == v.end()) v.push_back(r.exchange);
  }
  route.kind = RouteKind::kMx;
  for (auto& [pref, hosts] : by_pref) {
    std::shuffle(hosts.begin(), hosts.end(), rng);  // RFC 5321 5.1: spread load among equals
    for (auto& h : hosts)
      if (std::find(route.hosts.begin(), route.hosts.end(), h) == route.hosts.end()) route.hosts.push_back(h);
  }
  route.detail = std::to_string(route.hosts.size()) + " MX host(s) for " + std::string(domain);
  return route;
}

}  // namespace kurier::dns
