// classify_steps.hpp - the steps of Classify (classify.cpp), each a function that can be tested on its own.
// Internal to src/bounce. Every step reads the same Evidence and answers with a Verdict: a reason from
// sisimai's vocabulary and the rule that gave it ("status 5.1.1 (RFC 3463)"), or nothing.
//
// The order Classify consults them, strong and specific evidence first:
//  a) VendorCode      (vendor_codes.cpp)    first WriterTable (writer_tables.cpp: a bounce writer's own words,
//                                            local delivery agents) and ProviderReply (provider_replies.cpp:
//                                            the provider that answered, by host name), then a code a provider
//                                            documents (Office 365 5.4.316, RESOLVER.ADR.*, Yahoo TSS04,
//                                            Outlook.com S3150, Mimecast, Proofpoint, ...);
//  d) PhraseFamily    (phrase_families.cpp) wording that names a cause more precisely than a status code;
//  b) StatusMeaning   (status_codes.cpp)    a specific RFC 3463 / RFC 5248 enhanced status code;
//  d') WeakPhraseFamily                      wording that only hints (time-outs, "system error", ...);
//  c) CommandHint     (classify.cpp)        the SMTP command that failed, and the status class: fallbacks.
// Then HardOnlyOnStrongEvidence (classify.cpp) turns a hard reason (userunknown, hostunknown, hasmoved,
// notaccept) into a soft one when other evidence conflicts with it.
// STANDARDS: RFC 3463, RFC 5248, RFC 5321 4.2, RFC 3464, RFC 7505.
#pragma once
#include <string>
#include <string_view>

#include "bounce/classify.hpp"

namespace kurier::bounce::steps {

/// An RFC 3463 enhanced status code, class.subject.detail; cls 0 when there is none.
struct StatusCode {
  int cls = 0, subject = -1, detail = -1;
  bool valid() const { return cls != 0; }
};

/// Parses "5.1.1" (leading spaces allowed, anything may follow the detail); invalid when it is not one.
StatusCode ParseStatus(std::string_view s);

/// What Classify knows about one failure, computed once from a ReplyContext.
struct Evidence {
  std::string text;     ///< NormalizeText of the reply or diagnostic (lowercase, one space)
  std::string status;   ///< enhanced status code as given or found in the text; "" when none
  StatusCode code;      ///< `status` parsed
  int reply = 0;        ///< SMTP reply code, given or found in the text; 0 when none
  std::string command;  ///< the failed SMTP command, upper case: CONN, EHLO, HELO, MAIL, RCPT, DATA
  std::string action;   ///< RFC 3464 Action, lowercase
  std::string dtype;    ///< RFC 3464 diagnostic type, lowercase
  std::string provider; ///< who answered, by host name or signature: "microsoft", "yahooinc", "mimecast", ... or ""
  std::string writer;   ///< who wrote the bounce: "mcafee", "messagelabs", "interscan", ... or ""

  /// True when the status code's class (or, with no status code, the reply code) says "temporary".
  bool Temporary() const { return code.valid() ? code.cls == 4 : reply / 100 == 4; }
  /// True when the command is one given before the message content (CONN ... RCPT).
  bool BeforeData() const;
};

Evidence MakeEvidence(const ReplyContext& context);

/// One step's answer: `reason` empty when the step has nothing to say.
struct Verdict {
  std::string reason;
  std::string rule;  ///< which rule decided, with its source
  explicit operator bool() const { return !reason.empty(); }
};

/// a) A provider's documented error code or name in the text (ProviderReply first).
Verdict VendorCode(const Evidence& e);

/// The provider that answered (provider_replies.cpp): `hosts` is "recipient-domain remote-mta
/// reporting-mta" (lower case, space separated, any may be missing), `text` the normalized reply.
std::string ProviderOf(std::string_view hosts, std::string_view text);
/// a0) The replies a provider documents for itself, when Evidence::provider names one.
Verdict ProviderReply(const Evidence& e);
/// a00) The words a bounce writer (Evidence::writer) uses for a cause in its own reports, and the local
/// delivery agents' (mail.local, dovecot, vpopmail) own complaints (writer_tables.cpp).
Verdict WriterTable(const Evidence& e);

/// b) The meaning RFC 3463 / RFC 5248 (and RFC 7372, RFC 7505) give a specific status code; nothing for
/// codes that say too little on their own (X.0.0, 5.1.0, 5.7.1, X.5.0 ...).
Verdict StatusMeaning(const Evidence& e);

/// c) The SMTP command that failed and the status or reply class, as a last, weak hint.
Verdict CommandHint(const Evidence& e);

/// d) Phrase families that name a cause (checked before the status code).
Verdict PhraseFamily(const Evidence& e);
/// d') Phrase families that only hint at a cause (checked after the status code).
Verdict WeakPhraseFamily(const Evidence& e);

/// The guard (classify.cpp): `v` unchanged unless it is userunknown or hostunknown and other evidence
/// conflicts with it (a temporary class, a policy status off RCPT, a refusal at CONN/EHLO/MAIL, network
/// words under a DNS failure); then the soft reason those signs give, with a "guard: ..." rule.
Verdict HardOnlyOnStrongEvidence(Verdict v, const Evidence& e);

/// True when `text` (normalized) says what family `reason` says: "networkerror" (a lookup or connection
/// that failed) or "domainmissing" (NXDOMAIN wording only); false for any other name. Used by the
/// hard-bounce guard to tell a network failure from a domain that does not exist.
bool Says(std::string_view reason, std::string_view text);

/// True when `pattern` occurs in `text`; a '*' in the pattern matches any run of characters.
bool Matches(std::string_view text, std::string_view pattern);

}  // namespace kurier::bounce::steps
