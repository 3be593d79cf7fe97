// classify.hpp - labels a failed delivery (an SMTP reply, or what a bounce says about one recipient) with
// a reason from sisimai's vocabulary and says whether it is a hard or a soft bounce. No I/O; used by the
// bounce parser and by delivery for the synchronous replies it gets.
// STANDARDS: RFC 3463 / RFC 5248 (enhanced status codes), RFC 5321 4.2 (reply codes), RFC 7505 (null MX).
#pragma once
#include <string>
#include <string_view>

namespace kurier::bounce {

/// The reason vocabulary (sisimai's): userunknown, mailboxfull, hostunknown, filtered, rejected, blocked,
/// expired, spamdetected, policyviolation, securityerror, mesgtoobig, suspend, authfailure, networkerror,
/// toomanyconn, systemerror, notaccept, requireptr, onhold, mailererror, virusdetected, norelaying,
/// hasmoved, notcompliantrfc, exceedlimit, contenterror, badreputation, syntaxerror, speeding, systemfull,
/// failedstarttls (the receiving side required TLS, or its certificate, MTA-STS or DANE check failed),
/// feedback (ARF complaint), vacation (auto-reply), delivered, undefined.
struct Classification {
  std::string reason = "undefined";
  bool hard = false;  ///< the address should not be tried again (see IsHardBounce)
  /// Decided by wording, a provider's error code or a specific status code; false when only a fallback
  /// (status class, SMTP command, Action: delayed, onhold) was left, so that more text may still help.
  bool definite = false;
  /// Which step decided, with its source, for people reading a suppression or `kurier bounce parse`
  /// (e.g. "status 5.1.1 (RFC 3463)"); empty when nothing matched.
  std::string rule;
};

/// Everything known about one failed delivery. Only `text` is required; each other field sharpens the
/// result. Strings are copied by Classify, so they may point into temporaries.
struct ReplyContext {
  int reply_code = 0;                ///< SMTP reply code (550), 0 when unknown
  std::string_view status;           ///< enhanced status code ("5.1.1"), empty when unknown
  std::string_view text;             ///< the reply text or the bounce's diagnostic for this recipient
  std::string_view command;          ///< SMTP command that got the reply: CONN, EHLO, HELO, MAIL, RCPT, DATA
  std::string_view action;           ///< RFC 3464 Action: failed, delayed, delivered, relayed, expanded
  std::string_view diagnostic_type;  ///< RFC 3464 diagnostic type: smtp, x-unix, x-postfix, ...
  std::string_view hosts;            ///< "recipient-domain remote-mta reporting-mta", lower case: who answered
  std::string_view writer;           ///< the system that wrote the bounce, by its own header fields (WriterOf)
};

/// Classifies a synchronous SMTP reply (delivery uses this for every 4xx/5xx it receives); `command` is
/// the SMTP command that got the reply (CONN, EHLO, MAIL, RCPT, DATA) when the caller knows it.
/// `hosts` names who answered ("recipient-domain mx-host", lower case), so that a provider's own
/// documented replies are read as that provider means them (ReplyContext::hosts).
Classification ClassifyReply(int reply_code, std::string_view enhanced_status, std::string_view text,
                             std::string_view command = {}, std::string_view hosts = {});

/// Classifies with all the context a bounce report gives.
Classification Classify(const ReplyContext& context);

/// sisimai's hard/soft rule: hard for userunknown, hostunknown and hasmoved, and for notaccept unless the
/// status or reply code (or the text) says the failure is temporary; every other reason is soft (the
/// address may work again: full mailboxes, blocks, policy, network trouble, ...). `status_or_text` is the
/// enhanced status code, reply code or diagnostic text, whichever is known.
bool IsHardBounce(std::string_view reason, std::string_view status_or_text);

/// The enhanced status code in `text` ("550-5.7.1 ...", "(#5.1.1)", "5.2.2"), preferring one that follows
/// a reply code; "" when there is none.
std::string FindEnhancedStatus(std::string_view text);

/// The first SMTP reply code (2xx, 4xx, 5xx) in `text`, ignoring digits of IPv4 addresses; 0 when none.
int FindReplyCode(std::string_view text);

/// Lowercases ASCII and collapses runs of white space into one space; multi-line reply prefixes such as
/// "550-5.7.1 " that continue a reply are removed, so phrases split across lines still match.
std::string NormalizeText(std::string_view text);

}  // namespace kurier::bounce
