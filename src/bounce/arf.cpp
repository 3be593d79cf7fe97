// arf.cpp - complaints: ARF feedback reports (RFC 5965: Feedback-Type, User-Agent, Source-IP,
// Original-Rcpt-To, Removal-Recipient) and the Microsoft/Apple variants that are not ARF.
// STANDARDS: RFC 5965, RFC 6522.
#include "bounce/report_parts.hpp"

#include <algorithm>
#include <cctype>

#include "bounce/classify.hpp"
#include "common/encoding.hpp"

namespace kurier::bounce::internal {

// ---- complaints ---------------------------------------------------------------------------------

void ParseFeedback(const mime::Entity& root, const Parts& parts, Report& report) {
  std::vector<std::string> rcpts;
  if (parts.feedback_report) {
    for (const DsnField& f : ReadDsnFields(parts.feedback_report->body)) {
      if (f.name == "feedback-type" && report.feedback_type.empty()) report.feedback_type = Lower(Trim(f.value));
      else if (f.name == "user-agent" && report.arf_user_agent.empty()) report.arf_user_agent = f.value;
      else if (f.name == "source-ip" && report.source_ip.empty()) report.source_ip = std::string(Trim(f.value));
      else if (f.name == "reporting-mta" && report.reporting_mta.empty()) report.reporting_mta = Untyped(f.value);
      else if ((f.name == "original-rcpt-to" || f.name == "removal-recipient") && rcpts.size() < kMaxRecipients) {
        std::string a = AddressFromField(f.value);
        if (a.find('@') != std::string::npos && a.back() != '@') rcpts.push_back(a);
      }
    }
  }
  if (parts.original_headers) {
    if (auto r = parts.original_headers->Get("X-HmXmrOriginalRecipient")) {
      // Microsoft's Junk Mail Reporting Program: its own format, the recipient in this field.
      rcpts.push_back(AddressFromField(*r));
      if (report.feedback_type.empty()) report.feedback_type = "abuse";
      if (report.arf_user_agent.empty()) report.arf_user_agent = "Microsoft Junk Mail Reporting Program";
    }
  }
  if (root.headers.Get("X-Apple-Unsubscribe")) {
    // Apple Mail's unsubscribe request: the subscriber is the sender of this message.
    if (report.feedback_type.empty()) report.feedback_type = "opt-out";
    rcpts.push_back(AddressFromField(root.headers.Get("From").value_or("")));
  }
  if (rcpts.empty() && parts.original_headers) {
    std::string to = AddressFromField(parts.original_headers->Get("To").value_or(""));
    if (to.find('@') != std::string::npos) rcpts.push_back(to);
  }
  if (rcpts.empty()) rcpts.push_back("");  // a complaint about an unnamed recipient (redacted report)
  if (report.source_ip.empty()) {
    // "... complaint about message from 192.0.2.1", "received from IP 192.0.2.1"
    std::string subject = Lower(report.subject);
    if (auto at = subject.find("message from "); at != std::string::npos) {
      std::string ip;
      for (std::size_t i = at + 13; i < subject.size() && (std::isdigit(static_cast<unsigned char>(subject[i])) ||
                                                           subject[i] == '.' || subject[i] == ':');
           ++i)
        ip += subject[i];
      if (std::count(ip.begin(), ip.end(), '.') == 3) report.source_ip = ip;
    }
  }
  report.kind = ReportKind::kComplaint;
  for (const std::string& a : rcpts) {
    Recipient r;
    r.address = a;
    r.reason = "feedback";
    r.hard = false;
    r.rule = "ARF report (RFC 5965)";
    r.reporting_mta = report.reporting_mta;
    r.diagnostic = report.feedback_type;
    report.recipients.push_back(std::move(r));
  }
}

bool IsComplaint(const mime::Entity& root, const Parts& parts) {
  if (parts.feedback_report) return true;
  std::string report_type = Lower(root.content_type.Param("report-type"));
  if (report_type == "feedback-report") return true;
  if (parts.original_headers && parts.original_headers->Get("X-HmXmrOriginalRecipient")) return true;
  std::string xau = Lower(root.headers.Get("X-Apple-Unsubscribe").value_or(""));
  if (xau == "true") return true;
  return false;
}

}  // namespace kurier::bounce::internal
