// bounce/intake.cpp - bounces, complaints and auto-replies that come back to kurier.
//
// A message reaches here only through the bounce listener, addressed to a return-path domain. It is
// matched to the message it is about by the signed VERP address it was sent to (or, failing that, one
// quoted in the returned headers); the failed recipients named in the report (RFC 3464 or the common
// non-standard formats) become `bounced` events with their classification (hard or soft, and a reason),
// an ARF report a `complained` event. Auto-replies and delay notices are logged and not counted.
// Reports for messages kurier cannot identify are logged and dropped: they are accepted (250) so the
// sender does not retry them.
//
// SECURITY: only reports carrying a valid VERP tag (HMAC under server.secret_file) act on a message, so
// nobody can suppress addresses of messages they did not receive mail from. Input is bounded by the
// SMTP listener's limits and parsed by the I/O-free, fuzzed bounce/report.cpp.
// Mail to a message's signed mailto: List-Unsubscribe address unsubscribes its recipient.
// STANDARDS: RFC 3464, RFC 3463, RFC 5965 (ARF), RFC 3834 (auto-replies), RFC 5321 (return paths),
// RFC 2369 (List-Unsubscribe).
#include "bounce/intake.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "bounce/report.hpp"
#include "bounce/verp.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"

namespace kurier::bounce {

namespace json = boost::json;

FeedbackIntake::FeedbackIntake(const Config& config, store::Store& store, std::string secret)
    : config_(config), store_(store), secret_(std::move(secret)) {}

std::string FeedbackIntake::UnsubscribeAddress(const std::string& id, const std::string& from_domain) {
  const std::string domain = ToLowerAscii(config_.domains.return_path_prefix + "." + from_domain);
  return Accepts(domain) ? UnsubscribeLocalPart(secret_, id) + "@" + domain : std::string();
}

bool FeedbackIntake::Accepts(const std::string& domain) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMicros();
  if (now - loaded_at_ > 30'000'000) {
    loaded_at_ = now;
    auto keys = store_.ListDkimKeys("");
    if (!keys) {
      spdlog::error("inbound: cannot list sending domains: {}", keys.error().message);
    } else {
      domains_.clear();
      for (const auto& k : keys.value()) domains_.insert(ToLowerAscii(config_.domains.return_path_prefix + "." + k.domain));
    }
  }
  return domains_.count(domain) > 0;
}

namespace {

// What the `accepted` event of message `id` says: its account, recipients, and the context every later
// event of it carries (sender, tags, metadata). `error` when the event log cannot be read; `found` false
// when the message is no longer in it (or its event is unreadable).
struct Accepted {
  bool found = false;
  std::string error;
  std::string account;
  std::vector<std::string> recipients;
  json::object context;
};

Accepted FindAccepted(store::Store& store, const std::string& id) {
  Accepted a;
  auto found = store.FindMessageContext(id);
  if (!found) {
    a.error = "cannot read the event log (" + found.error().message + ")";
    return a;
  }
  if (!found.value()) return a;
  a.found = true;
  a.account = found.value()->account;
  a.recipients = found.value()->recipients;
  a.context = json::parse("{" + store::ContextMembers(**found) + "}").as_object();
  return a;
}

}  // namespace

// Mail to a message's mailto: List-Unsubscribe address (RFC 2369): the recipient asks to hear no more.
// The message's (first) recipient is unsubscribed, as the https link does; auto-replies are not requests.
std::string FeedbackIntake::Unsubscribe(const std::string& id, const std::string& mail_from, const std::string& client_ip,
                                        const bounce::Report& report) {
  if (report.kind == bounce::ReportKind::kAutoReply) {
    spdlog::info("inbound: auto-reply from <{}> [{}] to the unsubscribe address of {}: not a request", mail_from, client_ip, id);
    return "";
  }
  Accepted acc = FindAccepted(store_, id);
  if (!acc.error.empty()) return acc.error;
  if (!acc.found) {
    spdlog::info("inbound: unsubscribe request about {}: that message is no longer in the event log; dropped", id);
    return "";
  }
  if (acc.recipients.empty()) return "";
  // The address names the message, not the recipient: a message to several is unsubscribed for the
  // recipient who writes (the envelope sender), and for nobody when that is none of them.
  std::string recipient = acc.recipients.size() == 1 ? acc.recipients.front() : "";
  for (const auto& r : acc.recipients)
    if (IEquals(r, mail_from)) recipient = r;
  if (recipient.empty()) {
    spdlog::info("inbound: unsubscribe request about {} from <{}> [{}]: the message has {} recipients and the sender "
                 "is none of them; nobody unsubscribed", id, mail_from, client_ip, acc.recipients.size());
    return "";
  }
  json::object d = acc.context;
  d["recipient"] = recipient;
  d["method"] = "mailto";
  d["requested_by"] = mail_from;
  d["client_ip"] = client_ip;
  store::Event e{0, NowMicros(), "unsubscribed", id, acc.account, json::serialize(d)};
  spdlog::info("inbound: {} unsubscribed {} by mail from <{}> [{}]", id, recipient, mail_from, client_ip);
  if (auto r = store_.AppendEvents({e}); !r) return "cannot record the unsubscribe request (" + r.error().message + ")";
  return "";
}

std::string FeedbackIntake::Process(const std::string& mail_from, const std::vector<std::string>& recipients,
                                    const std::string& client_ip, const std::string& message) {
  bounce::Report report = bounce::ParseReport(message);
  const std::string kind(bounce::ReportKindName(report.kind));
  for (const auto& r : recipients)
    if (auto uid = bounce::UnsubscribeMessageId(secret_, r.substr(0, r.rfind('@'))))
      return Unsubscribe(*uid, mail_from, client_ip, report);
  std::optional<std::string> id;
  for (const auto& r : recipients)
    if (!id) id = bounce::VerpMessageId(secret_, r.substr(0, r.rfind('@')));
  if (!id && !report.original.return_path.empty()) id = bounce::FindVerpMessageId(secret_, report.original.return_path);
  // Feedback loops report to their own address; the returned message still shows our return path
  // (Return-Path:, or Received: ... for <...>): any valid signed address in it names the message.
  if (!id) id = bounce::FindVerpMessageId(secret_, std::string_view(message).substr(0, 1 << 20));
  if (!id) {
    spdlog::info("inbound: {} from <{}> [{}] to {} names no message of ours; dropped", kind, mail_from, client_ip,
                 recipients.empty() ? "-" : recipients.front());
    return "";
  }
  if (report.kind == bounce::ReportKind::kAutoReply || report.kind == bounce::ReportKind::kDelayNotice ||
      report.kind == bounce::ReportKind::kNotBounce) {
    spdlog::info("inbound: {} about {} from <{}> [{}]: not counted", kind, *id, mail_from, client_ip);
    return "";
  }
  Accepted acc = FindAccepted(store_, *id);
  if (!acc.error.empty()) return acc.error;
  if (!acc.found) {
    spdlog::info("inbound: {} about {}: that message is no longer in the event log; dropped", kind, *id);
    return "";
  }
  const std::vector<std::string>& sent = acc.recipients;
  // Which of the message's recipients an address in the report is (case-insensitively); a report that
  // names none is about the message's only recipient, if it has one.
  auto match = [&](const std::string& address) -> std::string {
    for (const auto& s : sent)
      if (!address.empty() && ToLowerAscii(s) == ToLowerAscii(address)) return s;
    return sent.size() == 1 ? sent.front() : "";
  };
  json::object common = acc.context;
  common["source"] = "report";
  common["reporting_mta"] = report.reporting_mta;
  common["client_ip"] = client_ip;
  std::vector<store::Event> events;
  const int64_t now = NowMicros();
  if (report.kind == bounce::ReportKind::kComplaint) {
    std::set<std::string> who;
    for (const auto& r : report.recipients) who.insert(match(r.address));
    if (who.empty() || (who.size() == 1 && who.begin()->empty())) who = {match(report.original.to)};
    for (const auto& w : who) {
      if (w.empty()) continue;
      json::object d = common;
      d["recipient"] = w;
      d["feedback_type"] = report.feedback_type.empty() ? "abuse" : report.feedback_type;
      if (!report.arf_user_agent.empty()) d["user_agent"] = report.arf_user_agent;
      if (!report.source_ip.empty()) d["source_ip"] = report.source_ip;
      events.push_back(store::Event{0, now, "complained", *id, acc.account, json::serialize(d)});
    }
  } else {
    for (const auto& r : report.recipients) {
      if (r.action == "delivered" || r.action == "relayed" || r.action == "expanded" || r.action == "delayed") continue;
      std::string w = match(r.address);
      if (w.empty()) {
        spdlog::info("inbound: bounce about {} names <{}>, not one of its recipients; ignored", *id, r.address);
        continue;
      }
      json::object d = common;
      d["recipient"] = w;
      d["reply"] = r.diagnostic;
      d["status"] = r.status;
      d["classification"] = r.hard ? "hard" : "soft";
      d["reason"] = r.reason;
      d["rule"] = r.rule;
      if (!r.remote_mta.empty()) d["mx"] = r.remote_mta;
      events.push_back(store::Event{0, now, "bounced", *id, acc.account, json::serialize(d)});
    }
  }
  if (events.empty()) {
    spdlog::info("inbound: {} about {} from <{}> names no recipient of it; dropped", kind, *id, mail_from);
    return "";
  }
  for (const auto& e : events) spdlog::info("inbound: {} {} {}", e.message_id, e.type, e.data);
  if (auto r = store_.AppendEvents(events); !r) return "cannot record the report (" + r.error().message + ")";
  return "";
}

}  // namespace kurier::bounce
