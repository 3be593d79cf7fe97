#include "bounce/classify.hpp"

#include <gtest/gtest.h>

namespace kurier::bounce {
namespace {

// Synchronous replies as delivery sees them: {reply code, enhanced status, text} -> {reason, hard}.
TEST(ClassifyReply, RepliesByGeneralSigns) {
  struct Case {
    int code;
    std::string status;
    std::string text;
    std::string reason;
    bool hard;
  };
  const Case cases[] = {
      // status codes decide when the wording adds nothing
      {550, "5.1.1", "5.1.1 <bob@example.com>: Recipient address rejected: User unknown in local recipient table",
       "userunknown", true},
      {550, "5.1.2", "Host unknown", "hostunknown", true},
      {552, "5.2.2", "Mailbox full", "mailboxfull", false},
      {552, "5.3.4", "Error: message file too big", "mesgtoobig", false},
      {552, "5.2.3", "Message length exceeds administrative limit", "exceedlimit", false},
      {550, "5.1.6", "recipient no longer on server", "hasmoved", true},
      {525, "5.7.13", "Disabled recipient address", "suspend", false},
      {553, "5.1.8", "Domain of sender address does not exist", "rejected", false},
      {550, "5.1.10", "null MX", "notaccept", true},
      {450, "4.4.7", "", "expired", false},
      // wording more precise than the code
      {552, "5.1.1", "sorry, mailbox bob@example.com is over quota temporarily (#5.1.1)", "mailboxfull", false},
      // a recipient "unknown" under a policy code, with no sign that RCPT was refused: a recipient filter
      {553, "5.7.1", "Invalid recipient bob@example.org (Mode: normal)", "filtered", false},
      {550, "5.1.1", "5.7.1 IP address blacklisted by recipient", "blocked", false},
      {554, "5.7.1", "Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org", "blocked", false},
      {550, "5.7.1", "Message rejected as spam by Content Filtering.", "spamdetected", false},
      {550, "5.7.26", "Unauthenticated email from example.org is not accepted due to domain's DMARC policy",
       "authfailure", false},
      {550, "5.7.25", "The IP address sending this message does not have a PTR record setup", "requireptr", false},
      {550, "5.7.1",
       "Our system has detected that this message is likely suspicious due to the very low reputation of the sending "
       "IP address",
       "badreputation", false},
      {554, "5.7.1", "Relay access denied", "norelaying", false},
      {550, "5.2.1", "The email account that you tried to reach is disabled.", "suspend", false},
      {550, "5.1.1", "The email account that you tried to reach does not exist.", "userunknown", true},
      {421, "4.7.0", "Too many connections from your host", "toomanyconn", false},
      {550, "", "Virus Detected; Content Rejected", "virusdetected", false},
      {550, "5.7.1", "Messages with multiple addresses in From: header are not accepted", "notcompliantrfc", false},
      {554, "", "Transaction failed: Duplicate header 'DKIM-Signature'.", "contenterror", false},
      {550, "5.0.0", "Denied by policy", "policyviolation", false},
      {554, "", "Message not accepted for policy reasons.", "policyviolation", false},
      {451, "4.7.1", "Client host rejected: Please try again slower", "speeding", false},
      {550, "", "Mailbox is frozen.", "suspend", false},
      // multi-line replies read whole
      {550, "5.7.1", "550-5.7.1 This message is not RFC 5322 compliant. There are multiple Subject 550-5.7.1 headers.",
       "notcompliantrfc", false},
      // provider error codes
      {550, "5.5.0", "Adresse destinataire invalide. Invalid recipient. LPN007_416", "userunknown", true},
      {550, "5.2.0", "Mail rejete. Mail rejected. OFR_506 [506]", "spamdetected", false},
      {550, "5.1.0", "<x@example.com> sender rejected. AUP#CDRBL", "blocked", false},
      {550, "5.1.0", "sender rejected. AUP#In-1310", "toomanyconn", false},
      {550, "", "coolexample.com From: Domain is invalid. Provide a valid From: IB506", "rejected", false},
      // the sender, not the recipient, is unknown
      {501, "5.1.8", "Sender address rejected: User unknown", "rejected", false},
      // nothing definite
      {503, "", "Improper sequence of commands", "syntaxerror", false},
      {450, "4.0.0", "Temporary failure", "onhold", false},
      {550, "5.7.0", "", "securityerror", false},
      {554, "5.6.0", "", "contenterror", false},
      {0, "", "", "undefined", false},
      {250, "2.1.5", "Ok", "delivered", false},
  };
  for (const Case& c : cases) {
    Classification got = ClassifyReply(c.code, c.status, c.text);
    EXPECT_EQ(got.reason, c.reason) << c.code << " " << c.status << " " << c.text;
    EXPECT_EQ(got.hard, c.hard) << c.code << " " << c.status << " " << c.text;
  }
}

TEST(Classify, ContextSharpensTheReason) {
  struct Case {
    ReplyContext context;
    std::string reason;
  };
  const Case cases[] = {
      // user unknown only after DATA: the recipient's filter refused the sender
      {{550, "", "550 Unknown user kijitora@example.net", "DATA", "failed", "smtp"}, "filtered"},
      {{550, "", "550 Unknown user kijitora@example.net", "RCPT", "failed", "smtp"}, "userunknown"},
      {{550, "", "550 : User unknown", "", "failed", "smtp"}, "filtered"},
      // refused at connection time
      {{550, "", "550 Access denied...7d39d5299584f4be161127e61f5f5400...", "CONN", "failed", "smtp"}, "blocked"},
      // refused at MAIL FROM: the sender
      {{550, "5.7.1", "Access denied", "MAIL", "failed", "smtp"}, "rejected"},
      // "invalid recipient" under a policy code (RFC 3463 X.7): refused at RCPT it names the recipient; with
      // no sign of the command it is the recipient side's filter
      {{553, "5.7.1", "Invalid recipient bob@example.org (Mode: normal)", "RCPT", "failed", "smtp"}, "userunknown"},
      {{553, "5.7.1", "Invalid recipient bob@example.org (Mode: normal)", "", "failed", "smtp"}, "filtered"},
      // spam wording before DATA: spam, unless the status says the client is held off (4.7.1)
      {{554, "", "Message rejected as spam by Content Filtering", "RCPT", "failed", "smtp"}, "spamdetected"},
      {{451, "4.7.1", "Your message looks like spam, try again later", "RCPT", "failed", "smtp"}, "blocked"},
      // a delayed recipient without other signs has not expired yet, but will
      {{0, "4.0.0", "", "", "delayed", ""}, "expired"},
      // a local delivery program failed
      {{0, "5.1.1", "procmail: Couldn't create \"/var/spool/mail/neko\"", "", "failed", "x-unix"}, "mailererror"},
      {{0, "4.3.0", "/var/mail/neko/Maildir: Disk quota exceeded", "", "failed", "x-unix"}, "mailboxfull"},
  };
  for (const Case& c : cases) EXPECT_EQ(Classify(c.context).reason, c.reason) << c.context.text;
}

TEST(Classify, HardBounceRule) {
  struct Case {
    std::string reason;
    std::string evidence;
    bool hard;
  };
  const Case cases[] = {
      {"userunknown", "5.1.1", true},  {"hostunknown", "", true},         {"hasmoved", "5.1.6", true},
      {"notaccept", "5.1.10", true},   {"notaccept", "4.0.0", false},     {"notaccept", "", true},
      {"notaccept", "554", true},      {"notaccept", "421 temporary failure", false},
      {"mailboxfull", "5.2.2", false}, {"rejected", "5.1.8", false},      {"blocked", "5.7.1", false},
      {"filtered", "5.2.0", false},    {"feedback", "", false},           {"vacation", "", false},
      {"delivered", "2.1.5", false},   {"onhold", "5.0.0", false},        {"undefined", "", false},
  };
  for (const Case& c : cases) EXPECT_EQ(IsHardBounce(c.reason, c.evidence), c.hard) << c.reason << " " << c.evidence;
}

TEST(Classify, FindsCodesInText) {
  struct Case {
    std::string text;
    std::string status;
    int code;
  };
  const Case cases[] = {
      {"550 5.1.1 <a@b.example>... User Unknown", "5.1.1", 550},
      {"550-5.7.1 [192.0.2.1 13] Our system", "5.7.1", 550},
      {"Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1", 0},
      {"5.1.0 - Unknown address error 550-'5.7.1 <x@y.example>... Access denied'", "5.7.1", 550},
      {"connect to 192.0.2.25:25: Connection timed out", "", 0},
      {"host mx.example.jp[192.0.2.153] said: 450 4.2.2 full", "4.2.2", 450},
      {"version 2.4.10 of the software", "", 0},
      {"retry in 421 seconds", "", 421},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FindEnhancedStatus(c.text), c.status) << c.text;
    EXPECT_EQ(FindReplyCode(c.text), c.code) << c.text;
  }
}

TEST(Classify, NormalizeJoinsContinuedReplies) {
  EXPECT_EQ(NormalizeText("550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
                          "550-5.1.1 double-checking the recipient's email address\r\n550 5.1.1 for typos"),
            "550-5.1.1 the email account that you tried to reach does not exist. please try double-checking the "
            "recipient's email address for typos");
  EXPECT_EQ(NormalizeText("  Mixed\tCASE\n\n text "), "mixed case text");
}

}  // namespace
}  // namespace kurier::bounce
