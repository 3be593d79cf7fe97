// provider_replies.cpp - step a0 of Classify: which mailbox provider or gateway answered, told by host
// names (the recipient's domain, the Remote-MTA, the Reporting-MTA, the host quoted in the reply), and the
// replies that provider documents for itself. A provider's sentence means what its documentation says,
// even where the same words elsewhere would read as another cause ("temporarily deferred due to ...
// user complaints" is Yahoo refusing this sender; "rejected due to security policies" is Mimecast's virus
// scanner). The host rule follows sisimai's Rhost selection: a recipient domain selects a provider when
// one of the provider's host patterns ends with it; a server host when it ends with a pattern.
// Each table names the page it was written from. Our own tables, from those pages' descriptions.
// SECURITY: hosts and text come from remote servers; they are only compared, never interpreted.
#include <array>
#include <cctype>

#include "bounce/classify_steps.hpp"

namespace kurier::bounce::steps {

namespace {

bool Has(std::string_view t, std::string_view s) { return t.find(s) != std::string_view::npos; }

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

struct HostPattern {
  std::string_view provider, pattern;
};

// Provider host names: MX and outbound hosts the providers publish in their DNS.
constexpr std::array<HostPattern, 17> kHosts = {{
    {"mimecast", ".mimecast.com"},
    {"messagelabs", ".messagelabs.com"},
    {"yahooinc", ".yahoodns.net"},
    {"microsoft", ".prod.outlook.com"},
    {"microsoft", ".protection.outlook.com"},
    {"microsoft", ".onmicrosoft.com"},
    {"microsoft", ".exchangelabs.com"},
    {"tencent", ".qq.com"},
    {"cox", "cox.net"},
    {"google", "aspmx.l.google.com"},
    {"google", "gmail-smtp-in.l.google.com"},
    {"apple", ".mail.icloud.com"},
    {"apple", ".apple.com"},
    {"apple", ".me.com"},
    {"aol", ".mail.aol.com"},
    {"kddi", ".ezweb.ne.jp"},
    {"kddi", "msmx.au.com"},
}};

std::string_view ByHost(std::string_view host, bool recipient_domain) {
  if (host.empty()) return {};
  for (const HostPattern& h : kHosts) {
    if (recipient_domain) {
      // "outlook.com" selects Microsoft because ".prod.outlook.com" ends with it.
      if (EndsWith(h.pattern, host) && (h.pattern.size() == host.size() || h.pattern[h.pattern.size() - host.size() - 1] == '.'))
        return h.provider;
    } else if (EndsWith(host, h.pattern)) {
      return h.provider;
    }
  }
  return {};
}

struct Row {
  std::string_view words;
  std::string_view reason;
};

Verdict FromRows(const Evidence& e, std::string_view provider, std::initializer_list<Row> rows, std::string_view source) {
  for (const Row& r : rows)
    if (Has(e.text, r.words))
      return {std::string(r.reason), "provider " + std::string(provider) + " '" + std::string(r.words) + "' (" + std::string(source) + ")"};
  return {};
}

}  // namespace

std::string ProviderOf(std::string_view hosts, std::string_view text) {
  // hosts: "recipient-domain remote-mta reporting-mta", lower case, space separated; the first is the
  // recipient's domain.
  std::size_t i = 0;
  bool first = true;
  while (i < hosts.size()) {
    std::size_t end = hosts.find(' ', i);
    if (end == std::string_view::npos) end = hosts.size();
    std::string_view host = hosts.substr(i, end - i);
    while (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (std::string_view p = ByHost(host, first); !p.empty()) return std::string(p);
    first = false;
    i = end + 1;
  }
  // Without host names, the provider's own signature in the reply.
  if (Has(text, "mimecast")) return "mimecast";
  if (Has(text, "messagelabs")) return "messagelabs";
  // (A link to Yahoo's error-code page is not a Yahoo host: other servers quote Yahoo's reply.)
  if (Has(text, "yahoodns.net")) return "yahooinc";
  if (Has(text, ".prod.outlook.com") || Has(text, ".protection.outlook.com")) return "microsoft";
  if (Has(text, "aspmx.l.google.com") || Has(text, "gmail-smtp-in.l.google.com")) return "google";
  return "";
}

namespace {

Verdict ProviderYahooinc(const Evidence& e, const std::string& p) {
  // senders.yahooinc.com/smtp-error-codes: TSS04 "temporarily deferred due to unexpected volume or user
  // complaints" and TSS09 "permanently deferred" refuse this sender's mail; "no longer valid" is an account
  // that was closed.
  return FromRows(e, p,
                  {{"temporarily deferred due to unexpected volume or user complaints", "rejected"},
                   {" will be permanently deferred", "rejected"},
                   {"headers are not rfc compliant", "notcompliantrfc"},
                   {"max message per connection reached", "toomanyconn"},
                   {" is no longer valid.", "suspend"}},
                  "senders.yahooinc.com/smtp-error-codes");
}

Verdict ProviderMimecast(const Evidence& e, const std::string& p) {
  return FromRows(e, p,
                  {{"email rejected due to security policies", "virusdetected"}, {"virus signature", "virusdetected"},
                   {"invalid recipient", "userunknown"}, {"poor reputation sender", "badreputation"},
                   {"identified as spam", "spamdetected"}, {"submitter failed spf", "authfailure"},
                   {"spf sender invalid", "authfailure"}, {"dkim sender invalid", "authfailure"},
                   {"dmarc sender invalid", "authfailure"},
                   {"internal resources are temporarily unavailable", "badreputation"},
                   {"sender address blocked", "blocked"}, {"recipient temporarily unavailable", "blocked"},
                   {"maximum email size exceeded", "mesgtoobig"},
                   {"this route requires encryption", "failedstarttls"}, {"this route requires tls version", "failedstarttls"},
                   {"this route requires high-strength ciphers", "failedstarttls"},
                   {"configuration is invalid for this certificate", "failedstarttls"},
                   {"incorrect hostname used for inbounds", "networkerror"},
                   {"account inbounds disabled", "notaccept"},
                   {"anti-spoofing policy", "policyviolation"}, {"content examination policy", "policyviolation"},
                   {"host network not allowed", "policyviolation"}, {"host network, not allowed", "policyviolation"},
                   {"blocked senders", "rejected"}, {"block policy for envelope from", "rejected"},
                   {"incorrect authentication data", "securityerror"}, {"submitter failed to", "securityerror"},
                   {"unable to process connection at this time", "systemerror"}, {"message ended early", "systemerror"},
                   {"unable to process command", "systemerror"}, {"unable to process an email at this time", "systemerror"},
                   {"account service is temporarily unavailable", "toomanyconn"},
                   {"exceeding outbound thread limit", "toomanyconn"}},
                  "community.mimecast.com, Mimecast SMTP Error Codes");
}

Verdict ProviderMessagelabs(const Evidence& e, const std::string& p) {
  return FromRows(e, p,
                  {{"domain authentication fail", "authfailure"}, {"connection rejected by policy", "badreputation"},
                   {"tls/sslv3 connection required", "failedstarttls"},
                   {" as a relay, ", "norelaying"}, {"your domain has been blocked", "rejected"},
                   {"your email address has been blocked", "rejected"},
                   {"your email address has been blacklisted", "rejected"},
                   {"your domain has been blacklisted", "rejected"},
                   {"your envelope sender is in my badmailfrom list", "rejected"},
                   {"message filtered", "spamdetected"}, {"filtered by outbound scanning", "spamdetected"},
                   {"too many messages", "toomanyconn"}, {"mailbox is not allowed", "userunknown"}},
                  "knowledge.broadcom.com, Email Security.cloud error and bounce codes");
}

Verdict ProviderTencent(const Evidence& e, const std::string& p) {
  return FromRows(e, p,
                  {{"suspected bounce attacks", "blocked"}, {"suspected spam ip", "blocked"},
                   {"connection denied", "blocked"}, {"suspected spam", "rejected"},
                   {"mail is rejected by recipients", "rejected"}, {"spam is embedded in the email", "spamdetected"},
                   {"frequency of receiving messages is limited", "speeding"}, {"bad address syntax", "syntaxerror"}},
                  "service.mail.qq.com/detail/122");
}

Verdict ProviderKddi(const Evidence& e, const std::string& p) {
  // au (KDDI) answers "550 <address>: User unknown" for a mailbox that does not exist, and the same words
  // without the address when the recipient's own filter refused the sender.
  return FromRows(e, p, {{">: user unknown", "userunknown"}}, "au.com/support/service/internet/trouble/mail");
}

Verdict ProviderCox(const Evidence& e, const std::string& p) {
  return FromRows(e, p, {{"too many invalid recipients", "blocked"}}, "postmaster.cox.com, Cox error codes");
}

Verdict ProviderGoogle(const Evidence& e, const std::string& p) {
  // support.google.com/a/answer/3726730, "SMTP errors and codes": Gmail's replies, each a code with the
  // sentence beside it (the class is not part of the match: Gmail answers some both ways).
  struct GoogleRow {
    int subject, detail;
    std::string_view words, reason;
  };
  static constexpr GoogleRow kRows[] = {
      {7, 32, "aligned with either the authenticated spf or dkim", "authfailure"},
      {7, 0, "ip not in whitelist for rcpt domain", "blocked"},
      {7, 0, "try again later, closing connection", "blocked"},
      {5, 4, "empty helo/ehlo argument not allowed", "blocked"},
      {5, 4, "helo/ehlo argument is invalid", "blocked"},
      {3, 4, "message header size limit", "exceedlimit"},
      {3, 4, "bytes per individual header size", "exceedlimit"},
      {3, 4, "header name limit of", "exceedlimit"},
      {7, 0, "connection expired", "expired"},
      {4, 2, "timeout - closing connection", "expired"},
      {7, 0, "must issue a starttls command first", "failedstarttls"},
      {5, 1, "starttls may not be repeated", "failedstarttls"},
      {7, 0, "tls required for rcpt domain", "failedstarttls"},
      {7, 29, "senders to use tls/ssl for smtp", "failedstarttls"},
      {7, 1, "is not authorized to send email directly to our servers", "norelaying"},
      {7, 1, "unicode character in a disallowed header", "notcompliantrfc"},
      {1, 7, "is not a valid rfc 5321 address", "notcompliantrfc"},
      {6, 0, "mail message is malformed", "notcompliantrfc"},
      {7, 28, "sending messages with the same message-id", "policyviolation"},
      {7, 0, "due to the nature of the content or the links within", "spamdetected"},
      {2, 1, "rate that prevents additional messages from being delivered", "speeding"},
      {5, 0, "smtp protocol violation", "syntaxerror"},
      {7, 10, "smtp protocol violation", "syntaxerror"},
      {5, 4, "optional argument not permitted", "syntaxerror"},
      {7, 11, "syntax error", "syntaxerror"},
      {5, 2, "syntax error", "syntaxerror"},
      {7, 4, "unrecognized authentication type", "syntaxerror"},
      {7, 4, "xoauth is no longer supported", "syntaxerror"},
      {7, 0, "too many unauthenticated commands", "syntaxerror"},
      {4, 5, "server busy", "systemerror"},
      {3, 0, "multiple destination domains per transaction is unsupported", "systemerror"},
      {3, 0, "temporarily rejected this message", "systemerror"},
      {3, 0, "temporarily rejected message", "systemerror"},
      {5, 3, "domain policy size per transaction exceeded", "systemerror"},
      {1, 2, "we weren't able to find the recipient domain", "userunknown"},
  };
  const StatusCode& c = e.code;
  if (c.valid())
    for (const GoogleRow& r : kRows)
      if (r.subject == c.subject && r.detail == c.detail && Has(e.text, r.words))
        return {std::string(r.reason), "provider google " + e.status + " '" + std::string(r.words) +
                                           "' (support.google.com/a/answer/3726730)"};
  return {};
}

Verdict ProviderMicrosoft(const Evidence& e, const std::string& p) {
  // learn.microsoft.com, "Email non-delivery reports and SMTP errors in Exchange Online" and the pages per
  // code: each row is the enhanced code (or range) with the sentence Exchange Online writes beside it.
  // Some codes carry several causes (4.3.2: a busy service, a recipient thread limit, a system taking no
  // network mail), so the sentence, not the code alone, decides.
  struct MsRow {
    int cls, subject, from, to;  // cls 0: either class
    std::string_view words, reason;
  };
  static constexpr MsRow kRows[] = {
      {4, 7, 650, 650, "rate limited due to ip reputation", "badreputation"},
      {4, 7, 850, 899, "access denied, please try again later", "blocked"},
      {5, 7, 25, 25, "must have a reverse dns record", "blocked"},
      {5, 7, 506, 506, "access denied, bad helo", "blocked"},
      {5, 7, 510, 510, "does not accept email over ipv6", "blocked"},
      {5, 5, 4, 4, "invalid domain name", "blocked"},
      {5, 3, 0, 0, "too many related errors", "contenterror"},
      {5, 4, 11, 11, "agent generated message depth exceeded", "contenterror"},
      {5, 5, 6, 6, "invalid message content", "contenterror"},
      {0, 4, 8, 8, "failed mta-sts validation", "failedstarttls"},
      {0, 4, 317, 317, "starttls is required to send mail", "failedstarttls"},
      {0, 7, 5, 5, "remote certificate failed mta-sts validation", "failedstarttls"},
      {5, 7, 51, 51, "restrictdomainstoipaddresses or restrictdomainstocertificate", "failedstarttls"},
      {0, 7, 321, 325, "destination mail server must support tls", "failedstarttls"},
      {0, 7, 321, 325, "certificate-expired", "failedstarttls"},
      {0, 7, 321, 325, "dnssec-invalid", "failedstarttls"},
      {0, 7, 321, 325, "certificate-host-mismatch", "failedstarttls"},
      {0, 7, 321, 325, "tlsa-invalid", "failedstarttls"},
      {5, 4, 4, 4, "nonexistentdomain", "networkerror"},
      {5, 4, 4, 4, "invalid arguments", "networkerror"},
      {4, 3, 2, 2, "system not accepting network messages", "notaccept"},
      {4, 4, 4, 4, "hosted tenant which has no mail-enabled subscriptions", "notaccept"},
      {5, 0, 350, 350, "x-dg-ref header is too long", "policyviolation"},
      {5, 7, 900, 999, "delivery not authorized, message refused", "policyviolation"},
      {5, 1, 0, 0, "sender denied", "rejected"},
      {5, 7, 1, 1, "delivery not authorized", "rejected"},
      {5, 7, 12, 12, "sender was not authenticated by organization", "rejected"},
      {5, 7, 124, 124, "sender not in allowed-senders list", "rejected"},
      {5, 7, 133, 136, "not authenticated for", "rejected"},
      {5, 7, 13, 13, "sender was not authenticated for public folder", "rejected"},
      {5, 7, 136, 136, "sender was not authenticated", "rejected"},
      {5, 7, 501, 503, "spam abuse detected", "rejected"},
      {5, 7, 501, 503, "banned sender", "rejected"},
      {5, 7, 512, 512, "rfc 5322 section 3.6.2 compliant", "rejected"},
      {5, 7, 750, 750, "client blocked from sending from unregistered domains", "rejected"},
      {5, 2, 1, 1, "content filter agent quarantined this message", "spamdetected"},
      {4, 3, 2, 2, "recipient thread limit exceeded", "speeding"},
      {5, 2, 2, 2, "submission quota exceeded", "speeding"},
      {5, 7, 508, 508, "has exceeded permitted limits within", "speeding"},
      {5, 7, 700, 749, "tenant has exceeded threshold", "speeding"},
      {5, 7, 700, 749, "traffic not accepted from this ip", "speeding"},
      {5, 7, 504, 504, "recipient address rejected: access denied", "suspend"},
      {5, 7, 505, 505, "access denied, banned recipient", "suspend"},
      {5, 2, 1, 1, "mailbox cannot be accessed", "suspend"},
      {5, 3, 3, 3, "unrecognized command", "syntaxerror"},
      {5, 5, 2, 2, "send hello first", "syntaxerror"},
      {4, 3, 2, 2, "service not available", "systemerror"},
      {4, 3, 2, 2, "service not active", "systemerror"},
      {5, 3, 190, 190, "journaling on-premises messages", "systemerror"},
      {5, 0, 0, 0, "helo / ehlo requires domain address", "systemerror"},
      {5, 1, 4, 4, "destination mailbox address ambiguous", "systemerror"},
      {5, 2, 4, 4, "mailing list expansion problem", "systemerror"},
      {5, 2, 14, 14, "misconfigured forwarding address", "systemerror"},
      {0, 4, 318, 318, "(suspiciousremoteservererror)", "systemerror"},
      {4, 7, 500, 500, "server busy. please try again later from", "systemerror"},
      {4, 7, 700, 700, "pfa agent busy", "systemerror"},
      {5, 2, 122, 122, "the recipient has exceeded their limit for", "toomanyconn"},
      {5, 1, 4, 5, "recipient address reserved by rfc 2606", "userunknown"},
      {5, 1, 6, 6, "recipient addresses in single label domains not accepted", "userunknown"},
      {5, 1, 2, 2, "invalid x.400 address", "userunknown"},
  };
  const StatusCode& c = e.code;
  if (c.valid()) {
    for (const MsRow& r : kRows)
      if ((r.cls == 0 || r.cls == c.cls) && r.subject == c.subject && c.detail >= r.from && c.detail <= r.to &&
          Has(e.text, r.words))
        return {std::string(r.reason), "provider microsoft " + e.status + " '" + std::string(r.words) +
                                           "' (learn.microsoft.com, Exchange Online NDR codes)"};
    // 5.4.310 "DNS domain does not exist": a domain the tenant accepts but cannot route (relay settings).
    if (c.cls == 5 && c.subject == 4 && c.detail == 310)
      return {"norelaying", "provider microsoft 5.4.310 (learn.microsoft.com, Exchange Online NDR 5.4.310)"};
  }
  return {};
}

}  // namespace

Verdict ProviderReply(const Evidence& e) {
  static constexpr std::pair<std::string_view, Verdict (*)(const Evidence&, const std::string&)> kProviders[] = {
      {"yahooinc", &ProviderYahooinc},
      {"mimecast", &ProviderMimecast},
      {"messagelabs", &ProviderMessagelabs},
      {"tencent", &ProviderTencent},
      {"kddi", &ProviderKddi},
      {"cox", &ProviderCox},
      {"google", &ProviderGoogle},
      {"microsoft", &ProviderMicrosoft},
  };
  for (const auto& [name, table] : kProviders)
    if (e.provider == name) return table(e, e.provider);
  return {};
}

}  // namespace kurier::bounce::steps
