// dsn.cpp - RFC 3464 delivery status notifications.
// SECURITY: the DSN quotes remote replies and the original headers; both are inserted as opaque
// text with CR/LF stripped from single-line fields, so a remote server cannot inject header fields.
// A DSN has the null reverse-path, so a DSN that fails never causes another (no bounce loops).
// STANDARDS: RFC 3464 (delivery-status), RFC 6522 (multipart/report), RFC 3462 / RFC 6522
// text/rfc822-headers, RFC 3463 (status codes), RFC 5321 4.5.5 and 6.1 (null sender for DSNs).
#include "delivery/dsn.hpp"

#include "common/ids.hpp"
#include "mime/header_fields.hpp"
#include "mime/rewrite.hpp"

namespace kurier::delivery {

namespace {
std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  // Limit so that the line, with its field name, stays within RFC 5322's 998 octets.
  if (s.size() > 900) s.resize(900);
  return s;
}
}  // namespace

std::string BuildDsn(const DsnInput& in, const std::string& boundary, int64_t now) {
  std::string date = FormatRfc5322Date(now);
  std::string m;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + in.reporting_mta + ">\r\n";
  m += "To: <" + OneLine(in.original_sender) + ">\r\n";
  bool all_expired = !in.recipients.empty();
  for (const auto& r : in.recipients) all_expired = all_expired && r.expired;
  m += std::string("Subject: ") + (all_expired ? "Undelivered Mail: delivery time expired" : "Undelivered Mail Returned to Sender") + "\r\n";
  m += "Date: " + date + "\r\n";
  m += "Message-ID: <dsn." + in.queue_id + "." + std::to_string(now) + "@" + in.reporting_mta + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  // 1. for people
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  m += "This is the mail system at " + in.reporting_mta + ".\r\n\r\n";
  m += "Your message (queue id " + in.queue_id + ") could not be delivered to the recipient(s) below.\r\n";
  m += "This is a permanent error; the message will not be retried.\r\n\r\n";
  for (const auto& r : in.recipients) {
    m += "<" + OneLine(r.address) + ">: ";
    if (r.expired)
      m += "delivery time expired";
    else if (!r.remote_mta.empty())
      m += "host " + OneLine(r.remote_mta) + " said";
    else if (r.local)
      m += "delivery failed (reported by " + in.reporting_mta + " itself, not by the recipient's server)";
    else
      m += "delivery failed";
    m += r.diagnostic.empty() ? "\r\n" : ": " + OneLine(r.diagnostic) + "\r\n";
  }
  m += "\r\n";

  // 2. for machines (RFC 3464 2.2, 2.3)
  m += "--" + boundary + "\r\n";
  m += "Content-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + in.reporting_mta + "\r\n";
  m += "X-Kurier-Queue-ID: " + in.queue_id + "\r\n";
  m += "Arrival-Date: " + FormatRfc5322Date(in.arrival) + "\r\n";
  for (const auto& r : in.recipients) {
    m += "\r\n";
    m += "Final-Recipient: rfc822; " + OneLine(r.address) + "\r\n";
    m += "Action: failed\r\n";
    m += "Status: " + (r.status.empty() ? std::string("5.0.0") : OneLine(r.status)) + "\r\n";
    if (!r.remote_mta.empty()) m += "Remote-MTA: dns; " + OneLine(r.remote_mta) + "\r\n";
    // RFC 3464 2.3.6: "smtp" only for a remote server's reply; kurier's own findings get a type of their own.
    if (!r.diagnostic.empty()) m += std::string("Diagnostic-Code: ") + (r.local ? "X-Kurier" : "smtp") + "; " + OneLine(r.diagnostic) + "\r\n";
    m += "Last-Attempt-Date: " + date + "\r\n";
  }
  m += "\r\n";

  // 3. the original header section (RFC 6522 3)
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/rfc822-headers\r\n\r\n";
  std::string headers = in.original_message.substr(0, mime::HeaderSectionEnd(in.original_message));
  m += headers;
  if (!headers.empty() && headers.back() != '\n') m += "\r\n";
  m += "\r\n--" + boundary + "--\r\n";
  // A message spooled before ingress fitted long lines quotes its header as it was: the quoted part is
  // then re-encoded, so that the DSN itself keeps RFC 5322's line limit.
  if (auto fit = mime::FitLineLength(m); fit.text) return std::move(*fit.text);
  return m;
}

}  // namespace kurier::delivery
