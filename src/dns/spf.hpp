// spf.hpp - SPF evaluation (RFC 7208 check_host()) for `kurier domain check`: does a domain's SPF
// record authorise kurier's egress addresses, and how many DNS lookups does it cost (the limit is 10,
// RFC 7208 4.6.4). DNS is injected, so tests feed tables and the CLI feeds the resolver.
#pragma once
#include <functional>
#include <string>

#include "dns/resolver.hpp"

namespace kurier::dns {

enum class SpfResult { kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };
const char* SpfResultName(SpfResult r);

struct SpfLookups {
  std::function<TxtAnswer(const std::string&)> txt;
  std::function<AddressAnswer(const std::string&)> addresses;  ///< A and AAAA together
  std::function<MxAnswer(const std::string&)> mx;
};

struct SpfEvaluation {
  SpfResult result = SpfResult::kNone;
  int lookups = 0;          ///< DNS-querying terms evaluated (include, a, mx, ptr, exists, redirect)
  std::string record;       ///< the top-level record, when one was found
  std::string matched;      ///< the term that decided, e.g. "ip4:192.0.2.0/24" or "include:_spf.example.net"
  std::string explanation;  ///< for none, permerror and temperror: what went wrong
};

/// RFC 7208 4: evaluates `domain`'s SPF policy for a message from `ip` (textual IPv4 or IPv6) with
/// MAIL FROM `sender` (local@domain; macros use it) and HELO `helo`.
SpfEvaluation CheckHost(const std::string& ip, const std::string& domain, const std::string& sender,
                        const std::string& helo, const SpfLookups& dns);

/// The DNS-lookup count of `domain`'s policy as a whole (every include and redirect followed, as
/// evaluating for an address that matches nothing would); permerror past 10 is what RFC 7208 4.6.4
/// makes receivers return.
SpfEvaluation CountLookups(const std::string& domain, const SpfLookups& dns);

}  // namespace kurier::dns
