// report_json.hpp - what kurier reads from a bounce, as JSON: the shape `kurier bounce parse --json`
// prints (and its text columns are taken from), one object per report. No I/O.
// STANDARDS: RFC 3464 (the per-recipient fields: Action, Status, Remote-MTA, Diagnostic-Code), RFC 5965
// (ARF Feedback-Type, User-Agent, Source-IP), RFC 3463 (status codes).
#pragma once
#include <boost/json/object.hpp>

#include "bounce/report.hpp"

namespace kurier::bounce {

/// The classification a recipient gets in the event log: "hard" or "soft" for a failed or delayed
/// recipient of a bounce or delay notice; "" for complaints, auto-replies and delivered recipients
/// (nothing kurier counts as a bounce).
std::string ClassificationOf(const Report& report, const Recipient& r);

/// One recipient: address, action, status, reply_code, reply (the remote server's words or the
/// report's diagnostic), remote_mta, reporting_mta, smtp_command, reason, classification (see
/// ClassificationOf; null when ""), rule (the classifier's step that decided, with its source; "" when
/// none says). Every key is always present.
boost::json::object RecipientObject(const Report& report, const Recipient& r);

/// The report: kind (ReportKindName), recipients, and what identifies the original message
/// (original: message_id, from, to, subject), reporting_mta, subject; ARF's feedback_type, user_agent
/// and source_ip when the report has them.
boost::json::object ReportObject(const Report& report);

}  // namespace kurier::bounce
