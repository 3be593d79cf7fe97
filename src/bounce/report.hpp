// report.hpp - reads a message that came back to a bounce address and says what it is: a bounce (RFC 3464
// DSN or one of the common non-standard formats), a delay notice, a complaint (ARF, RFC 5965), an
// auto-reply (RFC 3834), or none of these; with each affected recipient classified. No I/O.
// STANDARDS: RFC 3464 (delivery status notifications), RFC 6522 (multipart/report), RFC 3463 (status
// codes), RFC 5965 (ARF), RFC 3834 (auto-submitted), RFC 2045-2047 and RFC 5322 (through mime/parse).
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kurier::bounce {

enum class ReportKind {
  kNotBounce,    ///< ordinary mail, or a delivery report that only says "delivered"
  kBounce,       ///< at least one recipient failed
  kComplaint,    ///< an abuse/opt-out report (ARF or a provider's own format)
  kAutoReply,    ///< vacation / out-of-office and other RFC 3834 auto-replies
  kDelayNotice,  ///< every recipient is only delayed (Action: delayed); delivery is still being tried
};

/// "bounce", "complaint", "auto_reply", "delay", "not_bounce".
std::string_view ReportKindName(ReportKind kind);

/// One recipient the report is about.
struct Recipient {
  std::string address;        ///< final (or original) recipient; domain lowercased; "" when unknown
  std::string action;         ///< failed, delayed, delivered, relayed, expanded (RFC 3464), lowercased
  std::string status;         ///< enhanced status code as reported ("5.1.1"), "" when none
  int reply_code = 0;         ///< SMTP reply code of the remote server, 0 when none
  std::string diagnostic;     ///< Diagnostic-Code text, or the bounce's own words about this recipient
  std::string remote_mta;     ///< the server that refused (Remote-MTA or "host X said")
  std::string reporting_mta;  ///< the system that wrote the report
  std::string smtp_command;   ///< CONN, EHLO, HELO, MAIL, RCPT or DATA when the report says which
  std::string reason;         ///< sisimai vocabulary (see classify.hpp)
  bool hard = false;          ///< hard bounce: stop sending to this address
  std::string rule;           ///< which step decided reason and hard/soft, with its source (Classification::rule)
};

/// Identifiers of the message the report is about (from its message/rfc822 or text/rfc822-headers part,
/// or the headers quoted in a non-standard bounce).
struct OriginalMessage {
  std::string message_id;  ///< without angle brackets
  std::string from;
  std::string to;
  std::string subject;  ///< RFC 2047 decoded, UTF-8
  std::string return_path;
  std::map<std::string, std::string> kurier_headers;  ///< X-Kurier-* fields, names lowercased
};

struct Report {
  ReportKind kind = ReportKind::kNotBounce;
  std::vector<Recipient> recipients;
  OriginalMessage original;
  std::string original_envelope_id;  ///< RFC 3464 Original-Envelope-Id
  std::string reporting_mta;         ///< RFC 3464 Reporting-MTA (per-message field)
  std::string subject;               ///< the report's own Subject, decoded
  std::string feedback_type;         ///< ARF Feedback-Type: abuse, fraud, opt-out, auth-failure, ...
  std::string arf_user_agent;        ///< ARF User-Agent
  std::string source_ip;             ///< ARF Source-IP
};

/// Reads one message (CRLF or LF line ends, up to 10 MB; more is ignored). Never throws; input that is
/// not a report at all yields kind kNotBounce and no recipients.
Report ParseReport(std::string_view raw);

}  // namespace kurier::bounce
