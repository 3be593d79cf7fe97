// providers.cpp - MX host names to mailbox providers (providers.hpp). The suffixes are the providers' own
// published MX names: Google (aspmx.l.google.com, googlemail.com), Microsoft 365 and Outlook.com
// (*.mail.protection.outlook.com, *.olc.protection.outlook.com), Yahoo and AOL (*.yahoodns.net), Apple
// iCloud (*.mail.icloud.com), WP (mx.wp.pl), o2 (mx.o2.pl), Onet (mx.poczta.onet.pl), Interia
// (*.poczta.interia.pl).
#include "delivery/providers.hpp"

#include <string>

#include "common/encoding.hpp"

namespace kurier::delivery {

namespace {

// Whether `host` is `domain` or ends in "." + domain.
bool Under(std::string_view host, std::string_view domain) {
  if (host == domain) return true;
  return host.size() > domain.size() && host.substr(host.size() - domain.size()) == domain &&
         host[host.size() - domain.size() - 1] == '.';
}

}  // namespace

std::string_view ProviderOfMx(std::string_view mx_host) {
  while (!mx_host.empty() && mx_host.back() == '.') mx_host.remove_suffix(1);
  if (mx_host.empty()) return "none";
  const std::string host = ToLowerAscii(std::string(mx_host));
  struct Suffix {
    std::string_view domain, provider;
  };
  static constexpr Suffix kSuffixes[] = {
      {"google.com", "google"},        {"googlemail.com", "google"},  {"outlook.com", "microsoft"},
      {"hotmail.com", "microsoft"},    {"yahoodns.net", "yahoo"},     {"yahoo.com", "yahoo"},
      {"aol.com", "yahoo"},            {"icloud.com", "apple"},       {"me.com", "apple"},
      {"wp.pl", "wp"},                 {"o2.pl", "o2"},               {"onet.pl", "onet"},
      {"interia.pl", "interia"},
  };
  for (const auto& s : kSuffixes)
    if (Under(host, s.domain)) return s.provider;
  return "other";
}

}  // namespace kurier::delivery
