// vendor_codes.cpp - step a of Classify: codes and names that mail providers document for their own
// replies. A provider's code names its cause exactly, so it is the strongest evidence there is; each table
// names the page that documents it. Our own tables, written from those pages' descriptions.
// SECURITY: the text comes from remote servers; it is only searched, never interpreted.
#include <array>
#include <cctype>

#include "bounce/classify_steps.hpp"

namespace kurier::bounce::steps {

namespace {

bool Has(std::string_view t, std::string_view s) { return t.find(s) != std::string_view::npos; }


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
}  // namespace

namespace {

// ---- Microsoft Exchange Online / Office 365 ------------------------------------------------------
// "Email non-delivery reports and SMTP errors in Exchange Online",
// https://learn.microsoft.com/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online
// and the "Fix NDR error 550 5.x.y" pages it links. Enhanced codes with a detail above 99 (5.4.316,
// 5.7.708) are Exchange's own; RFC 3463 defines none of them.
struct MsCode {
  int cls, subject, detail_from, detail_to;
  std::string_view reason, meaning;
};
constexpr std::array<MsCode, 27> kExchangeOnline = {{
    {4, 3, 2, 2, "toomanyconn", "STOREDRV recipient thread limit exceeded"},
    {4, 4, 316, 316, "networkerror", "connection refused (socket error)"},
    {5, 4, 316, 316, "expired", "message expired, connection refused"},
    {4, 4, 312, 312, "networkerror", "DNS query failed"},
    {5, 4, 312, 312, "networkerror", "DNS query failed"},
    {5, 4, 310, 310, "hostunknown", "DNS domain does not exist"},
    {5, 4, 300, 300, "expired", "message expired"},
    {5, 4, 14, 14, "networkerror", "hop count exceeded, possible mail loop"},
    {5, 4, 8, 8, "networkerror", "MX records point back to the sender"},
    {5, 1, 90, 90, "speeding", "the sender's daily recipient limit reached"},
    {5, 2, 121, 122, "speeding", "the recipient's hourly receive limit exceeded"},
    {5, 3, 190, 190, "policyviolation", "journaling to an on-premises mailbox not allowed"},
    {5, 6, 11, 11, "contenterror", "invalid characters in the message"},
    {5, 6, 211, 211, "contenterror", "invalid MIME"},
    {5, 7, 23, 23, "authfailure", "SPF failure"},
    {5, 7, 57, 57, "securityerror", "client not authenticated to send anonymous mail"},
    {5, 7, 64, 64, "norelaying", "TenantAttribution; relay access denied"},
    {5, 7, 124, 124, "filtered", "sender not in the group's allowed senders"},
    {5, 7, 133, 136, "filtered", "the group or mailbox accepts only authenticated senders"},
    {5, 7, 501, 503, "blocked", "access denied, spam abuse detected"},
    {5, 7, 509, 509, "authfailure", "sending domain does not pass DMARC"},
    {5, 7, 511, 511, "blocked", "access denied, banned sender"},
    {5, 7, 512, 512, "notcompliantrfc", "message must be RFC 5322 section 3.6.2 compliant"},
    {5, 7, 515, 515, "authfailure", "sending domain does not meet the authentication requirements"},
    {5, 7, 520, 520, "policyviolation", "external forwarding not allowed"},
    {5, 7, 606, 649, "blocked", "access denied, banned sending IP"},
    {5, 7, 700, 750, "blocked", "access denied, sending tenant or IP not accepted"},
}};

// Exchange's component names for where delivery failed (the same pages, and Exchange Server's
// "DSN codes" reference). RESOLVER.ADR: the address could not be resolved — not found (userunknown), or
// the directory entry itself is broken (BadPrimary: the recipient's primary SMTP address is invalid;
// InvalidInSmtp: its address is not valid in SMTP; Ambiguous: several entries match) which is the
// recipient organisation's own error, not a missing mailbox (systemerror, as sisimai reads them);
// RESOLVER.RST: a restriction — NotAuthorized: this sender may not send to the recipient (rejected),
// AuthRequired: the recipient accepts only authenticated senders (securityerror), size limits;
// RESOLVER.FWD.NotFound: a forwarding target that does not resolve; STOREDRV: the mailbox store;
// SMTPSEND.DNS: the lookup of the recipient's domain; QUEUE.Expired: the message expired in the queue.
constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kExchangeNames = {{
    {"resolver.adr.recipnotfound", "userunknown"},      {"resolver.adr.recipientnotfound", "userunknown"},
    {"resolver.adr.exrecipnotfound", "userunknown"},    {"resolver.adr.exrecipientnotfound", "userunknown"},
    {"resolver.adr.badprimary", "systemerror"},         {"resolver.adr.invalidinsmtp", "systemerror"},
    {"resolver.adr.ambiguous", "systemerror"},          {"resolver.fwd.notfound", "systemerror"},
    {"resolver.adr.recipientlimit", "toomanyconn"},     {"resolver.adr.reciplimit", "toomanyconn"},
    {"resolver.rst.recipsizelimit", "exceedlimit"},     {"resolver.rst.sendsizelimit", "mesgtoobig"},
    {"resolver.rst.notauthorized", "rejected"},         {"resolver.rst.authrequired", "securityerror"},
    {"resolver.rst.dlneedssenderrestrictions", "filtered"}, {"resolver.rst.deliveryrestricted", "filtered"},
    {"storedrv.deliver.exception:quotaexceeded", "mailboxfull"},
    {"storedrv.submit.exception:submissionquotaexceeded", "speeding"},
    {"smtpsend.dns.nonexistentdomain", "hostunknown"},  {"smtpsend.dns.mxloopback", "networkerror"},
    {"queue.expired", "expired"},                       {"routing.nomatchingconnector", "systemerror"},
}};

Verdict ExchangeOnline(const Evidence& e) {
  const std::string_view t = e.text;
  for (const auto& [name, reason] : kExchangeNames)
    if (Has(t, name)) return {std::string(reason), "vendor exchange " + std::string(name) + " (learn.microsoft.com, Exchange NDR codes)"};
  const StatusCode& c = e.code;
  if (!c.valid()) return {};
  // 5.1.10 is RFC 7505's null MX, but Exchange Online uses it for "Recipient not found by SMTP address lookup".
  if (c.subject == 1 && c.detail == 10 && (Has(t, "recipient not found") || Has(t, "recipientnotfound")))
    return {"userunknown", "vendor office365 5.1.10 recipient not found (learn.microsoft.com, NDR 5.1.10)"};
  // 5.4.1 with "Access denied": Directory-Based Edge Blocking, the recipient is not in the organization.
  if (c.cls == 5 && c.subject == 4 && c.detail == 1 && Has(t, "recipient address rejected: access denied"))
    return {"userunknown", "vendor office365 5.4.1 directory-based edge blocking (learn.microsoft.com, NDR 5.4.1)"};
  for (const MsCode& m : kExchangeOnline)
    if (m.cls == c.cls && m.subject == c.subject && c.detail >= m.detail_from && c.detail <= m.detail_to &&
        (m.detail_from >= 100 || Has(t, "outlook.com") || Has(t, "microsoft") || Has(t, "exchange") || Has(t, "office365") ||
         Has(t, "tenantattribution") || Has(t, "storedrv")))
      return {std::string(m.reason), "vendor office365 " + e.status + " " + std::string(m.meaning) +
                                         " (learn.microsoft.com, Exchange Online NDR codes)"};
  // 4.7.500-4.7.699: "Access denied, please try again later", a sending IP held back for suspicious traffic.
  if (c.cls == 4 && c.subject == 7 && c.detail >= 500 && c.detail <= 699)
    return {"blocked", "vendor office365 " + e.status + " access denied, try again later (learn.microsoft.com)"};
  return {};
}

// ---- Outlook.com / Hotmail (Microsoft consumer) ---------------------------------------------------
// "Outlook.com postmaster: troubleshooting" (https://sendersupport.olc.protection.outlook.com/pm/
// troubleshooting.aspx): S3140, S3150 and the other S-numbers say the sending IP is on Microsoft's block
// list; SC-001..SC-004, DY-001, DY-002, OU-001, OU-002 refuse the sending IP for reputation, a dynamic
// range or a compromised host.
Verdict OutlookCom(const Evidence& e) {
  const std::string_view t = e.text;
  for (std::string_view code : {"sc-001", "sc-002", "sc-003", "sc-004", "dy-001", "dy-002", "ou-001", "ou-002"})
    if (Has(t, code)) return {"blocked", "vendor outlook.com " + std::string(code) + " (Outlook.com postmaster troubleshooting)"};
  for (std::size_t at = t.find("(s3"); at != std::string_view::npos; at = t.find("(s3", at + 1)) {
    std::size_t i = at + 2;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    if (i - at - 1 == 5 && i < t.size() && t[i] == ')')
      return {"blocked", "vendor outlook.com " + std::string(t.substr(at + 1, 5)) + " block list (Outlook.com postmaster troubleshooting)"};
  }
  return {};
}

// ---- Yahoo / AOL ------------------------------------------------------------------------------------
// "SMTP error codes" for senders (https://senders.yahooinc.com/smtp-error-codes/): TS01, TS02, TSS02,
// TSS04 defer mail from an IP for its volume or the complaints it draws (its reputation); TS03, TS06,
// TSS09 defer it permanently (blocked); TSS11 for excessive unknown recipients.
Verdict Yahoo(const Evidence& e) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kCodes = {{
      {"[ts01]", "badreputation"}, {"[ts02]", "badreputation"}, {"[tss01]", "badreputation"},
      {"[tss02]", "badreputation"}, {"[tss04]", "badreputation"}, {"[tss05]", "badreputation"},
      {"[ts03]", "blocked"}, {"[ts06]", "blocked"}, {"[tss09]", "blocked"}, {"[tss07]", "blocked"},
      {"[tss11]", "blocked"},
  }};
  for (const auto& [code, reason] : kCodes)
    if (Has(e.text, code))
      return {std::string(reason), "vendor yahoo " + std::string(code) + " (senders.yahooinc.com/smtp-error-codes)"};
  return {};
}

// ---- Gmail / Google Workspace -------------------------------------------------------------------
// "Gmail SMTP errors and codes" (https://support.google.com/a/answer/3726730): every Gmail reply ends in
// "gsmtp" and most link a help topic ("?p=NoSuchUser") that names the cause.
Verdict Gmail(const Evidence& e) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTopics = {{
      {"p=nosuchuser", "userunknown"}, {"p=disableduser", "suspend"}, {"p=overquotatemp", "mailboxfull"},
      {"p=overquotaperm", "mailboxfull"}, {"p=receivingrate", "speeding"}, {"p=unsolicitedratelimiterror", "blocked"},
      {"p=unsolicitedmessageerror", "spamdetected"}, {"p=unsolicitedipreputation", "badreputation"},
      {"p=rfcmessagenoncompliant", "notcompliantrfc"}, {"p=blockedmessage", "policyviolation"},
      {"p=dmarcrejection", "authfailure"}, {"p=unauthenticatedemail", "authfailure"}, {"p=ipv6autherror", "requireptr"},
      {"p=reversednsfailure", "requireptr"}, {"p=maxsizeerror", "mesgtoobig"}, {"p=sendingrate", "speeding"},
  }};
  if (!Has(e.text, "gsmtp") && !Has(e.text, "support.google.com")) return {};
  for (const auto& [topic, reason] : kTopics)
    if (Has(e.text, topic))
      return {std::string(reason), "vendor gmail " + std::string(topic.substr(2)) + " (support.google.com/a/answer/3726730)"};
  return {};
}

// ---- gateways: Mimecast, Proofpoint, Cisco Secure Email (IronPort) ----------------------------------
// (Mimecast's replies are read by ProviderReply, provider_replies.cpp.)
// Proofpoint: "Proofpoint IP reputation" (https://ipcheck.proofpoint.com) linked from its IP refusals.
// Cisco: "User Guide for AsyncOS for Cisco Secure Email Gateway", default SMTP responses (HAT reject for
// a poor SenderBase reputation, LDAP accept query "#5.1.0 Address rejected" for a recipient not in the directory).
Verdict Gateways(const Evidence& e) {
  const std::string_view t = e.text;
  if (Has(t, "ipcheck.proofpoint.com")) return {"blocked", "vendor proofpoint ipcheck (ipcheck.proofpoint.com)"};
  if (Has(t, "#5.1.0 address rejected")) return {"userunknown", "vendor cisco ldap accept #5.1.0 (AsyncOS user guide)"};
  if (Has(t, "rejected due to the sending mta's poor reputation"))
    return {"blocked", "vendor cisco HAT reputation reject (AsyncOS user guide)"};
  return {};
}

Verdict Legacy(const Evidence& e) {
  const std::string_view t = e.text;
  if (std::string r = ReasonFromFrenchCode(t); !r.empty())
    return {r, "vendor orange/la poste OFR/LPN code (postmaster.orange.fr, laposte.net error codes)"};
  if (std::string r = ReasonFromGoDaddyCode(t); !r.empty()) return {r, "vendor godaddy IB code (GoDaddy bounce codes)"};
  if (std::string r = ReasonFromAupCode(t); !r.empty())
    return {r, "vendor cox/spectrum AUP# code (Cox and Spectrum postmaster error codes)"};
  if (std::string r = ReasonFromExchangeCode(t); !r.empty()) return {r, "vendor exchange 2003 MSEXCH:IMS code"};
  return {};
}

}  // namespace

Verdict VendorCode(const Evidence& e) {
  if (Verdict v = WriterTable(e)) return v;
  if (Verdict v = ProviderReply(e)) return v;
  for (auto* step : {&Yahoo, &OutlookCom, &Gmail, &Gateways, &Legacy, &ExchangeOnline})
    if (Verdict v = step(e)) return v;
  return {};
}

}  // namespace kurier::bounce::steps
