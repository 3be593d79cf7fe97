// report_json.cpp - a parsed report (report.hpp) as JSON, for `kurier bounce parse`.
// STANDARDS: RFC 3464, RFC 5965, RFC 3463 (see report_json.hpp).
#include "bounce/report_json.hpp"

#include <boost/json.hpp>

namespace kurier::bounce {

namespace json = boost::json;

std::string ClassificationOf(const Report& report, const Recipient& r) {
  if (report.kind != ReportKind::kBounce && report.kind != ReportKind::kDelayNotice) return "";
  if (r.action == "delivered" || r.action == "relayed" || r.action == "expanded" || r.reason == "delivered") return "";
  return r.hard ? "hard" : "soft";
}

json::object RecipientObject(const Report& report, const Recipient& r) {
  const std::string classification = ClassificationOf(report, r);
  json::object o{{"address", r.address},
                 {"action", r.action},
                 {"status", r.status},
                 {"reply_code", r.reply_code},
                 {"reply", r.diagnostic},
                 {"remote_mta", r.remote_mta},
                 {"reporting_mta", r.reporting_mta},
                 {"smtp_command", r.smtp_command},
                 {"reason", r.reason},
                 {"rule", r.rule}};
  if (classification.empty())
    o["classification"] = nullptr;
  else
    o["classification"] = classification;
  return o;
}

json::object ReportObject(const Report& report) {
  json::array recipients;
  for (const auto& r : report.recipients) recipients.push_back(RecipientObject(report, r));
  json::object o{{"kind", ReportKindName(report.kind)},
                 {"recipients", std::move(recipients)},
                 {"original", json::object{{"message_id", report.original.message_id},
                                           {"from", report.original.from},
                                           {"to", report.original.to},
                                           {"subject", report.original.subject}}},
                 {"reporting_mta", report.reporting_mta},
                 {"subject", report.subject}};
  if (!report.original_envelope_id.empty()) o["original_envelope_id"] = report.original_envelope_id;
  if (!report.feedback_type.empty()) o["feedback_type"] = report.feedback_type;
  if (!report.arf_user_agent.empty()) o["user_agent"] = report.arf_user_agent;
  if (!report.source_ip.empty()) o["source_ip"] = report.source_ip;
  return o;
}

}  // namespace kurier::bounce
