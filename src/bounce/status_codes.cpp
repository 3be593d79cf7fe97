// status_codes.cpp - step b of Classify: what an RFC 3463 enhanced status code says on its own.
// STANDARDS: RFC 3463 (enhanced mail system status codes: X.1 addressing, X.2 mailbox, X.3 mail system,
// X.4 network and routing, X.5 protocol, X.6 content, X.7 security and policy), RFC 5248 (the registry:
// X.7.13 user account disabled, X.7.16-X.7.19 ...), RFC 7372 (X.7.20-X.7.26 authentication), RFC 7505
// (X.1.10 and X.7.27, null MX), RFC 7504 (X.7.25 reverse DNS). The reason each code names follows
// sisimai's reading of the same codes (https://libsisimai.org/en/reason/). Codes that carry little
// evidence on their own — X.0.0, 5.7.1 (delivery not authorized: a user's filter, a policy, a block list),
// X.5.0 — name no reason here: wording or a fallback decides. 5.1.0 (other address status) is read as the
// recipient's address, as sisimai reads it; words about the sender (X.1.7/X.1.8 wording, MAIL FROM) win.
#include <cctype>

#include "bounce/classify_steps.hpp"

namespace kurier::bounce::steps {

StatusCode ParseStatus(std::string_view s) {
  StatusCode code;
  auto number = [&](std::size_t& i, int max_digits) {
    int v = 0, n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && n < max_digits) {
      v = v * 10 + (s[i] - '0');
      ++i;
      ++n;
    }
    return n == 0 ? -1 : v;
  };
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  if (i >= s.size() || (s[i] != '2' && s[i] != '4' && s[i] != '5')) return code;
  int cls = s[i] - '0';
  ++i;
  if (i >= s.size() || s[i] != '.') return code;
  ++i;
  int subject = number(i, 3);
  if (subject < 0 || i >= s.size() || s[i] != '.') return code;
  ++i;
  int detail = number(i, 3);
  if (detail < 0) return code;
  return StatusCode{cls, subject, detail};
}


namespace {

std::string_view ReasonFromStatus(const StatusCode& c) {
  if (!c.valid()) return "";
  if (c.cls == 2) return "delivered";
  const bool permanent = c.cls == 5;
  switch (c.subject) {
    case 1:
      switch (c.detail) {
        case 0: return permanent ? "userunknown" : "";  // "other address status": read as the recipient's (sisimai)
        case 1: return "userunknown";
        case 2: return "hostunknown";
        case 3: return "userunknown";
        case 4: return "filtered";
        case 6: return "hasmoved";
        case 7:
        case 8: return "rejected";
        case 9: return "systemerror";
        case 10: return "notaccept";
        default: return "";
      }
    case 2:
      switch (c.detail) {
        case 0: return permanent ? "filtered" : "";
        case 1: return permanent ? "filtered" : "blocked";  // a mailbox refusing for now: the sender is held off
        case 2: return "mailboxfull";
        case 3: return "exceedlimit";
        case 4: return "filtered";
        default: return "";
      }
    case 3:
      switch (c.detail) {
        case 0: return permanent ? "systemerror" : "";
        case 1: return "systemfull";
        case 2: return "notaccept";  // system not accepting network messages
        case 3:
        case 5: return "systemerror";
        case 4: return "mesgtoobig";
        default: return "";
      }
    case 4:
      switch (c.detail) {
        case 0: return permanent ? "networkerror" : "";
        case 1: return "expired";
        case 2: return "networkerror";
        case 3: return "systemerror";
        case 4: return permanent ? "hostunknown" : "networkerror";
        case 5: return permanent ? "toomanyconn" : "systemfull";  // 4.4.5 mail system congestion
        case 6: return "networkerror";
        case 7: return "expired";
        case 8: return "networkerror";  // X.4.8 (IANA registry, network and routing): a routing failure
        default: return "";
      }
    case 5:
      switch (c.detail) {
        case 2:
        case 6: return permanent ? "syntaxerror" : "";  // syntax error; AUTH line too long (RFC 4954)
        case 3: return permanent ? "toomanyconn" : "systemerror";
        case 4:
        case 5: return "systemerror";
        default: return "";
      }
    case 6: return "contenterror";
    case 7:
      switch (c.detail) {
        case 1: return permanent ? "" : "blocked";  // 4.7.1: not authorized for now (greylisting, a held-off IP)
        case 2: return "securityerror";  // mailing list expansion prohibited
        case 13: return "suspend";
        case 16: return "mesgtoobig";
        case 17:
        case 18: return "hasmoved";
        case 20:
        case 21:
        case 22:
        case 23:
        case 24:
        case 26: return "authfailure";
        case 25: return "requireptr";
        case 27: return "notaccept";
        case 28: return "spamdetected";  // RFC 5248 registry: mail flood detected
        case 29: return "authfailure";   // ARC validation failure (RFC 8617)
        default:
          if (c.detail >= 3 && c.detail <= 19) return "securityerror";
          return "";
      }
    default: return "";
  }
}
}  // namespace

Verdict StatusMeaning(const Evidence& e) {
  std::string_view reason = ReasonFromStatus(e.code);
  if (reason.empty()) return {};
  return {std::string(reason), "status " + e.status + " (RFC 3463)"};
}

}  // namespace kurier::bounce::steps
