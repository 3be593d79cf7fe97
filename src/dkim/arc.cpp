// arc.cpp - ARC sealing: the ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results)
// kurier adds to mail it relays on behalf of others. Only i=1 (cv=none) is made; a message that already
// carries ARC fields is refused, since extending a chain means validating it first, and so is a key
// that is not RSA (see arc.hpp).
// SECURITY: handles the sealer's private key; reads the message, never changes it. The header fields
// returned are built from our own values and the caller's authentication results, which are refused
// when they hold line breaks or control characters (no header injection).
// STANDARDS: RFC 8617 (ARC: 4.1 header fields, 4.2.1 instance tag, 5.1 sealing), RFC 8601
// (Authentication-Results syntax of the AAR payload), RFC 6376 (relaxed canonicalization, signing).
#include "dkim/arc.hpp"

#include <algorithm>
#include <cctype>

#include "common/encoding.hpp"

namespace kurier::dkim {

namespace {

constexpr int kMaxInstance = 50;  // RFC 8617 4.2.1: i= ranges from 1 to 50

bool IsArcField(std::string_view name) {
  std::string n = ToLowerAscii(name);
  while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.pop_back();
  return n == "arc-seal" || n == "arc-message-signature" || n == "arc-authentication-results";
}

// The i= tag of an ARC field's value (a tag list; in the AAR, the first item before the results):
// 0 when there is none or it is not a number from 1 to 50.
int InstanceOf(std::string_view value) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t end = value.find(';', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view item = value.substr(pos, end - pos);
    auto skip_ws = [&](size_t i) {
      while (i < item.size() && std::isspace(static_cast<unsigned char>(item[i]))) ++i;
      return i;
    };
    size_t i = skip_ws(0);
    if (i < item.size() && (item[i] == 'i' || item[i] == 'I')) {
      i = skip_ws(i + 1);
      if (i < item.size() && item[i] == '=') {
        i = skip_ws(i + 1);
        int n = 0;
        size_t digits = 0;
        while (i < item.size() && std::isdigit(static_cast<unsigned char>(item[i])) && digits < 3) {
          n = n * 10 + (item[i] - '0');
          ++i, ++digits;
        }
        i = skip_ws(i);
        return digits > 0 && i == item.size() && n >= 1 && n <= kMaxInstance ? n : 0;
      }
    }
    pos = end + 1;
  }
  return 0;
}

// RFC 8601 2.2: authserv-id is a value (RFC 2045 token here: no spaces, controls or tspecials).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 32 || c >= 127 || std::string_view("()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) != std::string_view::npos)
      return false;
  return true;
}

bool IsTagValue(std::string_view s) {  // d= and s=: no separators, no whitespace
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 32 || c >= 127 || c == ';' || c == '=') return false;
  return true;
}

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 32 && c != '\t') || u == 127;
  });
}

}  // namespace

int HighestArcInstance(std::string_view message) {
  int highest = 0;
  for (const auto& f : ParseHeaders(message)) {
    if (!IsArcField(f.name)) continue;
    highest = std::max(highest, std::max(1, InstanceOf(f.value)));
  }
  return highest;
}

Result<ArcSet> Seal(std::string_view message, const PrivateKey& key, const ArcSealOptions& o) {
  if (!IsTagValue(o.domain) || !IsTagValue(o.selector))
    return MakeError(ErrorCode::kInvalidArgument, "ARC sealing needs a domain (d=) and a selector (s=) without spaces or ';'");
  if (!IsToken(o.authserv_id))
    return MakeError(ErrorCode::kInvalidArgument,
                     "ARC authserv-id \"" + o.authserv_id + "\" is not a token (RFC 8601 2.2): use a host name");
  if (key.algorithm() != Algorithm::kRsaSha256)
    return MakeError(ErrorCode::kInvalidArgument,
                     "ARC seals need an RSA key: ARC verifiers accept rsa-sha256 only (RFC 8617); create one with "
                     "'kurier dkim keygen --algorithm rsa --out FILE'");
  if (HasControl(o.results))
    return MakeError(ErrorCode::kInvalidArgument, "ARC authentication results must be one line without control characters");
  if (int n = HighestArcInstance(message); n > 0)
    return MakeError(ErrorCode::kInvalidArgument,
                     "message already carries an ARC chain (i=" + std::to_string(n) +
                         "); kurier does not validate incoming chains yet, so it does not extend them");

  ArcSet set;
  set.instance = 1;
  const std::string i_tag = "i=" + std::to_string(set.instance);

  // ARC-Authentication-Results: i=1; authserv-id; results (RFC 8617 4.1.1).
  std::string results = o.results.empty() ? "none" : o.results;
  std::string aar = " " + i_tag + "; " + o.authserv_id + ";";
  aar += (27 + aar.size() + 1 + results.size() > 78 ? "\r\n\t" : " ") + results;
  set.authentication_results = "ARC-Authentication-Results:" + aar + "\r\n";

  // ARC-Message-Signature: a DKIM signature with i= instead of v= (RFC 8617 4.1.2). It covers the
  // DKIM signatures already present, so that a later hop can tell whether they survived.
  const std::vector<HeaderField> fields = ParseHeaders(message);
  std::vector<std::string> names = DefaultSignedHeaders(message);
  for (const auto& f : fields)
    if (ToLowerAscii(f.name) == "dkim-signature") names.push_back("dkim-signature");
  const std::string a_tag = std::string("a=") + AlgorithmTag(key.algorithm());
  const std::string t_tag = "t=" + std::to_string(o.timestamp);
  std::string h = "h=";
  for (size_t i = 0; i < names.size(); ++i) h += (i ? ":" : "") + names[i];
  const std::string ams = FoldTags(21, {i_tag, a_tag, "c=relaxed/relaxed", "d=" + o.domain, "s=" + o.selector, t_tag,
                                        h, "bh=" + BodyHash(message)});
  std::string to_sign = SelectedHeaders(fields, names) + RelaxedHeader("ARC-Message-Signature", " " + ams);
  to_sign.resize(to_sign.size() - 2);  // hashed without its CRLF, as in DKIM (RFC 6376 3.7)
  auto ams_b = SignCanonical(key, to_sign);
  if (!ams_b) return ams_b.error();
  set.message_signature = "ARC-Message-Signature: " + ams + ams_b.value() + "\r\n";

  // ARC-Seal: signs the ARC sets in instance order, each AAR, AMS, AS, ending with this AS with an
  // empty b= (RFC 8617 5.1.1); relaxed header canonicalization, no body, no h=.
  const std::string as =
      FoldTags(8, {i_tag, a_tag, "cv=none", "d=" + o.domain, "s=" + o.selector, t_tag});
  to_sign = RelaxedHeader("ARC-Authentication-Results", aar) +
            RelaxedHeader("ARC-Message-Signature", " " + ams + ams_b.value()) + RelaxedHeader("ARC-Seal", " " + as);
  to_sign.resize(to_sign.size() - 2);
  auto as_b = SignCanonical(key, to_sign);
  if (!as_b) return as_b.error();
  set.seal = "ARC-Seal: " + as + as_b.value() + "\r\n";
  return set;
}

}  // namespace kurier::dkim
