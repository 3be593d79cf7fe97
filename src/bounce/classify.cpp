// classify.cpp - reason and hard/soft classification of failed deliveries.
// SECURITY: the text classified comes from remote servers; it is only searched (bounded by its length,
// which callers cap), never interpreted. All tables are static.
// STANDARDS: RFC 3463 and RFC 5248 (enhanced status codes: subject X.1 addressing, X.2 mailbox, X.3 mail
// system, X.4 network/routing, X.5 protocol, X.6 content, X.7 security/policy), RFC 5321 4.2.3 (reply
// codes), RFC 7372 (X.7.20-X.7.26 authentication failures), RFC 7505 (X.1.10 / X.7.27 null MX).
//
// How a reason is chosen, most specific evidence first:
//  1. error-code schemes that providers document (Orange/La Poste OFR/LPN codes, GoDaddy IBnnn,
//     Cox and Spectrum AUP#...), which name the cause exactly;
//  2. phrase families that name a cause more precisely than a status code can ("mailbox is full" under
//     5.1.1, "blocked using dnsbl" under 5.1.1, "invalid recipient" under 5.7.1, ...);
//  3. the RFC 3463 status code, when it is specific (5.1.1, 5.2.2, 5.3.4, ...);
//  4. weaker phrase families (time-outs, local system errors, authentication wording);
//  5. the status class (X.6 content, X.7 security), the SMTP command (rejected at connection: blocked),
//     the RFC 3464 action (delayed: expired), syntax replies (50x), and finally onhold/undefined.
// The phrase tables are our own, written from the wording that real mail systems use; the vocabulary
// and the order of precedence follow sisimai (https://libsisimai.org/en/reason/), so that results agree
// with that project's labels.
#include "bounce/classify.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace kurier::bounce {

namespace {

using Phrases = std::initializer_list<std::string_view>;

// True when `pattern` occurs in `text`; a '*' in the pattern matches any run of characters, so
// "mailbox * does not exist" needs its pieces in that order.
bool Matches(std::string_view text, std::string_view pattern) {
  std::size_t from = 0;
  while (true) {
    std::size_t star = pattern.find('*');
    std::string_view piece = pattern.substr(0, star);
    if (!piece.empty()) {
      std::size_t at = text.find(piece, from);
      if (at == std::string_view::npos) return false;
      from = at + piece.size();
    }
    if (star == std::string_view::npos) return true;
    pattern.remove_prefix(star + 1);
  }
}

bool AnyOf(std::string_view text, Phrases phrases) {
  for (std::string_view p : phrases)
    if (Matches(text, p)) return true;
  return false;
}

// ---- phrase families (lowercase, white space collapsed) -------------------------------------------

const Phrases kMailboxFull = {
    "mailbox full", "mailbox is full", "mailbox has exceeded", "mailbox size limit", "mailbox quota",
    "mailbox exceeds allowed size", "mailbox would exceed", "mailbox exceeded", "mailfolder is full",
    "full mailbox", "inbox is full", "inbox is out of storage", "account is full", "over quota",
    "overquota", "over the allowed quota", "quota exceeded", "quota exceed", "exceeded its quota",
    "exceeding its mailbox quota", "exceeding their quota", "exceeding receiving limits", "quota violation",
    "disk quota", "userdisk quota", "domaindisk quota", "reached disk quota", "insufficient disk space",
    "not enough storage space", "does not have enough space", "exceeded storage allocation",
    "space has been used up", "too many messages on the server", "too much mail data",
    "storage limit", "out of storage space", "boite du destinataire pleine", "destinataire pleine",
    "mailbox size exceeds", "mail file size exceeds the maximum size allowed",
};
const Phrases kSystemFull = {
    "mail system full", "requested mail action aborted: exceeded storage allocation",
    "insufficient system storage",
};
const Phrases kSenderQuota = {"sending quota exceeded", "sending limit exceeded", "sending quota reached"};
const Phrases kExceedLimit = {
    "message length exceeds", "exceeds limit set by recipient", "message too large for this recipient",
    "recipsizelimit",
};
const Phrases kMesgTooBig = {
    "message too big", "message is too big", "message too large", "message is too large", "message file too big",
    "message size exceeds", "size of the message exceeds", "message exceeds the maximum size",
    "exceeds the maximum message size", "max message size exceeded", "maximum message size",
    "exceeded maximum inbound message size", "message size limit", "exceeded google's message size",
    "message exceeds size limit", "size limit exceeded", "line limit exceeded", "line too long",
    "taille limite du message",
};
const Phrases kSuspend = {
    " is currently suspended", "account has been suspended", "account is suspended", "account suspended",
    "mailbox currently suspended", "mailbox is suspended", "user suspended", "recipient suspend",
    "account has been disabled", "account is disabled", "account disabled", "account is deactivated",
    "deactivated mailbox", "mailbox is disabled", "mailbox disabled", "this mailbox is disabled",
    "user account disabled", "disabled recipient", "recipient account is blocked", "account is blocked",
    "account that you tried to reach is disabled", "account that you tried to reach is inactive",
    "mailbox is frozen", "account is frozen", "invalid/inactive user", "temporarily inactive",
    "disabled or discontinued", "account is locked", "account locked", " temporary locked",
    "boite du destinataire archivee", "archived recipient", "compte du destinataire est bloque",
    "mailbox is inactive", "account is inactive", "inactive account",
};
const Phrases kHasMoved = {"address * has been replaced by", "mailbox has moved", "user has moved"};
const Phrases kNoRelaying = {
    "relay access denied", "relaying denied", "relay denied", "relay not permitted", "relay not allowed",
    "relaying not allowed", "not allowed to relay", "not permitted to relay", "unable to relay",
    "we do not relay", "relay access not permitted", "mail relay denied", "no relaying", "insecure mail relay",
    "invalid credentials for relay", "identities failed the check",
    "requires authentication when attempting to send to a non-local",
};
const Phrases kAuthFailure = {
    "dmarc policy", "dmarc verification", "dmarc check", "dmarc authentication", "dmarc rejection",
    "dmarcrejection", "due to domain's dmarc", "owner dmarc", "spf check: fail", "spf fail", "spf check failed",
    "spf validation", "spf authentication", "failed spf", "sender policy framework", "spf record",
    "spf (sender policy framework)", "//spf.pobox.com", "spf/dns", "is not allowed to send mail",
    "is not allowed to send from <", "multiple authentication checks failed", "fails to pass authentication",
    "fails to pass spf", "senders to authenticate", "must pass either spf or dkim", "dkim does not pass",
    "dkim signature", "dkim check", "unauthenticated email from",
};
const Phrases kBadReputation = {
    "low reputation", "poor reputation", "deferred due to unexpected volume or user complaints", "bad reputation", "poor email reputation",
    "reputation of the sending", "due to ip reputation", "ip reputation", "sender reputation",
    "reputation problems", "reputation score",
};
const Phrases kRequirePtr = {
    "ptr record", "reverse dns", "rdns", "reverse lookup", "reverse-lookup", "ip name lookup failed",
    "cannot find your hostname", "cannot resolve your address", "unresolvable relay host name",
    "mismatches client ip", "dynamic ip", "generic dns ptr", "unverifyable sending ip",
    "unverifiable sending ip", "no ptr", "dns ptr", "ptr-record", "ptr lookup",
};
const Phrases kNotCompliantRfc = {
    "not rfc 5322 compliant", "not rfc5322 compliant", "rfcmessagenoncompliant",
    "multiple addresses in from: header", "missing a valid address in the from: header",
    "missing a valid message-id", "encoded-word syntax is not permitted",
};
const Phrases kVirus = {
    "virus detected", "virus found", "infected with a virus", "contains a virus", "virus infected",
    "a virus was found", "malware detected", "malicious url", "potentially executable attachment",
    "used by recent viruses", "prohibited virus",
};
const Phrases kSpam = {
    "spam detected", "detected as spam", "identified as spam", "classified as spam", "considered spam",
    "considered as spam", "scored as spam", "looks like spam", "looked like spam", "appears to be spam",
    "seems to be a spam", "seems to be spam", "rejected as spam", "spam content", "spam message",
    "spam score", "spamassassin", "spam filter", "spam-like", "spam classification", "spam rejected",
    "spam refused", "spam not accepted", "block for spam", "blocked as spam", "probable spam",
    "probability of spam", "message as spam", "likely unsolicited", "unsolicited mail", "unsolicited bulk",
    "appears to be unsolicited", "bulk mail", "bulk email", "bulk e-mail", "ube,", ", ube", "content rejected",
    "content filter rejection", "rejected due to spam", "blacklisted url", "uribl", "surbl",
    "banned content", "unacceptable content", "rejecting mail content", "mail content denied",
    "spambouncer", "spam-prefilter", "is spam", "triggered a spam", "spamprofiler",
};
const Phrases kPolicy = {
    "policy violation", "protocol violation", "denied by policy", "local policy", "for policy reasons",
    "policy reasons", "organization policy", "organizational settings", "content presents a potential",
    "illegal attachment", "members-only list", "closed mailing list", "message not allowed",
    "header are not accepted", "you're using a mass mailer", "has a policy that prohibited",
    "not subscribed to this group", "given low priority",
};
const Phrases kTooManyConn = {
    "too many connections", "connection rate limit", "too many concurrent", "too many sessions",
    "too many smtp sessions", "frequency limited", "per-domain connection limit",
    "maximum connection limit", "too many recipients", "trop de connexions", "too many errors from your ip",
    "throttling failure", "max emails per hour", "numerous attempts to deliver this message",
    "message threshold exceeded",
};
const Phrases kSpeeding = {
    "please try again slower", "receiving mail at a rate", "receiving mail too quickly", "sending too fast",
    "relay limit exceeded", "rate limited", "sending quota exceeded", "sending limit exceeded",
};
const Phrases kBlocked = {
    "blocked using", "blacklisted", "blocklisted", "blacklist", "blocklist", "block list", "dnsbl",
    " rbl", "rbl reject", "spamhaus", "spamcop", "banned sending ip", "banned sender", "client host blocked",
    "client host rejected: may not be mail exchanger", "client host rejected: was not authenticated",
    "not currently accepting mail from your ip", "please use the smtp server of your isp",
    "rejecting open proxy", "blocked for abuse", "blocked by ldap", "your network is temporary",
    "messages from * weren't sent", "ip address blocked", "ip blocked", "blocked ip", "ip * is blocked",
    "ip * has been blocked", "mail server at * is blocked", "access from ip address * blocked", "connection refused by",
    "connection reset by peer", "connection dropped", "connection was dropped", "go away", "bloquee pour",
    "your ip address", "sending ip", "cloudmark", "(bl)", "customer block list", "rejected by recipient",
    "daily relay quota", "looks suspiciously like spammer", "confirm this mail server", "refused to talk to me",
    "server requires confirmation", "traffic not accepted from this ip", "permanently deferred",
    "helo command rejected", "my name was rejected", "not accepted from your ip",
};
// An IP refused for the rate of mail it sends, whatever the wording says about spam.
const Phrases kRateBlocked = {"unusual rate of unsolicited mail", "unusual rate of mail"};
const Phrases kRejected = {
    "sender rejected", "sender address rejected", "sender verify failed", "sender verification failed",
    "domain of sender address", "sender domain", "unroutable sender", "invalid sender", "bad sender",
    "sender not pre-approved", "mail from not owned", "from: domain is invalid", "returned mail not accepted",
    "null sender is not allowed", "empty envelope sender", "batv", "backscatter", "sender is spammer",
    "address that has been blacklisted", "purported responsible address", "emetteur invalide",
    "does not exist e2110", "mail sending denied", "unauthenticated email is not accepted",
    "envelope blocked", "no third-party dsns", "bogus mail from", "administrative prohibition",
    "fully qualified email address required", "<> invalid sender", "sender email address rejected",
    "connections not accepted from servers without a valid sender domain",
    "not have permission to post messages to the group", "groups.google.com/support", "sender was rejected",
    "email address is not verified",
};
const Phrases kUserUnknown = {
    "user unknown", "unknown user", "no such user", "no such mailbox", "no such recipient",
    "no such person", "no such address", "user not found", "recipient not found", "mailbox not found",
    "mailbox unavailable", "mailbox is unavailable", "mailbox unavaiable", "mailbox does not exist",
    "mailbox not present", "mailbox invalid", "invalid mailbox", "address does not exist",
    "recipient does not exist", "user does not exist", "user doesn't exist", "account does not exist",
    "recipient not exist", "user not exist", "invalid recipient", "invalid address", "address invalid",
    "unknown recipient", "recipient unknown", "unknown address", "address unknown", "addressee unknown",
    "unknown local part", "unknown local-part", "not a valid mailbox", "not a valid recipient",
    "not a valid user", "no mailbox", "not a known user", "is not a known user", "no account by that name",
    "illegal user", "doesn't have a * account", "recipnotfound", "recipientnotfound", "recipient rejected",
    "recipient address rejected: access denied", "recipient not ok", "recipient is not local",
    "not listed in", "destinataire invalide", "utilisateur inconnu", "inactive email address",
    "no valid recipients", "the recipient name is not recognized", "recipient name is not recognized",
    "bad destination mailbox address", "this address no longer accepts mail", "no one at this address",
    "address wasn't found", "address you entered couldn't be found", "email address could not be found",
    "account that you tried to reach does not exist", "email account does not exist",
    "email address does not exist", "is not an active address", "not our customer", "badrcptto",
    "validrcptto", "mailbox not available", "no such local user", "unknown mailbox",
    "recipient address does not exist", "nessun utente", "no existe", "does not exist in this domain",
    "not a local address", "user missing home directory", "resolver.adr.recipient",
    "check if address is correct",
};
// Wording that names a missing mailbox even when the server only said so after DATA.
const Phrases kUserUnknownAlways = {
    "doesn't have a * account", "account that you tried to reach does not exist", "recipnotfound",
    "recipientnotfound", "resolver.adr.recip", "ディレクトリのリストにありません", "ディレクトリには見つかりません",
    "not listed in public name & address book", "not listed in domino directory",
};
const Phrases kFiltered = {
    "refused due to recipient preferences", "only accepting mail from", "user reject", "blocked by the recipient",
    "is not accepting any mail", "resolver.rst.notauthorized", "refuse to receive mail", "restricted sms e-mail",
    "extended inactivity new mail is not currently being accepted", "this account is protected by",
    "domain filter", "rejected by the recipient's filter", "resolver.rst.",
};
const Phrases kHostUnknown = {
    "host unknown", "unknown host", "host or domain name not found", "domain does not exist",
    "domain doesn't exist", "no such domain", "name or service not known", "unrouteable address",
    "unroutable address", "domain is not reachable", "domain must exist", "invalid domain",
    "mail domain mentioned in email address is unknown", "unknown domain", "domain not found",
    "account or domain may not exist", "mx records point to non-existent hosts",
    "all host address lookups failed permanently", "host * not found", "bad destination system address",
    "no route to domain",
};
const Phrases kNotAccept = {
    "does not accept mail", "doesn't receive email", "null mx", "no mx record found",
    "smtp protocol returned a permanent error", "indicated no smtp service", "does not accept email",
    "not accepting network messages", "no mx found for domain",
};
const Phrases kNetworkError = {
    "no route to host", "network is unreachable", "host not found, try again", "too many hops", "mail loop",
    "routing loop", "hop count exceeded", "message looping", "message is looping", "forwarding loop",
    "lost connection with", "dns error", "could not connect and send the mail",
    "dns records for the destination computer could not be found", "unable to resolve route",
    "network error", "wasn't able to establish an smtp connection", "temporary failure in name resolution",
    "malformed name server reply", "unrouteable mail domain", "message exceeded 50 hops",
};
const Phrases kContentError = {
    "duplicate header", "header size exceeds", "8-bit data in message header", "8bit data in message header",
    "mime complexity", "invalid mime", "improperly-formatted", "unnecessary base64", "media error",
    "too many \"received\" headers", "too many received headers", "mail message is malformed",
    "message header size", "invalid characters", "bare line feed",
};
const Phrases kMailerError = {
    "procmail", "maildrop", "command failed", "command died with status", "command output", "mailer error",
    "pipe to |", "x-unix;", "local delivery failed",
};
// Weak families: consulted only when neither a specific status code nor a strong phrase decided.
const Phrases kExpired = {
    "delivery time expired", "message expired", "queue.expired", "envelope expired", "queue too long",
    "giving up", "retry timeout exceeded", "retry time not reached", "could not be delivered for",
    "could not deliver for the last", "not delivered within", "unable to deliver in", "allowed queue period",
    "cannot send message for", "delivery failed * attempts", "after multiple retries",
    "could not find a gateway", "is not responding", "server did not respond", "did not accept our requests to connect",
    "host not reachable", "connection timed out", "timed out", "operation timed out", "no answer from host",
    "message timed out", "delivery timeout", "has not been collected", "will be deleted from queue",
    "has been failing for a long time",
};
const Phrases kSystemError = {
    "system error", "internal error", "local error in processing", "temporary local problem",
    "configuration error", "config error", "service currently unavailable", "transaction failed",
    "loops back to myself", "aliasing/forwarding loop", "create a mail loop", "loop was found",
    "can't create user output file", "timeout waiting for input", "interrupted system call",
    "queue file write error", "unable to contact ldap server", "duplicated message-id", "remote server is misconfigured",
    "temporary system problem", "could not load drd", "there is no mdb", "encountered an error while being processed",
    "internal server error", "service refuse", "server busy",
};
const Phrases kSecurityError = {
    "authentication required", "authentication failure", "authentication failed", "smtp authentication",
    "unauthenticated senders not allowed", "tls required", "encryption required", "must issue a starttls",
    "not authorized to perform ses:", "account not subscribed to ses", "delivery not authorized",
    "authentification requise", "authentification invalide", "you don't authenticate", "verification failure",
    "executable files are not allowed", "authentication turned on", "password",
};

// ---- provider error-code schemes ----------------------------------------------------------------

// Orange and La Poste write codes like "OFR_416", "OFR006_102", "LPN007_426", "[506]".
std::string ReasonFromFrenchCode(std::string_view t) {
  static const std::array<std::pair<int, std::string_view>, 22> kCodes = {{
      {101, "blocked"}, {102, "blocked"}, {103, "blocked"}, {104, "toomanyconn"}, {305, "securityerror"},
      {401, "authfailure"}, {402, "securityerror"}, {403, "rejected"}, {405, "rejected"}, {415, "rejected"},
      {416, "userunknown"}, {417, "mailboxfull"}, {420, "suspend"}, {421, "rejected"}, {426, "suspend"},
      {505, "systemerror"}, {506, "spamdetected"}, {510, "blocked"}, {514, "mesgtoobig"}, {517, "authfailure"},
      {630, "policyviolation"}, {999, "blocked"},
  }};
  for (std::string_view prefix : {"ofr", "lpn", "ouk"}) {
    for (std::size_t at = t.find(prefix); at != std::string_view::npos; at = t.find(prefix, at + 1)) {
      if (at > 0 && std::isalnum(static_cast<unsigned char>(t[at - 1]))) continue;
      // prefix, optional digits/letters, '_' or '-', then three digits
      std::size_t i = at + prefix.size();
      while (i < t.size() && (std::isalnum(static_cast<unsigned char>(t[i])))) ++i;
      if (i >= t.size() || (t[i] != '_' && t[i] != '-')) continue;
      ++i;
      if (i + 3 > t.size()) continue;
      int code = 0;
      bool digits = true;
      for (std::size_t k = i; k < i + 3; ++k) {
        if (!std::isdigit(static_cast<unsigned char>(t[k]))) digits = false;
        else code = code * 10 + (t[k] - '0');
      }
      if (!digits || (i + 3 < t.size() && std::isdigit(static_cast<unsigned char>(t[i + 3])))) continue;
      for (const auto& [c, reason] : kCodes)
        if (c == code) return std::string(reason);
    }
  }
  return "";
}

// GoDaddy appends " IBnnn" to its replies.
std::string ReasonFromGoDaddyCode(std::string_view t) {
  static const std::array<std::pair<std::string_view, std::string_view>, 20> kCodes = {{
      {"ib401", "securityerror"}, {"ib501", "notcompliantrfc"}, {"ib502", "notcompliantrfc"},
      {"ib506", "rejected"}, {"ib508", "authfailure"}, {"ib108", "requireptr"}, {"ib212", "spamdetected"},
      {"ib705", "virusdetected"}, {"ib605", "toomanyconn"}, {"ib007", "toomanyconn"}, {"ib101", "speeding"},
      {"ib110", "blocked"}, {"ib111", "blocked"}, {"ib112", "blocked"}, {"ib113", "blocked"},
      {"ib504", "speeding"}, {"ib510", "speeding"}, {"ib607", "speeding"}, {"ib103", "badreputation"},
      {"ib104", "blocked"},
  }};
  for (const auto& [code, reason] : kCodes) {
    std::size_t at = t.find(code);
    if (at != std::string_view::npos && (at == 0 || !std::isalnum(static_cast<unsigned char>(t[at - 1]))) &&
        (at + 5 == t.size() || !std::isalnum(static_cast<unsigned char>(t[at + 5]))))
      return std::string(reason);
  }
  return "";
}

// Cox ("AUP#CXBL") and Spectrum/Charter ("AUP#In-1310") name the cause after "AUP#".
std::string ReasonFromAupCode(std::string_view t) {
  std::size_t at = t.find("aup#");
  if (at == std::string_view::npos) return "";
  std::string_view code = t.substr(at + 4);
  std::size_t end = 0;
  while (end < code.size() && (std::isalnum(static_cast<unsigned char>(code[end])) || code[end] == '-')) ++end;
  code = code.substr(0, end);
  static const std::array<std::pair<std::string_view, std::string_view>, 9> kNamed = {{
      {"cxbl", "blocked"}, {"cdrbl", "blocked"}, {"cxdns", "requireptr"}, {"cxsndr", "authfailure"},
      {"cxsmtp", "rejected"}, {"cxcnct", "toomanyconn"}, {"cxmxrt", "toomanyconn"}, {"cxthrt", "securityerror"},
      {"cxmj", "securityerror"},
  }};
  for (const auto& [name, reason] : kNamed)
    if (code == name) return std::string(reason);
  if (code.substr(0, 4) == "ipbl") return "blocked";
  if (code.substr(0, 5) == "urlbl") return "spamdetected";
  // Spectrum: four digits after an optional "In-"/"O-" prefix.
  std::size_t digits_at = code.find_first_of("0123456789");
  if (digits_at == std::string_view::npos || code.size() - digits_at != 4) return "";
  int n = 0;
  for (char c : code.substr(digits_at)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return "";
    n = n * 10 + (c - '0');
  }
  struct Range {
    int from, to;
    std::string_view reason;
  };
  static const std::array<Range, 16> kRanges = {{
      {1000, 1000, "blocked"}, {1010, 1010, "rejected"}, {1020, 1080, "rejected"}, {1090, 1090, "systemerror"},
      {1100, 1150, "requireptr"}, {1160, 1190, "policyviolation"}, {1200, 1250, "blocked"},
      {1260, 1260, "networkerror"}, {1300, 1340, "toomanyconn"}, {1350, 1490, "speeding"},
      {1500, 1500, "rejected"}, {1520, 1520, "rejected"}, {1530, 1530, "mesgtoobig"}, {1540, 1550, "speeding"},
      {1560, 1560, "policyviolation"}, {1580, 1580, "speeding"},
  }};
  for (const Range& r : kRanges)
    if (n >= r.from && n <= r.to) return std::string(r.reason);
  return "";
}

// Exchange 2000/2003 end their non-delivery text with "MSEXCH:IMS:... (000C05A6)".
std::string ReasonFromExchangeCode(std::string_view t) {
  static const std::array<std::pair<std::string_view, std::string_view>, 8> kCodes = {{
      {"(000c05a6)", "userunknown"}, {"(000c0595)", "filtered"}, {"(00010256)", "systemerror"},
      {"(000d06b5)", "systemerror"}, {"(00120270)", "networkerror"}, {"(00050311)", "contenterror"},
      {"(000502cc)", "contenterror"}, {"(000b0981)", "securityerror"},
  }};
  if (t.find("msexch:") == std::string_view::npos) return "";
  for (const auto& [code, reason] : kCodes)
    if (t.find(code) != std::string_view::npos) return std::string(reason);
  return "";
}

// ---- status codes ---------------------------------------------------------------------------------

struct StatusCode {
  int cls = 0, subject = -1, detail = -1;
  bool valid() const { return cls != 0; }
};

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

// The reason a specific RFC 3463 code names; "" for the codes that say too little (X.0.0, X.7.1, ...).
std::string ReasonFromStatus(const StatusCode& c) {
  if (!c.valid()) return "";
  if (c.cls == 2) return "delivered";
  const bool permanent = c.cls == 5;
  switch (c.subject) {
    case 1:
      switch (c.detail) {
        case 0: return permanent ? "userunknown" : "";
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
        case 1: return permanent ? "filtered" : "suspend";
        case 2: return "mailboxfull";
        case 3: return "exceedlimit";
        case 4: return "filtered";
        default: return "";
      }
    case 3:
      switch (c.detail) {
        case 0: return permanent ? "systemerror" : "";
        case 1: return "systemfull";
        case 2: return permanent ? "notaccept" : "";
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
        case 5: return "toomanyconn";
        case 6: return "networkerror";
        case 7: return "expired";
        default: return "";
      }
    case 5:
      switch (c.detail) {
        case 3: return "toomanyconn";
        case 4:
        case 5: return "systemerror";
        default: return "";
      }
    case 6: return "contenterror";
    case 7:
      switch (c.detail) {
        case 2: return "blocked";
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
        default:
          if (c.detail >= 3 && c.detail <= 19) return "securityerror";
          return "";
      }
    default: return "";
  }
}

bool IsCommand(std::string_view cmd, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names)
    if (cmd == n) return true;
  return false;
}

std::string UpperAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "550 : User unknown" - the reply hides the recipient's address. Japanese mobile carriers answer so when
// the recipient's own filter refused the sender, which sisimai calls "filtered".
bool AnonymousUserUnknown(std::string_view t) {
  for (std::size_t at = t.find(": user unknown"); at != std::string_view::npos;
       at = t.find(": user unknown", at + 1)) {
    std::size_t i = at;
    while (i > 0 && t[i - 1] == ' ') --i;
    if (i > 0 && t[i - 1] == ':') return true;
    if (i >= 3 && std::isdigit(static_cast<unsigned char>(t[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(t[i - 2])) && std::isdigit(static_cast<unsigned char>(t[i - 3])) &&
        (i == 3 || !std::isalnum(static_cast<unsigned char>(t[i - 4]))))
      return true;
  }
  return false;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "553 mail.example.com does not exist": a domain name (not an address) said not to exist.
bool NamesMissingDomain(std::string_view t) {
  for (std::size_t at = t.find(" does not exist"); at != std::string_view::npos; at = t.find(" does not exist", at + 1)) {
    std::size_t b = at;
    while (b > 0 && t[b - 1] != ' ') --b;
    std::string_view word = t.substr(b, at - b);
    if (word.size() < 4 || word.find('.') == std::string_view::npos || word.find('@') != std::string_view::npos ||
        word.find('<') != std::string_view::npos || word.back() == '.')
      continue;
    bool hostname = true;
    for (char c : word)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) hostname = false;
    if (hostname && std::isalpha(static_cast<unsigned char>(word.back()))) return true;
  }
  return false;
}

}  // namespace

std::string NormalizeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == ' ' || u == '\t' || u == '\r' || u == '\n' || u == '\f' || u == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(u));
  }
  // A multi-line reply repeats its code on every line ("550-5.7.1 ... 550-5.7.1 ... 550 5.7.1 ..."): keep
  // the first and drop the repetitions, so that a phrase broken across lines reads whole again.
  std::size_t first = std::string::npos;
  for (std::size_t i = 0; i + 4 <= out.size(); ++i) {
    bool at_word = i == 0 || out[i - 1] == ' ';
    if (at_word && IsDigit(out[i]) && IsDigit(out[i + 1]) && IsDigit(out[i + 2]) && (out[i] == '4' || out[i] == '5') &&
        (out[i + 3] == '-' || out[i + 3] == ' ') && (i + 4 == out.size() || !IsDigit(out[i + 4]) || ParseStatus(std::string_view(out).substr(i + 4)).valid())) {
      first = i;
      break;
    }
  }
  if (first == std::string::npos) return out;
  const std::string code = out.substr(first, 3);
  std::string status;
  if (ParseStatus(std::string_view(out).substr(first + 4)).valid()) {
    std::size_t e = first + 4;
    while (e < out.size() && out[e] != ' ') ++e;
    status = out.substr(first + 4, e - first - 4);
  }
  std::string cleaned = out.substr(0, first + 4);
  for (std::size_t i = first + 4; i < out.size();) {
    bool at_word = out[i - 1] == ' ';
    if (at_word && out.compare(i, 3, code) == 0 && i + 3 < out.size() && (out[i + 3] == '-' || out[i + 3] == ' ')) {
      std::size_t j = i + 4;
      bool had_status = !status.empty() && out.compare(j, status.size(), status) == 0 &&
                        (j + status.size() == out.size() || out[j + status.size()] == ' ');
      if (had_status) j += status.size();
      if (had_status || out[i + 3] == '-') {
        while (j < out.size() && out[j] == ' ') ++j;
        i = j;
        continue;
      }
    }
    cleaned += out[i++];
  }
  return cleaned;
}

std::string FindEnhancedStatus(std::string_view text) {
  std::string first;
  for (std::size_t i = 0; i + 5 <= text.size(); ++i) {
    char c = text[i];
    if (c != '2' && c != '4' && c != '5') continue;
    if (i > 0 && (IsDigit(text[i - 1]) || text[i - 1] == '.')) continue;
    StatusCode sc = ParseStatus(text.substr(i));
    if (!sc.valid()) continue;
    std::size_t end = i;
    while (end < text.size() && (IsDigit(text[end]) || text[end] == '.')) ++end;
    std::string_view code = text.substr(i, end - i);
    if (code.back() == '.') code.remove_suffix(1);
    // Reject dotted numbers that are part of something longer (IP addresses, versions).
    if (std::count(code.begin(), code.end(), '.') != 2) continue;
    if (end < text.size() && (std::isalpha(static_cast<unsigned char>(text[end])) || text[end] == '-')) continue;
    if (sc.cls == 2 && !(sc.subject <= 7 && sc.detail <= 7)) continue;
    // "550 5.1.1", "550-5.1.1", "550-'5.1.1", "(#5.1.1)", "#5.1.1"
    std::size_t j = i;
    while (j > 0 && (text[j - 1] == '\'' || text[j - 1] == '#' || text[j - 1] == '(')) --j;
    bool after_code = j >= 4 && (text[j - 1] == ' ' || text[j - 1] == '-') && IsDigit(text[j - 2]) &&
                      IsDigit(text[j - 3]) && IsDigit(text[j - 4]) && (j == 4 || !IsDigit(text[j - 5]));
    bool hashed = i > 0 && text[i - 1] == '#';
    if (after_code || hashed) return std::string(code);
    if (first.empty()) first = code;
    i = end;
  }
  return first;
}

int FindReplyCode(std::string_view text) {
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
    if (!IsDigit(text[i]) || !IsDigit(text[i + 1]) || !IsDigit(text[i + 2])) continue;
    bool starts = i == 0 || !(IsDigit(text[i - 1]) || text[i - 1] == '.' || std::isalpha(static_cast<unsigned char>(text[i - 1])) ||
                              text[i - 1] == '-' || text[i - 1] == '_' || text[i - 1] == '#' || text[i - 1] == '/' ||
                              text[i - 1] == '=' || text[i - 1] == ':' || text[i - 1] == '[');
    bool ends = i + 3 == text.size() || !(IsDigit(text[i + 3]) || text[i + 3] == '.' ||
                                          std::isalpha(static_cast<unsigned char>(text[i + 3])) || text[i + 3] == '_' ||
                                          text[i + 3] == '/' || text[i + 3] == ']' || text[i + 3] == '@');
    if (!starts || !ends) {
      while (i < text.size() && (IsDigit(text[i]) || text[i] == '.')) ++i;
      continue;
    }
    int code = (text[i] - '0') * 100 + (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
    bool valid = (code >= 421 && code <= 459) || (code >= 500 && code <= 559) || (code >= 250 && code <= 253);
    if (valid) return code;
    i += 2;
  }
  return 0;
}

bool IsHardBounce(std::string_view reason, std::string_view status_or_text) {
  if (reason == "userunknown" || reason == "hostunknown" || reason == "hasmoved") return true;
  if (reason != "notaccept") return false;
  // notaccept: hard unless the code or the wording says the failure is temporary.
  std::string lower = NormalizeText(status_or_text);
  StatusCode sc = ParseStatus(FindEnhancedStatus(lower));
  int cls = sc.valid() ? sc.cls : FindReplyCode(lower) / 100;
  if (cls == 5) return true;
  if (cls == 4) return false;
  return lower.find(" temporar") == std::string::npos && lower.find(" persistent") == std::string::npos;
}

Classification ClassifyReply(int reply_code, std::string_view enhanced_status, std::string_view text) {
  ReplyContext context;
  context.reply_code = reply_code;
  context.status = enhanced_status;
  context.text = text;
  return Classify(context);
}

Classification Classify(const ReplyContext& ctx) {
  const std::string t = NormalizeText(ctx.text.substr(0, 64 * 1024));
  std::string status(ctx.status);
  if (!ParseStatus(status).valid()) status = FindEnhancedStatus(t);
  const StatusCode sc = ParseStatus(status);
  int reply = ctx.reply_code;
  if (reply == 0) reply = FindReplyCode(t);
  const std::string cmd = UpperAscii(ctx.command);
  const std::string action = NormalizeText(ctx.action);
  const std::string dtype = NormalizeText(ctx.diagnostic_type);

  bool definite = true;
  auto done = [&](std::string reason) {
    Classification c;
    c.reason = std::move(reason);
    c.definite = definite;
    // Hard/soft evidence: a specific status code, else the reply code, else a generic status; with no code
    // at all, notaccept counts as permanent (sisimai does the same).
    std::string evidence;
    if (sc.valid() && !(sc.subject == 0 && sc.detail == 0)) evidence = status;
    else if (reply != 0) evidence = std::to_string(reply);
    else evidence = status;
    c.hard = IsHardBounce(c.reason, evidence);
    return c;
  };

  if (sc.valid() && sc.cls == 2) return done("delivered");
  if (!sc.valid() && reply >= 200 && reply < 300) return done("delivered");
  if (action == "delivered" || action == "relayed" || action == "expanded") return done("delivered");

  // 1. Documented provider error codes.
  for (auto* scheme : {&ReasonFromFrenchCode, &ReasonFromGoDaddyCode, &ReasonFromAupCode, &ReasonFromExchangeCode}) {
    std::string r = scheme(t);
    if (!r.empty()) return done(r);
  }

  const std::string by_status = ReasonFromStatus(sc);
  const bool before_data = IsCommand(cmd, {"CONN", "EHLO", "HELO", "MAIL", "RCPT"});

  // A local delivery program failed (RFC 3464 diagnostic type X-Unix): its exit text rarely names a cause
  // beyond a full disk, and "no such user" there is the program's own complaint, not the recipient's.
  if (dtype == "x-unix") {
    if (AnyOf(t, kMailboxFull)) return done("mailboxfull");
    if (!by_status.empty() && by_status != "userunknown") return done(by_status);
    return done("mailererror");
  }

  // 2. Phrases that name the cause more precisely than any status code.
  if (AnyOf(t, kSystemFull)) return done("systemfull");
  if (AnyOf(t, kSenderQuota)) return done("speeding");  // the sender's quota, not the recipient's mailbox
  if (AnyOf(t, kMailboxFull)) return done("mailboxfull");
  if (by_status == "exceedlimit" || AnyOf(t, kExceedLimit)) return done("exceedlimit");
  if (AnyOf(t, kMesgTooBig)) return done("mesgtoobig");
  if (AnyOf(t, kSuspend)) return done("suspend");
  if (AnyOf(t, kHasMoved)) return done("hasmoved");
  if (AnyOf(t, kNoRelaying)) return done("norelaying");
  if (AnyOf(t, kNotCompliantRfc)) return done("notcompliantrfc");
  if (AnyOf(t, kBadReputation)) return done("badreputation");
  if (AnyOf(t, kVirus)) return done("virusdetected");
  if (AnyOf(t, kRateBlocked)) return done("blocked");
  if (!before_data && AnyOf(t, kSpam)) return done("spamdetected");
  if (AnyOf(t, kAuthFailure)) return done("authfailure");
  if (AnyOf(t, kRequirePtr)) return done("requireptr");
  if (AnyOf(t, kPolicy)) return done("policyviolation");
  if (AnyOf(t, kTooManyConn)) return done("toomanyconn");
  if (AnyOf(t, kSpeeding)) return done("speeding");
  if (AnyOf(t, kNotAccept)) return done("notaccept");
  if (AnyOf(t, kRejected) || (cmd == "MAIL" && by_status != "userunknown" && t.find("access denied") != std::string::npos))
    return done("rejected");
  // A name server that did not answer is a network problem, not a missing domain.
  if (Matches(t, "host not found, try again") || Matches(t, "temporary failure in name resolution"))
    return done("networkerror");
  if (AnyOf(t, kHostUnknown) || NamesMissingDomain(t)) return done("hostunknown");
  if (AnyOf(t, kBlocked)) return done("blocked");
  if (AnyOf(t, kContentError)) return done("contenterror");
  if (AnyOf(t, kFiltered) || AnonymousUserUnknown(t)) return done("filtered");
  if (AnyOf(t, kUserUnknownAlways)) return done("userunknown");
  if (AnyOf(t, kUserUnknown)) {
    // Refused at MAIL FROM, or with a sender status (X.1.7, X.1.8): the unknown address is the sender.
    if (cmd == "MAIL" || by_status == "rejected") return done("rejected");
    // A recipient "unknown" only after the message was sent, or under a mailbox-status or policy code
    // with no sign that RCPT was refused, is the recipient's filter refusing this sender (sisimai:
    // filtered).
    if (cmd == "DATA" && by_status != "userunknown") return done("filtered");
    if (cmd.empty() && (by_status == "filtered" || (sc.valid() && sc.subject == 7 && by_status.empty()) ||
                        (sc.valid() && sc.subject == 3)))
      return done("filtered");
    return done("userunknown");
  }
  if (AnyOf(t, kNetworkError)) return done("networkerror");
  if (AnyOf(t, kMailerError)) return done("mailererror");

  // 3. A specific status code.
  if (!by_status.empty()) return done(by_status);

  // 4. Weaker wording.
  if (AnyOf(t, kExpired)) return done("expired");
  if (AnyOf(t, kSystemError)) return done("systemerror");
  if (AnyOf(t, kSecurityError)) return done("securityerror");
  // Spam wording before the content was sent judges the client, not the message.
  if (before_data && AnyOf(t, kSpam)) return done("blocked");

  // 5. Classes, commands, actions.
  definite = false;
  if (sc.valid() && sc.subject == 6) return done("contenterror");
  if (sc.valid() && sc.subject == 7) return done("securityerror");
  if (dtype == "x-unix" || dtype == "x-postfix") return done("mailererror");
  if (reply >= 500 && reply <= 507) return done("syntaxerror");
  if (action.rfind("delayed", 0) == 0 || action.rfind("expired", 0) == 0) return done("expired");
  if (IsCommand(cmd, {"CONN", "EHLO", "HELO"})) return done("blocked");
  if (!t.empty() || sc.valid() || reply != 0) return done("onhold");
  return done("undefined");
}

}  // namespace kurier::bounce
