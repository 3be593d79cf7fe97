// classify_steps_test.cpp - each step of Classify on its own, table-driven, with examples written from
// the documentation each rule names (vendor pages, RFC 3463, the MTAs' own wording); none is taken from
// tests/corpus/bounces.
#include "bounce/classify_steps.hpp"

#include <gtest/gtest.h>

namespace kurier::bounce::steps {
namespace {

Evidence Of(int code, std::string status, std::string text, std::string command = "") {
  static std::string keep_status, keep_text, keep_command;
  keep_status = std::move(status);
  keep_text = std::move(text);
  keep_command = std::move(command);
  ReplyContext c;
  c.reply_code = code;
  c.status = keep_status;
  c.text = keep_text;
  c.command = keep_command;
  return MakeEvidence(c);
}

struct Case {
  int code;
  std::string status, text, command;
  std::string reason;      // "" when the step must say nothing
  std::string rule_part;   // a part the rule must name
};

void Check(Verdict (*step)(const Evidence&), const char* name, std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    Verdict v = step(Of(c.code, c.status, c.text, c.command));
    EXPECT_EQ(v.reason, c.reason) << name << ": " << c.status << " " << c.text;
    if (!c.rule_part.empty()) {
      EXPECT_NE(v.rule.find(c.rule_part), std::string::npos) << name << ": " << v.rule;
    }
    if (!c.reason.empty()) {
      EXPECT_FALSE(v.rule.empty()) << name << ": " << c.text;
    }
  }
}

// a) learn.microsoft.com (Exchange Online NDRs), senders.yahooinc.com, Outlook.com postmaster,
// support.google.com/a/answer/3726730, Mimecast's SMTP error codes, ipcheck.proofpoint.com, AsyncOS.
TEST(ClassifySteps, VendorCodes) {
  Check(&VendorCode, "vendor",
        {
            {550, "5.4.316", "Message expired, connection refused(Socket error code 10061)", "", "expired", "office365 5.4.316"},
            {451, "4.4.316", "Connection refused [Message=Socket error code 10061]", "", "networkerror", "4.4.316"},
            {550, "5.7.708", "Access denied, traffic not accepted from this IP", "", "blocked", "5.7.708"},
            {550, "5.7.606", "Access denied, banned sending IP [192.0.2.7]", "", "blocked", "5.7.606"},
            {550, "5.4.310", "DNS domain nowhere.example does not exist", "", "hostunknown", "5.4.310"},
            {550, "5.1.10", "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "", "userunknown",
             "resolver.adr.recipientnotfound"},
            {550, "5.1.10", "Recipient bob@example.com not found by SMTP address lookup", "", "", ""},
            {550, "5.4.1", "Recipient address rejected: Access denied. AS(201806281)", "RCPT", "userunknown", "5.4.1"},
            {550, "5.7.509", "Access denied, sending domain example.org does not pass DMARC verification", "", "authfailure", ""},
            {550, "5.7.64", "TenantAttribution; Relay Access Denied", "", "norelaying", ""},
            {550, "5.7.124", "Your message can't be delivered because the sender isn't in the group's allowed senders list",
             "", "filtered", ""},
            {552, "5.2.3", "RESOLVER.RST.RecipSizeLimit; message too large for this recipient", "", "exceedlimit", ""},
            {550, "5.7.1", "RESOLVER.RST.NotAuthorized; not authorized", "", "rejected", "resolver.rst.notauthorized"},
            {550, "5.7.1", "RESOLVER.RST.AuthRequired; authentication required", "", "securityerror", "authrequired"},
            {550, "5.2.0", "RESOLVER.ADR.BadPrimary; the recipient's primary SMTP address is invalid", "", "systemerror",
             "badprimary"},
            {550, "5.4.4", "SMTPSEND.DNS.NonExistentDomain; nonexistent domain", "", "hostunknown", ""},
            {421, "4.7.0", "[TSS04] Messages from 192.0.2.7 temporarily deferred due to user complaints", "",
             "badreputation", "yahoo [tss04]"},
            {553, "5.7.2", "[TSS09] All messages from 192.0.2.7 will be permanently deferred; Retrying will NOT succeed", "",
             "blocked", "[tss09]"},
            {550, "5.7.1",
             "Unfortunately, messages from [192.0.2.7] weren't sent. Please contact your Internet service provider since "
             "part of their network is on our block list (S3140).",
             "", "blocked", "s3140"},
            {550, "", "SC-001 Mail rejected by Outlook.com for policy reasons", "", "blocked", "sc-001"},
            {550, "5.1.1", "The account does not exist. https://support.google.com/mail/?p=NoSuchUser x1si - gsmtp", "",
             "userunknown", "gmail nosuchuser"},
            {452, "4.2.2", "The recipient's inbox is out of storage space. https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
             "", "mailboxfull", ""},
            {421, "4.7.28", "Unusual rate of mail from your IP. https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp",
             "", "blocked", ""},
            {550, "", "Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550", "", "userunknown", "mimecast"},
            {554, "", "Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554", "",
             "virusdetected", "mimecast"},
            {554, "5.7.0", "Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.7", "", "blocked", "proofpoint"},
            {550, "5.1.0", "#5.1.0 Address rejected", "RCPT", "userunknown", "cisco"},
            // no vendor sign: the step says nothing
            {550, "5.1.1", "User unknown", "RCPT", "", ""},
            {550, "5.7.1", "Message refused", "", "", ""},
        });
}

// a0) Who answered, by host name (sisimai's Rhost selection): a recipient domain selects a provider when one
// of its host patterns ends with it, a server when its name ends with a pattern; then that provider's
// documented replies (senders.yahooinc.com, community.mimecast.com, learn.microsoft.com, Broadcom, QQ).
TEST(ClassifySteps, ProviderReplies) {
  struct HostCase {
    std::string hosts, text, provider;
  };
  for (const HostCase& c : std::initializer_list<HostCase>{
           {"outlook.com", "", "microsoft"},
           {"example.org mx1.example.org.mail.protection.outlook.com", "", "microsoft"},
           {"example.org mta6.am0.yahoodns.net dns.example.net", "", "yahooinc"},
           {"example.org  eu-smtp-inbound-1.mimecast.com", "", "mimecast"},
           {"example.org cluster5.eu.messagelabs.com", "", "messagelabs"},
           {"qq.com", "", "tencent"},
           {"hotmail.com", "", ""},  // Hotmail's own replies are read by the general rules
           {"mail.com mx.mail.com", "", ""},
           {"example.org mx.example.org", "see https://postmaster.yahooinc.com/error-codes", ""},
           {"", "550 invalid recipient - https://community.mimecast.com/docs", "mimecast"},
       })
    EXPECT_EQ(ProviderOf(c.hosts, c.text), c.provider) << c.hosts << " | " << c.text;

  auto with = [](std::string provider, int code, std::string status, std::string text) {
    Evidence e = Of(code, std::move(status), std::move(text));
    e.provider = std::move(provider);
    return ProviderReply(e);
  };
  const std::string tss04 = "[TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints";
  EXPECT_EQ(with("yahooinc", 421, "4.7.0", tss04).reason, "rejected");
  EXPECT_EQ(with("", 421, "4.7.0", tss04).reason, "");
  EXPECT_EQ(VendorCode(Of(421, "4.7.0", tss04)).reason, "badreputation");  // no Yahoo host: the code's wording
  EXPECT_EQ(with("mimecast", 554, "", "Email rejected due to security policies").reason, "virusdetected");
  EXPECT_EQ(with("mimecast", 550, "", "Envelope rejected - Block policy for Envelope From address").reason, "rejected");
  EXPECT_EQ(with("messagelabs", 553, "", "Sorry, your email address has been blacklisted").reason, "rejected");
  EXPECT_EQ(with("microsoft", 550, "5.4.4", "SMTPSEND.DNS.NonExistentDomain; nonexistent domain").reason, "networkerror");
  EXPECT_EQ(with("microsoft", 550, "5.4.310", "DNS domain example.org does not exist").reason, "norelaying");
  EXPECT_EQ(with("microsoft", 550, "5.7.708", "Access denied, traffic not accepted from this IP").reason, "speeding");
  EXPECT_EQ(with("microsoft", 451, "4.3.2", "Service not available, closing transmission channel").reason, "systemerror");
  EXPECT_EQ(with("microsoft", 451, "4.3.2", "STOREDRV.Deliver; recipient thread limit exceeded").reason, "speeding");
  EXPECT_EQ(with("microsoft", 550, "5.4.8", "Remote certificate failed MTA-STS validation").reason, "failedstarttls");
  EXPECT_EQ(with("microsoft", 550, "5.7.133", "Sender not authenticated for group").reason, "rejected");
  EXPECT_EQ(with("microsoft", 550, "5.7.1", "Unknown").reason, "");  // a code alone names nothing here
  EXPECT_EQ(with("tencent", 550, "", "Frequency of receiving messages is limited").reason, "speeding");
  EXPECT_EQ(with("cox", 554, "", "too many invalid recipients").reason, "blocked");
  EXPECT_EQ(with("kddi", 550, "", "550 <bob@ezweb.ne.jp>: User unknown").reason, "userunknown");
  EXPECT_EQ(ProviderOf("ezweb.ne.jp", ""), "kddi");
  EXPECT_EQ(with("google", 550, "5.1.1", "The email account that you tried to reach does not exist").reason, "");
  EXPECT_EQ(with("google", 451, "4.4.5", "Server busy, try again later").reason, "systemerror");
  EXPECT_EQ(with("google", 553, "5.1.2", "We weren't able to find the recipient domain").reason, "userunknown");
  EXPECT_EQ(with("google", 421, "4.7.0", "TLS required for RCPT domain, closing connection").reason, "failedstarttls");
}

// a00) What a bounce writer says under its own name, and local delivery agents (mail.local, Dovecot,
// vpopmail): examples written from the products' notices.
TEST(ClassifySteps, WriterTables) {
  auto by = [](std::string writer, std::string text, std::string command = "") {
    Evidence e = Of(550, "", std::move(text), std::move(command));
    e.writer = std::move(writer);
    return WriterTable(e).reason;
  };
  EXPECT_EQ(by("mcafee", "550 <bob@example.org>... User not exist"), "userunknown");
  EXPECT_EQ(by("messagelabs", "550 bob@example.org... No such user"), "userunknown");
  EXPECT_EQ(by("messagelabs", "535 Please turn on SMTP Authentication in your mail client"), "securityerror");
  EXPECT_EQ(by("interscan", "Unable to deliver message to <bob@example.org>."), "userunknown");
  EXPECT_EQ(by("gmail", "The error that the other server returned was: 550 Header error (state 18)."), "filtered");
  EXPECT_EQ(by("gmail", "The error that the other server returned was: 550 No such user (state 14)."), "userunknown");
  EXPECT_EQ(by("", "The error that the other server returned was: 550 Header error (state 18)."), "");
  EXPECT_EQ(by("gmail", "550 5.7.1 Client refused (state 13)."), "securityerror");  // a specific status says more
  EXPECT_EQ(by("gmail", "550 Client refused (state 13)."), "blocked");
  EXPECT_EQ(by("au-spasign", "550 : User unknown"), "filtered");
  EXPECT_EQ(by("", "Connected to 192.0.2.1 but my name was rejected. Remote host said: 550 no reverse DNS", "EHLO"),
            "blocked");
  EXPECT_EQ(by("aol", "Name service error for name=example.org type=MX: Malformed or unexpected name server reply"),
            "notaccept");
  EXPECT_EQ(by("", "550 <bob@example.org>... User not exist"), "");  // nobody signed it: the general rules decide
  EXPECT_EQ(by("", "mail.local: unknown user: bob"), "userunknown");
  EXPECT_EQ(by("", "mail.local: unknown user: bob", "RCPT"), "");  // refused in SMTP: not the local agent
  EXPECT_EQ(by("", "lda(bob): Error: mailbox doesn't exist: INBOX/Archive"), "userunknown");
  EXPECT_EQ(by("", "user does not exist, but will deliver to /home/vpopmail/domains/example.org/catchall"), "filtered");
}

// b) RFC 3463 / RFC 5248 / RFC 7372 / RFC 7505: specific codes name a reason, ambiguous ones do not.
TEST(ClassifySteps, StatusMeaning) {
  Check(&StatusMeaning, "status",
        {
            {550, "5.1.1", "", "", "userunknown", "5.1.1 (RFC 3463)"}, {550, "5.1.2", "", "", "hostunknown", ""},
            {553, "5.1.3", "", "", "userunknown", ""},                   {550, "5.1.6", "", "", "hasmoved", ""},
            {553, "5.1.8", "", "", "rejected", ""},                      {556, "5.1.10", "", "", "notaccept", ""},
            {552, "5.2.2", "", "", "mailboxfull", ""},                   {452, "4.2.2", "", "", "mailboxfull", ""},
            {552, "5.2.3", "", "", "exceedlimit", ""},                   {552, "5.3.4", "", "", "mesgtoobig", ""},
            {451, "4.4.7", "", "", "expired", ""},                       {550, "5.4.6", "", "", "networkerror", ""},
            {451, "4.4.5", "", "", "systemfull", ""},                    {550, "5.7.13", "", "", "suspend", ""},
            {550, "5.7.25", "", "", "requireptr", ""},                   {550, "5.7.26", "", "", "authfailure", ""},
            {556, "5.7.27", "", "", "notaccept", ""},                    {554, "5.6.0", "", "", "contenterror", ""},
            // little evidence on their own
            {550, "5.0.0", "", "", "", ""}, {450, "4.1.0", "", "", "", ""}, {550, "5.7.1", "", "", "", ""},
            {550, "5.1.0", "", "", "userunknown", ""},  // other address status: the recipient's, as the reference reads it
            {550, "5.5.0", "", "", "", ""}, {450, "4.0.0", "", "", "", ""}, {550, "", "", "", "", ""},
        });
}

// c) the command that failed, and the other fallbacks (RFC 5321 4.2, RFC 3464 Action).
TEST(ClassifySteps, CommandHint) {
  Check(&CommandHint, "command",
        {
            {554, "", "No thanks", "CONN", "blocked", "CONN"},
            {550, "", "Go away", "EHLO", "blocked", "EHLO"},
            {550, "", "Not now", "MAIL", "rejected", "MAIL"},
            {503, "", "Bad sequence of commands", "", "syntaxerror", "503"},
            {550, "5.7.0", "", "", "securityerror", "X.7"},
            {554, "5.6.0", "", "", "contenterror", "X.6"},
            {450, "4.0.0", "Temporary failure", "RCPT", "onhold", "nothing decisive"},
            {0, "", "", "", "undefined", "nothing to classify"},
        });
}

// d) phrase families: many wordings of one cause, in English and in local languages.
TEST(ClassifySteps, PhraseFamilies) {
  Check(&PhraseFamily, "phrases",
        {
            // no such user (Postfix, Sendmail, qmail, Exim, Exchange, webmail, gateways in local languages)
            {550, "5.1.1", "<bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table", "RCPT",
             "userunknown", "userunknown"},
            {550, "", "Requested action not taken: mailbox unavailable", "RCPT", "userunknown", ""},
            {550, "", "Sorry, no mailbox here by that name.", "RCPT", "userunknown", ""},
            {554, "", "delivery error: dd This user doesn't have a example.com account", "", "userunknown", ""},
            {550, "", "Recipient address rejected: undeliverable address: unverified", "RCPT", "userunknown", ""},
            {550, "", "Benutzer unbekannt", "RCPT", "userunknown", "benutzer unbekannt"},
            {550, "", "Le destinataire inconnu: bob@example.fr", "RCPT", "userunknown", ""},
            {550, "", "Usuario desconocido", "RCPT", "userunknown", ""},
            {550, "", "Skrzynka nie istnieje", "RCPT", "userunknown", ""},
            {550, "", "Utente sconosciuto", "RCPT", "userunknown", ""},
            {550, "", "5.1.1 Invalid user bob", "RCPT", "userunknown", ""},
            {550, "", "No such account here", "RCPT", "userunknown", ""},
            {550, "", "指定されたユーザが存在しません", "RCPT", "userunknown", ""},
            // "no such user" is strong only where it answers the recipient: at RCPT or under X.1.1; said after
            // DATA or with neither, it is the recipient side's filter refusing this sender
            {550, "", "User unknown", "", "filtered", "neither refused at RCPT nor under X.1.1"},
            {550, "5.0.0", "No such user here", "", "filtered", ""},
            {550, "", "User unknown", "DATA", "filtered", ""},
            {550, "5.1.1", "User unknown", "", "userunknown", ""},
            {550, "", "User unknown", "RCPT", "userunknown", ""},
            // under X.1.1 only a narrower cause, a blocked client, a domain taking no mail or a refused sender
            // outweighs the code
            {550, "5.1.1", "Refused for policy reasons", "RCPT", "", ""},  // the status decides: userunknown
            {550, "5.1.1", "Client host blocked using zen.spamhaus.org", "RCPT", "blocked", ""},
            {552, "5.1.1", "Mailbox full", "RCPT", "mailboxfull", ""},
            // the unknown address is the sender's
            {553, "5.1.8", "Sender address rejected: User unknown", "MAIL", "rejected", ""},
            // full mailbox
            {552, "5.2.2", "Mailbox full", "RCPT", "mailboxfull", ""},
            {452, "", "user is over quota", "RCPT", "mailboxfull", ""},
            {552, "", "Postfach voll", "RCPT", "mailboxfull", ""},
            {552, "", "Buzón lleno", "RCPT", "mailboxfull", ""},
            // size
            {552, "5.3.4", "Message size exceeds fixed maximum message size", "DATA", "mesgtoobig", ""},
            {552, "5.2.3", "Message size exceeds fixed maximum message size", "DATA", "exceedlimit", "status 5.2.3"},
            {552, "", "Nachricht zu groß", "DATA", "mesgtoobig", ""},
            // relaying, blocks, spam, policy
            {554, "5.7.1", "<bob@example.org>: Relay access denied", "RCPT", "norelaying", ""},
            {554, "5.7.1", "Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org", "RCPT", "blocked", ""},
            {550, "5.7.1", "Message rejected as spam", "DATA", "spamdetected", ""},
            {550, "5.7.1", "Message rejected for policy reasons", "DATA", "policyviolation", ""},
            {550, "", "Message refused for policy reasons", "DATA", "policyviolation", ""},
            {550, "5.7.1", "Message refused for policy reasons", "DATA", "", ""},  // X.7 says as much: the status decides
            {421, "4.7.0", "Too many connections from your host", "CONN", "toomanyconn", ""},
            // DNS: a missing domain versus a lookup that failed
            {550, "",
             "Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found", "",
             "hostunknown", ""},
            {450, "",
             "Host or domain name not found. Name service error for name=example.org type=MX: Host not found, try again", "",
             "networkerror", ""},
            // fixed strings of the MTAs' own sources: qmail (qmail-remote.c, notqmail's null MX), Exim
            // (parse.c, transports), Domino, OpenSMTPD (mta.c), Oracle Messaging Server, IMail
            {0, "", "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", "", "notaccept", ""},
            {550, "", "Requested action not taken: mailbox unavailable (not enough free space)", "RCPT", "systemfull", ""},
            {550, "", "malformed address: bob@ may not follow <bob@example.org>", "", "syntaxerror", "RFC 5321"},
            {550, "", "cannot route mail to user (bob@example.org)", "", "filtered", ""},
            {0, "", "Illegal host/domain name found", "", "hostunknown", ""},
            {0, "", "No valid route to remote MX", "", "networkerror", ""},
            {550, "", "Invalid final delivery userid: bob", "", "userunknown", ""},
            {550, "", "Le destinataire bob n'est pas répertorié dans l'annuaire Domino", "", "userunknown", ""},
            {550, "", "Mailaddress is administrativly disabled. (#5.2.1)", "", "suspend", ""},
            {0, "", "DNS Error: Could not contact DNS servers", "", "expired", ""},
            {550, "", "Mailbox unavailable or access denied", "RCPT", "suspend", ""},
            {550, "", "Relaying mail to example.org is not allowed", "RCPT", "norelaying", ""},
            {554, "", "Your message failed several antispam checks", "DATA", "spamdetected", ""},
            {550, "", "Message too large", "DATA", "exceedlimit", ""},
            {552, "5.3.4", "Message too large", "DATA", "mesgtoobig", "status 5.3.4"},
            {552, "", "Message length exceeds administrative limit", "DATA", "mesgtoobig", ""},
            // nothing that names a cause
            {550, "5.0.0", "Error", "", "", ""},
        });
  Check(&WeakPhraseFamily, "weak phrases",
        {
            {451, "", "retry timeout exceeded", "", "expired", ""},
            {451, "", "connect to mx.example.org[192.0.2.7]:25: Connection timed out", "", "expired", ""},
            {451, "", "connect to mx.example.org[192.0.2.7]:25: Connection refused", "", "networkerror", ""},
            {451, "", "Temporary local problem - please try later", "", "systemerror", ""},
            {0, "", "all hosts for 'example.org' have been failing for a long time (and retry time not reached)", "",
             "expired", ""},
            {0, "", "I'm not going to try again; this message has been in the queue too long.", "", "expired", ""},
            {451, "", "delivery to pipe forbidden", "", "systemerror", ""},
            {451, "", "Temporary failure in LDAP lookup (#4.4.3)", "", "systemerror", ""},
            {550, "", "Error", "", "", ""},
        });
}

// The guard: hard only when nothing else in the evidence contradicts a missing address or domain.
TEST(ClassifySteps, HardOnlyOnStrongEvidence) {
  struct GuardCase {
    ReplyContext context;
    std::string reason;
    bool hard;
  };
  const GuardCase cases[] = {
      // strong: the code and the words agree
      {{550, "5.1.1", "User unknown", "RCPT", "failed", "smtp"}, "userunknown", true},
      {{550, "5.1.2", "Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found",
        "", "failed", "smtp"},
       "hostunknown", true},
      // user-unknown words under a temporary reply: the directory may just be unreachable
      {{450, "", "Recipient address rejected: User unknown in local recipient table", "RCPT", "failed", "smtp"}, "onhold", false},
      // user-unknown words under a policy code
      {{550, "5.7.1", "Unknown user", "", "failed", "smtp"}, "filtered", false},
      {{550, "5.7.1", "Unknown user", "DATA", "failed", "smtp"}, "filtered", false},
      // a 5.1.1 at MAIL FROM is about the sender
      {{550, "5.1.1", "Not here", "MAIL", "failed", "smtp"}, "rejected", false},
      // a 5.1.1 at connection time: the client was refused
      {{550, "5.1.1", "Not here", "CONN", "failed", "smtp"}, "blocked", false},
      // an X.4.4 routing failure whose words say the lookup timed out
      {{550, "5.4.4", "Unable to route: DNS lookup timed out for example.org", "", "failed", "smtp"}, "networkerror", false},
      // a DNS error that says the domain does not exist is hard; one that says the lookup failed is not
      {{550, "", "DNS Error: Address resolution of nowhere.example failed: Domain name not found", "", "failed", "smtp"},
       "hostunknown", true},
      {{451, "", "DNS Error: DNS server returned a temporary failure for example.org", "", "failed", "smtp"}, "networkerror",
       false},
      // a temporary X.1.2
      {{451, "4.1.2", "Domain lookup failed, try again later", "RCPT", "failed", "smtp"}, "networkerror", false},
      // ... unless its words say the host does not exist (qmail-remote's wording)
      {{0, "4.1.2", "Sorry, I couldn't find any host by that name. (#4.1.2)", "", "failed", "smtp"}, "hostunknown", true},
  };
  for (const GuardCase& c : cases) {
    Classification got = Classify(c.context);
    EXPECT_EQ(got.reason, c.reason) << c.context.status << " " << c.context.text;
    EXPECT_EQ(got.hard, c.hard) << c.context.status << " " << c.context.text;
    EXPECT_FALSE(got.rule.empty()) << c.context.text;
  }
}

}  // namespace
}  // namespace kurier::bounce::steps
