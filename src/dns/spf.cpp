// spf.cpp - RFC 7208 check_host(): record selection (4.5), mechanisms and modifiers (5, 6), the
// 10-lookup and 2-void-lookup limits (4.6.4), include/redirect results (5.2, 6.1) and macros (7).
// SECURITY: records come from DNS; evaluation is bounded by the lookup limits and a recursion depth.
#include "dns/spf.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "common/cidr.hpp"
#include "common/encoding.hpp"

namespace kurier::dns {

const char* SpfResultName(SpfResult r) {
  switch (r) {
    case SpfResult::kNone: return "none";
    case SpfResult::kNeutral: return "neutral";
    case SpfResult::kPass: return "pass";
    case SpfResult::kFail: return "fail";
    case SpfResult::kSoftFail: return "softfail";
    case SpfResult::kTempError: return "temperror";
    case SpfResult::kPermError: return "permerror";
  }
  return "?";
}

namespace {

constexpr int kMaxLookups = 10, kMaxVoidLookups = 2, kMaxMxNames = 10;

struct Context {
  std::string ip, sender, helo;
  const SpfLookups& dns;
  int lookups = 0, void_lookups = 0, depth = 0;
};

struct Stop {  // a terminal error raised from deep inside evaluation
  SpfResult result;
  std::string explanation;
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

void CountLookup(Context& c, const std::string& term) {
  if (++c.lookups > kMaxLookups)
    throw Stop{SpfResult::kPermError, "more than 10 DNS lookups (at '" + term +
                                          "'): receivers treat the record as broken (RFC 7208 4.6.4); flatten includes "
                                          "or use ip4:/ip6: terms"};
}

void CountVoid(Context& c, Rcode rc, const std::string& term) {
  if (rc == Rcode::kTempFail) throw Stop{SpfResult::kTempError, "DNS lookup for '" + term + "' failed"};
  if ((rc == Rcode::kNoData || rc == Rcode::kNxDomain) && ++c.void_lookups > kMaxVoidLookups)
    throw Stop{SpfResult::kPermError, "more than 2 lookups returned nothing (at '" + term + "', RFC 7208 4.6.4)"};
}

// RFC 7208 7: macro-string expansion. Transformers (digits, 'r') and delimiters are supported.
std::string ExpandMacros(const std::string& spec, const std::string& domain, const Context& c) {
  std::string out;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] != '%') {
      out += spec[i];
      continue;
    }
    if (++i >= spec.size()) throw Stop{SpfResult::kPermError, "'%' at the end of '" + spec + "'"};
    char m = spec[i];
    if (m == '%') { out += '%'; continue; }
    if (m == '_') { out += ' '; continue; }
    if (m == '-') { out += "%20"; continue; }
    if (m != '{') throw Stop{SpfResult::kPermError, "bad macro in '" + spec + "'"};
    size_t close = spec.find('}', i);
    if (close == std::string::npos || close == i + 1) throw Stop{SpfResult::kPermError, "unclosed macro in '" + spec + "'"};
    std::string body = spec.substr(i + 1, close - i - 1);
    i = close;
    char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(body[0])));
    std::string value;
    auto at = c.sender.rfind('@');
    switch (letter) {
      case 's': value = c.sender; break;
      case 'l': value = at == std::string::npos ? "postmaster" : c.sender.substr(0, at); break;
      case 'o': value = at == std::string::npos ? c.sender : c.sender.substr(at + 1); break;
      case 'd': value = domain; break;
      case 'h': value = c.helo; break;
      case 'v': value = c.ip.find(':') == std::string::npos ? "in-addr" : "ip6"; break;
      case 'i': {
        auto rev = ReverseName(c.ip);  // nibbles/octets reversed; undo the reversal
        if (!rev) throw Stop{SpfResult::kPermError, "bad address " + c.ip};
        std::string labels = rev->substr(0, rev->rfind(c.ip.find(':') == std::string::npos ? ".in-addr.arpa" : ".ip6.arpa"));
        std::vector<std::string> parts;
        std::stringstream ss(labels);
        for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
        std::reverse(parts.begin(), parts.end());
        for (size_t k = 0; k < parts.size(); ++k) value += (k ? "." : "") + parts[k];
        break;
      }
      default: throw Stop{SpfResult::kPermError, "unknown macro letter '" + std::string(1, body[0]) + "' in '" + spec + "'"};
    }
    // transformers: digits then optional 'r'; then delimiters
    size_t k = 1;
    int keep = 0;
    while (k < body.size() && std::isdigit(static_cast<unsigned char>(body[k]))) keep = keep * 10 + (body[k++] - '0');
    bool reverse = k < body.size() && (body[k] == 'r' || body[k] == 'R');
    if (reverse) ++k;
    std::string delims = body.substr(k);
    if (delims.empty()) delims = ".";
    if (delims.find_first_not_of(".-+,/_=") != std::string::npos)
      throw Stop{SpfResult::kPermError, "bad macro delimiter in '" + spec + "'"};
    std::vector<std::string> parts;
    std::string cur;
    for (char ch : value) {
      if (delims.find(ch) != std::string::npos) parts.push_back(cur), cur.clear();
      else cur += ch;
    }
    parts.push_back(cur);
    if (reverse) std::reverse(parts.begin(), parts.end());
    if (keep > 0 && static_cast<size_t>(keep) < parts.size()) parts.erase(parts.begin(), parts.end() - keep);
    for (size_t p = 0; p < parts.size(); ++p) out += (p ? "." : "") + parts[p];
  }
  return out;
}

// Splits "a:domain/24//64" style arguments into domain-spec and the two CIDR lengths.
struct DualCidr {
  std::string domain;
  int v4 = 32, v6 = 128;
};

DualCidr ParseDualCidr(const std::string& arg, const std::string& term) {
  DualCidr d;
  std::string rest = arg;
  auto dbl = rest.find("//");
  auto to_int = [&](const std::string& s, int max) {
    if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string::npos || std::stoi(s) > max)
      throw Stop{SpfResult::kPermError, "bad prefix length in '" + term + "'"};
    return std::stoi(s);
  };
  if (dbl != std::string::npos) {
    d.v6 = to_int(rest.substr(dbl + 2), 128);
    rest = rest.substr(0, dbl);
  }
  auto slash = rest.rfind('/');
  if (slash != std::string::npos) {
    d.v4 = to_int(rest.substr(slash + 1), 32);
    rest = rest.substr(0, slash);
  }
  d.domain = rest;
  return d;
}

bool AddressMatches(const std::string& ip, const std::string& candidate, const DualCidr& lens) {
  bool v6 = candidate.find(':') != std::string::npos;
  auto net = Cidr::Parse(candidate + "/" + std::to_string(v6 ? lens.v6 : lens.v4));
  return net && net->Contains(ip);
}

SpfResult Evaluate(Context& c, const std::string& domain, std::string* record_out, std::string* matched,
                   std::string* why);

SpfResult EvaluateRecord(Context& c, const std::string& domain, const std::string& record, std::string* matched) {
  auto terms = Split(record);
  std::string redirect;
  bool has_all = false;
  for (size_t t = 1; t < terms.size(); ++t) {
    std::string term = terms[t];
    std::string lower = ToLowerAscii(term);
    // modifiers (name=value, RFC 7208 6)
    auto eq = lower.find('=');
    auto colon = lower.find(':');
    if (eq != std::string::npos && (colon == std::string::npos || eq < colon)) {
      std::string name = lower.substr(0, eq);
      if (name == "redirect") {
        if (!redirect.empty()) throw Stop{SpfResult::kPermError, "two redirect= modifiers"};
        redirect = term.substr(eq + 1);
      }
      continue;  // exp= and unknown modifiers do not change the result
    }
    SpfResult qualifier = SpfResult::kPass;
    if (!lower.empty() && std::string("+-~?").find(lower[0]) != std::string::npos) {
      qualifier = lower[0] == '+' ? SpfResult::kPass : lower[0] == '-' ? SpfResult::kFail
                : lower[0] == '~' ? SpfResult::kSoftFail : SpfResult::kNeutral;
      term = term.substr(1);
      lower = lower.substr(1);
    }
    auto sep = lower.find_first_of(":/");
    std::string mech = lower.substr(0, sep);
    std::string arg = sep == std::string::npos ? "" : term.substr(sep + (term[sep] == ':' ? 1 : 0));
    bool match = false;
    if (mech == "all") {
      has_all = true;
      match = true;
    } else if (mech == "ip4" || mech == "ip6") {
      if (arg.empty()) throw Stop{SpfResult::kPermError, "'" + term + "' has no address"};
      std::string net_text = arg.find('/') == std::string::npos ? arg + (mech == "ip4" ? "/32" : "/128") : arg;
      auto net = Cidr::Parse(net_text);
      bool family_ok = (mech == "ip6") == (arg.find(':') != std::string::npos);
      if (!net || !family_ok) throw Stop{SpfResult::kPermError, "'" + term + "' is not a valid network"};
      match = net->Contains(c.ip) && ((c.ip.find(':') != std::string::npos) == (mech == "ip6"));
    } else if (mech == "a" || mech == "mx") {
      CountLookup(c, term);
      auto dual = ParseDualCidr(arg, term);
      std::string target = dual.domain.empty() ? domain : ExpandMacros(dual.domain, domain, c);
      std::vector<std::string> hosts;
      if (mech == "mx") {
        auto mx = c.dns.mx(target);
        CountVoid(c, mx.rcode, term);
        if (mx.records.size() > kMaxMxNames) throw Stop{SpfResult::kPermError, "'" + term + "' names more than 10 MX hosts"};
        for (const auto& r : mx.records) hosts.push_back(r.exchange);
      } else {
        hosts.push_back(target);
      }
      for (const auto& h : hosts) {
        auto addrs = c.dns.addresses(h);
        if (mech == "a") CountVoid(c, addrs.rcode, term);
        else if (addrs.rcode == Rcode::kTempFail) throw Stop{SpfResult::kTempError, "DNS lookup for " + h + " failed"};
        for (const auto& a : addrs.addresses) match = match || AddressMatches(c.ip, a, dual);
      }
    } else if (mech == "include") {
      CountLookup(c, term);
      if (arg.empty()) throw Stop{SpfResult::kPermError, "'" + term + "' names no domain"};
      std::string target = ExpandMacros(arg, domain, c);
      std::string why, inner_matched;
      SpfResult r = Evaluate(c, target, nullptr, &inner_matched, &why);
      if (r == SpfResult::kTempError) throw Stop{r, "include:" + target + ": " + why};
      if (r == SpfResult::kPermError || r == SpfResult::kNone)
        throw Stop{SpfResult::kPermError,
                   "include:" + target + " " + (r == SpfResult::kNone ? "has no SPF record" : "is broken: " + why)};
      match = r == SpfResult::kPass;
    } else if (mech == "exists") {
      CountLookup(c, term);
      auto addrs = c.dns.addresses(ExpandMacros(arg, domain, c));
      CountVoid(c, addrs.rcode, term);
      match = !addrs.addresses.empty();
    } else if (mech == "ptr") {
      CountLookup(c, term);  // deprecated (RFC 7208 5.5); counted, never evaluated as a match here
    } else {
      throw Stop{SpfResult::kPermError, "unknown mechanism '" + term + "'"};
    }
    if (match) {
      if (matched) *matched = (qualifier == SpfResult::kPass ? "" : std::string(1, terms[t][0])) + term;
      return qualifier;
    }
  }
  if (!redirect.empty() && !has_all) {
    CountLookup(c, "redirect=" + redirect);
    std::string target = ExpandMacros(redirect, domain, c);
    std::string why;
    SpfResult r = Evaluate(c, target, nullptr, matched, &why);
    if (r == SpfResult::kNone) throw Stop{SpfResult::kPermError, "redirect=" + target + " has no SPF record"};
    if (r == SpfResult::kPermError || r == SpfResult::kTempError) throw Stop{r, why};
    return r;
  }
  if (matched) *matched = "(no term matched)";
  return SpfResult::kNeutral;
}

SpfResult Evaluate(Context& c, const std::string& domain, std::string* record_out, std::string* matched,
                   std::string* why) {
  if (++c.depth > 20) throw Stop{SpfResult::kPermError, "include/redirect loop"};
  auto txt = c.dns.txt(domain);
  if (txt.rcode == Rcode::kTempFail) throw Stop{SpfResult::kTempError, "TXT lookup for " + domain + " failed: " + txt.error};
  std::vector<std::string> spf;
  for (const auto& r : txt.records) {
    std::string l = ToLowerAscii(r);
    if (l == "v=spf1" || l.rfind("v=spf1 ", 0) == 0) spf.push_back(r);
  }
  SpfResult out;
  if (spf.empty()) {
    *why = domain + " has no SPF record";
    out = SpfResult::kNone;
  } else if (spf.size() > 1) {
    throw Stop{SpfResult::kPermError, domain + " has " + std::to_string(spf.size()) + " SPF records (RFC 7208 3.2 allows one)"};
  } else {
    if (record_out) *record_out = spf[0];
    out = EvaluateRecord(c, domain, spf[0], matched);
  }
  --c.depth;
  return out;
}

}  // namespace

SpfEvaluation CheckHost(const std::string& ip, const std::string& domain, const std::string& sender,
                        const std::string& helo, const SpfLookups& dns) {
  Context c{ip, sender, helo, dns};
  SpfEvaluation e;
  try {
    e.result = Evaluate(c, domain, &e.record, &e.matched, &e.explanation);
  } catch (const Stop& s) {
    e.result = s.result;
    e.explanation = s.explanation;
  }
  e.lookups = std::min(c.lookups, kMaxLookups + 1);
  return e;
}

SpfEvaluation CountLookups(const std::string& domain, const SpfLookups& dns) {
  return CheckHost("0.0.0.0", domain, "postmaster@" + domain, domain, dns);
}

}  // namespace kurier::dns
