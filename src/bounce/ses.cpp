// ses.cpp - Amazon SES: its JSON bounce, complaint and delivery notifications (usually inside an SNS
// envelope), and the fixed template replies of SES receipt rules.
// SECURITY: the JSON is read by bounded scans, not parsed into a tree; values are capped at kMaxDiagnostic.
#include "bounce/report_parts.hpp"

#include <algorithm>

#include "bounce/classify.hpp"
#include "common/encoding.hpp"

namespace kurier::bounce::internal {

// Amazon SES receipt rules bounce with fixed template replies that the receiving domain chose; they name
// the domain's decision rather than a fact about the mailbox.
void ApplySesReceivingTemplate(Recipient& r) {
  struct Template {
    std::string_view text;
    std::string_view reason;
  };
  static const std::initializer_list<Template> kTemplates = {
      {"mailbox does not exist", "filtered"}, {"message too large", "mesgtoobig"}, {"mailbox full", "mailboxfull"},
      {"message content rejected", "contenterror"},
  };
  std::string d = Lower(r.diagnostic);
  for (const Template& t : kTemplates)
    if (d.find(t.text) != std::string::npos) {
      r.reason = std::string(t.reason);
      r.hard = IsHardBounce(r.reason, r.status);
      r.rule = "Amazon SES receiving template \"" + std::string(t.text) + "\"";
      return;
    }
}

// ---- Amazon SES notifications (JSON, usually inside an SNS envelope) --------------------------------

// The string value of "key" in a JSON object text; "" when absent. Escapes other than \" and \\ are
// kept as written (these values are addresses, codes and short texts).
static std::string JsonString(std::string_view obj, std::string_view key) {
  std::string quoted = "\"" + std::string(key) + "\"";
  std::size_t at = obj.find(quoted);
  if (at == std::string_view::npos) return "";
  std::size_t i = at + quoted.size();
  while (i < obj.size() && (obj[i] == ' ' || obj[i] == ':' || obj[i] == '\t' || obj[i] == '\n' || obj[i] == '\r')) ++i;
  if (i >= obj.size() || obj[i] != '"') return "";
  std::string out;
  for (++i; i < obj.size() && obj[i] != '"' && out.size() < kMaxDiagnostic; ++i) {
    if (obj[i] == '\\' && i + 1 < obj.size()) ++i;
    out += obj[i];
  }
  return out;
}

// The objects of the array value of "key": "[{...},{...}]" (flat objects only).
static std::vector<std::string_view> JsonObjects(std::string_view text, std::string_view key) {
  std::vector<std::string_view> out;
  std::size_t at = text.find("\"" + std::string(key) + "\"");
  if (at == std::string_view::npos) return out;
  std::size_t open = text.find('[', at);
  if (open == std::string_view::npos) return out;
  std::size_t i = open + 1;
  while (i < text.size() && out.size() < kMaxRecipients) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != '{') break;
    std::size_t close = text.find('}', i);
    if (close == std::string_view::npos) break;
    out.push_back(text.substr(i, close + 1 - i));
    i = close + 1;
  }
  return out;
}

bool ParseSesNotification(std::string_view text, Report& report) {
  if (text.find("notificationType") == std::string_view::npos) return false;
  // The SES event is a JSON string inside the SNS envelope: undo one level of escaping.
  std::string json(text.substr(0, kMaxText));
  if (json.find("\\\"notificationType\\\"") != std::string::npos) {
    std::string unescaped;
    for (std::size_t i = 0; i < json.size(); ++i) {
      if (json[i] == '\\' && i + 1 < json.size() && (json[i + 1] == '"' || json[i + 1] == '\\' || json[i + 1] == '/')) ++i;
      unescaped += json[i];
    }
    json = std::move(unescaped);
  }
  std::string type = Lower(JsonString(json, "notificationType"));
  if (type.empty()) type = Lower(JsonString(json, "eventType"));
  std::string_view all = json;
  if (type == "bounce") {
    std::string permanence = Lower(JsonString(all.substr(all.find("\"bounce\"") == std::string::npos ? 0 : all.find("\"bounce\"")), "bounceType"));
    report.reporting_mta = Untyped(JsonString(all, "reportingMTA"));
    for (std::string_view obj : JsonObjects(all, "bouncedRecipients")) {
      Recipient r;
      r.address = LowerDomain(AddressFromField(JsonString(obj, "emailAddress")));
      r.action = Lower(JsonString(obj, "action"));
      if (r.action.empty()) r.action = permanence == "transient" ? "delayed" : "failed";
      r.status = JsonString(obj, "status");
      std::string type_of;
      r.diagnostic = Shorten(Untyped(JsonString(obj, "diagnosticCode"), &type_of));
      r.reporting_mta = report.reporting_mta;
      Finish(r, {}, type_of);
      report.recipients.push_back(std::move(r));
    }
  } else if (type == "complaint") {
    report.feedback_type = Lower(JsonString(all, "complaintFeedbackType"));
    report.arf_user_agent = JsonString(all, "userAgent");
    for (std::string_view obj : JsonObjects(all, "complainedRecipients")) {
      Recipient r;
      r.address = LowerDomain(AddressFromField(JsonString(obj, "emailAddress")));
      r.reason = "feedback";
      r.rule = "Amazon SES complaint notification";
      r.diagnostic = report.feedback_type;
      report.recipients.push_back(std::move(r));
    }
    report.kind = ReportKind::kComplaint;
  } else if (type == "delivery") {
    for (std::size_t at = all.find("\"recipients\""); at != std::string_view::npos; at = std::string_view::npos) {
      std::size_t open = all.find('[', at), close = all.find(']', at);
      if (open == std::string_view::npos || close == std::string_view::npos || close < open) break;
      for (const FoundAddress& f : FindAddresses(all.substr(open, close - open))) {
        Recipient r;
        r.address = f.address;
        r.action = "delivered";
        r.reason = "delivered";
        report.recipients.push_back(std::move(r));
      }
    }
  } else {
    return false;
  }
  // The headers SES returns with the event ("mail":{"headers":[{"name":..,"value":..}]}).
  mime::Headers original;
  for (std::string_view h : JsonObjects(all, "headers"))
    original.Add(JsonString(h, "name"), JsonString(h, "value"));
  FillOriginal(original, report.original);
  if (report.original.message_id.empty()) report.original.message_id = JsonString(all, "messageId");
  return !report.recipients.empty();
}

}  // namespace kurier::bounce::internal
