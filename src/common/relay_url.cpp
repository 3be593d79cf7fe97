// relay_url.cpp - backup relay URLs (scheme, credentials with %-escapes, host, port).
#include "common/relay_url.hpp"

#include <charconv>

namespace kurier {

namespace {
std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (ec != std::errc() || p != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}
}  // namespace

Result<Relay> ParseRelayUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kConfig, "relay \"" + url + "\": " + why +
                                             "; write smtp://host:25, smtp+starttls://user:password@host:587 or smtps://host:465");
  };
  Relay r;
  std::string_view rest = url;
  auto sep = rest.find("://");
  if (sep == std::string_view::npos) return bad("missing scheme");
  std::string_view scheme = rest.substr(0, sep);
  rest.remove_prefix(sep + 3);
  if (scheme == "smtp") {
    r.tls = Relay::Tls::kOpportunistic;
    r.port = 25;
  } else if (scheme == "smtp+starttls") {
    r.tls = Relay::Tls::kStartTls;
    r.port = 587;
  } else if (scheme == "smtps") {
    r.tls = Relay::Tls::kImplicit;
    r.port = 465;
  } else {
    return bad("unknown scheme \"" + std::string(scheme) + "\"");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string masked = std::string(scheme) + "://";
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    auto colon = cred.find(':');
    auto user = PercentDecode(cred.substr(0, colon));
    auto pass = PercentDecode(colon == std::string_view::npos ? std::string_view() : cred.substr(colon + 1));
    if (!user || !pass || user->empty()) return bad("malformed user:password");
    r.username = *user;
    r.password = *pass;
    masked += std::string(cred.substr(0, colon)) + ":***@";
  }
  std::string_view hostport = rest;
  if (hostport.empty()) return bad("missing host");
  if (hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return bad("unclosed [");
    r.host = std::string(hostport.substr(1, close - 1));
    hostport.remove_prefix(close + 1);
    if (!hostport.empty() && hostport.front() != ':') return bad("junk after ]");
  } else {
    auto colon = hostport.find(':');
    r.host = std::string(hostport.substr(0, colon));
    hostport.remove_prefix(colon == std::string_view::npos ? hostport.size() : colon);
  }
  if (r.host.empty() || r.host.find_first_of("/?#@ ") != std::string::npos) return bad("bad host");
  if (!hostport.empty()) {
    hostport.remove_prefix(1);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(hostport.data(), hostport.data() + hostport.size(), v);
    if (ec != std::errc() || p != hostport.data() + hostport.size() || v == 0 || v > 65535) return bad("bad port");
    r.port = static_cast<uint16_t>(v);
    r.port_given = true;
  }
  r.url = masked + (r.host.find(':') != std::string::npos ? "[" + r.host + "]" : r.host) + ":" + std::to_string(r.port);
  return r;
}

}  // namespace kurier
