// report_parts.hpp - the pieces of the bounce reader (report.cpp) that its files share; internal to
// src/bounce/, not for other folders. No I/O.
//   scan.cpp       shared scanning: text helpers, addresses, the report's parts and the original message
//   dsn_fields.cpp RFC 3464 / RFC 6522 message/delivery-status fields
//   mta_text.cpp   non-standard bounces (qmail, Exim, Sendmail, Postfix, Exchange, ...): the human-readable
//                  notification cut into one segment per recipient, its commands, hosts and codes
//   signs.cpp      whether a message looks like a bounce or an RFC 3834 auto-reply
//   arf.cpp        complaints: ARF (RFC 5965) and the Microsoft/Apple variants
//   ses.cpp        Amazon SES JSON notifications and receipt-rule templates
//   report.cpp     ParseReport: one message (or an mbox of several) from these steps
// STANDARDS: RFC 3464, RFC 6522, RFC 6533, RFC 3463, RFC 5965, RFC 3834, RFC 5322, RFC 2045-2047.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bounce/report.hpp"
#include "mime/parse.hpp"

namespace kurier::bounce::internal {

inline constexpr std::size_t kMaxText = 256 * 1024;
inline constexpr std::size_t kMaxRecipients = 1000;
inline constexpr std::size_t kMaxDiagnostic = 4096;

// ---- scan.cpp: text helpers ----------------------------------------------------------------------
bool IsWsp(char c);
std::string_view Trim(std::string_view s);
std::string Lower(std::string_view s);
bool IContains(std::string_view haystack, std::string_view needle);
std::vector<std::string_view> SplitLines(std::string_view text);
std::string CollapseSpace(std::string_view s);

// ---- scan.cpp: addresses -------------------------------------------------------------------------
struct FoundAddress {
  std::size_t begin = 0, end = 0;  // position in the searched text
  std::string address;             // domain lowercased
};

// Every plausible addr-spec in `text` (dot-atom or quoted local part, a domain with a dot or a bracketed
// literal, or a bare single-label domain only when `allow_single_label`).
std::vector<FoundAddress> FindAddresses(std::string_view text, bool allow_single_label = false);
// The address in a field value such as "rfc822; <kijitora@example.jp>", "Name <a@b>" or "a@b".
std::string AddressFromField(std::string_view value);
bool SameAddress(std::string_view a, std::string_view b);

// ---- scan.cpp: the original message and the parts of a report ------------------------------------
void FillOriginal(const mime::Headers& h, OriginalMessage& o);
bool HasOriginal(const OriginalMessage& o);

struct Parts {
  const mime::Entity* delivery_status = nullptr;
  const mime::Entity* feedback_report = nullptr;
  const mime::Headers* original_headers = nullptr;  // message/rfc822 child or parsed rfc822-headers
  mime::Headers parsed_original;                     // storage for text/rfc822-headers
  std::string notification;                          // the human-readable text, UTF-8
  std::string raw_text;                              // the same leaves undecoded (for embedded messages)
  std::string html_notification;                     // used only when there is no text/plain
};

void CollectParts(const mime::Entity& e, Parts& p);

// ---- dsn_fields.cpp: RFC 3464 fields ---------------------------------------------------------------
struct DsnField {
  std::string name;  // lowercased
  std::string value;
  int block = 0;  // blank-line separated group
};

std::vector<DsnField> ReadDsnFields(std::string_view text);

struct DsnRecipient {
  std::string final_recipient, original_recipient, actual_recipient;
  std::string action, status, diagnostic, diagnostic_type, remote_mta;
  std::string category;  // X-PowerMTA-BounceCategory
  bool any = false;
};

struct Dsn {
  std::string reporting_mta, envelope_id;
  std::vector<DsnRecipient> recipients;
};

// Strips the "dns; " / "smtp; " type prefix of a typed field value.
std::string Untyped(std::string_view v, std::string* type = nullptr);
Dsn ParseDsn(std::string_view text);
std::string BestDsnAddress(const DsnRecipient& r);

// ---- mta_text.cpp: the human-readable notification -----------------------------------------------
struct Notification {
  std::vector<std::string> lines;  // the text before the returned message, quoting removed
  std::string original;            // the text after the cut, where quoted headers may be found
};

Notification CutNotification(std::string_view text);
// Headers quoted after the cut: the first run of header-looking lines.
mime::Headers QuotedHeaders(std::string_view text);
std::string CommandIn(std::string_view segment);
/// An SMTP command quoted in capitals ("RCPT TO:<...>", "MAIL FROM", "DATA"); the latest in session order.
std::string CommandWordIn(std::string_view text);
// "host mx.example.jp[192.0.2.1] said:", "Remote system: dns;mx.example.jp", ...
std::string RemoteHostIn(std::string_view segment);

struct Segment {
  std::string address;
  std::string text;
};

// Splits the notification into one segment per recipient mention (see mta_text.cpp).
std::vector<Segment> SegmentByRecipient(const std::vector<std::string>& lines,
                                        const std::vector<std::string>& not_recipients,
                                        std::vector<std::string>& order);
// The recipient's segment: the first mention, or all of them joined when `all`.
std::string SegmentFor(const std::vector<Segment>& segments, std::string_view address, bool all = false);
// True when the recipient's words, from the line naming the address on, are only the address.
bool SaysLittle(std::string_view segment, std::string_view address);
// The few lines just before the first line naming `address`.
std::string TextBefore(const std::vector<std::string>& lines, std::string_view address);
std::string Shorten(std::string s);
std::string DiagnosticFrom(std::string_view segment);
// Japanese systems write RFC 3464 fields in raw ISO-2022-JP (ESC $ B ... ESC ( B).
std::string DecodeJis(const std::string& s);
// PowerMTA classifies every bounce itself (X-PowerMTA-BounceCategory); its categories map onto ours.
std::string ReasonFromPowerMtaCategory(std::string_view category, bool* decisive = nullptr);

// ---- signs.cpp: kinds of message -------------------------------------------------------------------
bool FromDaemon(const mime::Headers& h);
/// The mail system that wrote the report, when its own header fields say so ("mcafee", "messagelabs",
/// "yahoo", "interscan"), else "": some systems word their reports in ways only they use.
std::string WriterOf(const mime::Headers& h);
/// The SMTP command a writer's report implies when it names none (Yahoo quotes the refused "<address>").
std::string WriterCommand(std::string_view writer, std::string_view diagnostic);
bool BounceSubject(std::string_view subject);
bool BounceText(std::string_view text);
bool AutoReplyHeaders(const mime::Headers& h);
bool AutoReplySubject(std::string_view subject);
bool AutoReplyBody(std::string_view text);

// ---- arf.cpp: complaints ---------------------------------------------------------------------------
void ParseFeedback(const mime::Entity& root, const Parts& parts, Report& report);
bool IsComplaint(const mime::Entity& root, const Parts& parts);

// ---- ses.cpp: Amazon SES -----------------------------------------------------------------------------
// Amazon SES receipt rules bounce with fixed template replies that the receiving domain chose.
void ApplySesReceivingTemplate(Recipient& r);
// Amazon SES notifications (JSON, usually inside an SNS envelope); false when `text` is none.
bool ParseSesNotification(std::string_view text, Report& report);

// ---- report.cpp: putting a recipient together --------------------------------------------------------
// Classifies `r` from its fields (and `extra_text`); true when the classification is definite.
bool Finish(Recipient& r, std::string_view extra_text, std::string_view diagnostic_type, std::string_view writer = {});
std::string LowerDomain(std::string address);

}  // namespace kurier::bounce::internal
