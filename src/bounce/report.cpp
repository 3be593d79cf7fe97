// report.cpp - bounce, complaint and auto-reply parsing: ParseReport, which reads one message (or an mbox
// of several) with the steps of the files listed in report_parts.hpp, and puts each recipient together.
// SECURITY: input is a message from anyone on the Internet to a bounce address. It is read through the
// bounded MIME reader (10 MB, depth 10, 500 parts); every text scan here is linear in the input or works on
// bounded slices (the notification text is capped at kMaxText, recipients at kMaxRecipients, a diagnostic
// at kMaxDiagnostic); nothing is executed or looked up. What the report says is only as trustworthy as
// its sender: callers match it to their own messages (VERP token, X-Kurier-* headers) before acting.
// STANDARDS: RFC 3464 (message/delivery-status fields and per-recipient groups), RFC 6522
// (multipart/report, text/rfc822-headers), RFC 6533 (message/global-delivery-status), RFC 3463 (status
// codes), RFC 5965 (ARF: Feedback-Type, User-Agent, Source-IP, Original-Rcpt-To, Removal-Recipient),
// RFC 3834 (Auto-Submitted), RFC 5322 and RFC 2045-2047 (through mime/parse).
//
// Non-standard bounces (qmail, Exim, old Sendmail, Postfix without DSN, Exchange, Notes, IMail, Courier,
// webmail providers, ...) are read by general signs rather than per product: the human-readable text is
// cut where the returned message starts, split into one segment per recipient address mentioned in it,
// and each segment is searched for reply codes, status codes, the SMTP command that failed ("in reply to
// RCPT TO", "after end of data", ">>> DATA", "does not like recipient") and the remote host.
#include "bounce/report.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "bounce/classify.hpp"
#include "bounce/report_parts.hpp"
#include "common/encoding.hpp"
#include "mime/parse.hpp"

namespace kurier::bounce {

namespace internal {

// ---- putting a recipient together -----------------------------------------------------------------

// Amazon SES writes "5.1.0 - Unknown address error 550-'5.7.1 ... Access denied'": its own category
// first, the remote server's reply quoted. The quoted reply is the evidence.
static std::string UnwrapSesReply(const std::string& d) {
  if (d.size() < 8 || !std::isdigit(static_cast<unsigned char>(d[0])) || d[1] != '.' || d.find(" - ") > 8) return d;
  auto q1 = d.find('\'');
  auto q2 = d.rfind('\'');
  if (q1 == std::string::npos || q2 <= q1 + 1) return d;
  std::string quoted = d.substr(q1 + 1, q2 - q1 - 1);
  // Keep the reply code written before the quote ("550-'").
  std::string code;
  if (q1 >= 4 && std::isdigit(static_cast<unsigned char>(d[q1 - 4])) && d[q1 - 1] == '-') code = d.substr(q1 - 4, 3) + " ";
  return code + quoted;
}

bool Finish(Recipient& r, std::string_view extra_text, std::string_view diagnostic_type, std::string_view writer) {
  if (r.status.empty()) r.status = FindEnhancedStatus(r.diagnostic);
  if (r.reply_code == 0) r.reply_code = FindReplyCode(r.diagnostic);
  std::string text = UnwrapSesReply(r.diagnostic);
  if (!extra_text.empty()) {
    text += "\n";
    text += extra_text;
  }
  std::string status = r.status;
  // A code quoted from the remote server ("550 5.7.1 ...") is closer to the cause than a generic Status.
  std::string quoted = FindEnhancedStatus(UnwrapSesReply(r.diagnostic));
  if (quoted.empty()) quoted = FindEnhancedStatus(r.diagnostic);
  if (!quoted.empty() && quoted != status && (status.empty() || status.find(".0.0") != std::string::npos ||
                                              r.diagnostic.find(quoted) < 12))
    status = quoted;
  if (status.empty()) status = FindEnhancedStatus(text);
  ReplyContext ctx;
  ctx.reply_code = r.reply_code != 0 ? r.reply_code : FindReplyCode(text);
  ctx.status = status;
  ctx.text = text;
  ctx.command = r.smtp_command;
  ctx.action = r.action;
  ctx.diagnostic_type = diagnostic_type;
  const auto at = r.address.rfind('@');
  const std::string hosts = Lower((at == std::string::npos ? std::string() : r.address.substr(at + 1)) + " " +
                                  Untyped(r.remote_mta) + " " + Untyped(r.reporting_mta));
  ctx.hosts = hosts;
  ctx.writer = writer;
  Classification c = Classify(ctx);
  r.reason = c.reason;
  r.hard = c.hard;
  r.rule = c.rule;
  return c.definite;
}

std::string LowerDomain(std::string address) {
  if (auto at = address.rfind('@'); at != std::string::npos)
    for (std::size_t i = at + 1; i < address.size(); ++i)
      address[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(address[i])));
  return address;
}

}  // namespace internal

using namespace internal;

std::string_view ReportKindName(ReportKind kind) {
  switch (kind) {
    case ReportKind::kBounce: return "bounce";
    case ReportKind::kComplaint: return "complaint";
    case ReportKind::kAutoReply: return "auto_reply";
    case ReportKind::kDelayNotice: return "delay";
    case ReportKind::kNotBounce: return "not_bounce";
  }
  return "not_bounce";
}

namespace {

Report ParseOne(std::string_view raw, int depth);

// A bounce forwarded as text ("Fwd: Undelivered Mail ...", or a message quoted whole in a text part):
// the embedded report, read as a message of its own.
std::optional<Report> EmbeddedReport(const std::string& text, int depth) {
  if (depth >= 2) return std::nullopt;
  std::string lower = Lower(text);
  std::size_t at = std::string::npos;
  for (std::string_view marker : {"\ncontent-type: multipart/report", "\ncontent-type: message/delivery-status"}) {
    std::size_t found = lower.find(marker);
    if (found != std::string::npos && (at == std::string::npos || found < at)) at = found;
  }
  if (at == std::string::npos) return std::nullopt;
  // Back up to the first line of that header block.
  std::size_t start = at + 1;
  while (start > 0) {
    std::size_t prev_end = start - 1;  // the '\n' ending the previous line
    std::size_t prev_start = text.rfind('\n', prev_end == 0 ? 0 : prev_end - 1);
    prev_start = prev_start == std::string::npos || prev_end == 0 ? 0 : prev_start + 1;
    std::string_view prev = std::string_view(text).substr(prev_start, prev_end - prev_start);
    if (Trim(prev).empty() || prev_end == 0) break;
    start = prev_start;
  }
  Report inner = ParseOne(std::string_view(text).substr(start), depth + 1);
  if (inner.recipients.empty()) return std::nullopt;
  return inner;
}

// The start of each message of an mbox ("From sender Thu Apr 29 23:34:45 2015" after an empty line).
std::vector<std::string_view> SplitMbox(std::string_view raw) {
  std::vector<std::string_view> messages;
  std::size_t start = 0;
  for (std::size_t at = raw.find("\nFrom "); at != std::string_view::npos; at = raw.find("\nFrom ", at + 1)) {
    bool after_blank = at >= 1 && (raw[at - 1] == '\n' || (at >= 2 && raw[at - 1] == '\r' && raw[at - 2] == '\n'));
    std::size_t eol = raw.find('\n', at + 1);
    std::string_view line = raw.substr(at + 1, (eol == std::string_view::npos ? raw.size() : eol) - at - 1);
    bool has_time = line.size() < 200 && line.find(':') != std::string_view::npos &&
                    line.find(':') + 3 < line.size() && line[line.find(':') + 3] == ':';
    if (!after_blank || !has_time) continue;
    messages.push_back(raw.substr(start, at + 1 - start));
    start = at + 1;
    if (messages.size() >= 15) break;
  }
  messages.push_back(raw.substr(start));
  return messages;
}

// An SES notification's kind: a complaint stays one; otherwise a bounce, a delay notice or neither.
void SetSesKind(Report& report) {
  if (report.kind != ReportKind::kComplaint) {
    bool failed = std::any_of(report.recipients.begin(), report.recipients.end(),
                              [](const Recipient& r) { return r.reason != "delivered" && r.action != "delayed"; });
    bool delayed = std::any_of(report.recipients.begin(), report.recipients.end(),
                               [](const Recipient& r) { return r.action == "delayed"; });
    report.kind = failed ? ReportKind::kBounce : delayed ? ReportKind::kDelayNotice : ReportKind::kNotBounce;
  }
}

// Addresses that are the sender's, never a failed recipient.
std::vector<std::string> SenderAddresses(const mime::Headers& top, const OriginalMessage& original) {
  std::vector<std::string> senders;
  for (std::string_view field : {"To", "Delivered-To", "X-Original-To", "Envelope-To"})
    for (std::string_view v : top.GetAll(field))
      for (const FoundAddress& f : FindAddresses(v)) senders.push_back(f.address);
  for (const std::string& s : {original.from, original.return_path})
    for (const FoundAddress& f : FindAddresses(s)) senders.push_back(f.address);
  return senders;
}

// The RFC 3464 part, or DSN fields written into the text (forwarded or damaged reports).
Dsn ReadDsn(const Parts& parts, const Notification& note) {
  Dsn dsn;
  if (parts.delivery_status) dsn = ParseDsn(parts.delivery_status->body);
  if (dsn.recipients.empty()) {
    std::string joined;
    for (const std::string& l : note.lines) joined += l + "\n";
    std::string lower = Lower(joined);
    auto at = lower.find("final-recipient:");
    if (at == std::string::npos) at = lower.find("original-recipient:");
    if (at != std::string::npos && (lower.find("\naction:") != std::string::npos || lower.find("\nstatus:") != std::string::npos)) {
      auto start = lower.rfind("reporting-mta:", at);
      Dsn embedded = ParseDsn(std::string_view(joined).substr(start == std::string::npos ? at : start));
      if (!embedded.recipients.empty()) dsn = std::move(embedded);
    }
  }
  return dsn;
}

// Wording alone ("could not be delivered") also occurs in ordinary mail: without a report part, a daemon
// sender, a bounce subject or X-Failed-Recipients, it counts only with a recipient address and an SMTP
// code or a definite cause. False also for an auto-reply that only looks like a bounce.
bool IsBounceLike(const mime::Headers& top, const Report& report, const Dsn& dsn, const std::string& whole_note,
                  const std::vector<std::string>& order) {
  const bool strong = !dsn.recipients.empty() || FromDaemon(top) || BounceSubject(report.subject) ||
                      top.Get("X-Failed-Recipients").has_value();
  const bool bounce_like =
      strong || (BounceText(whole_note) && !order.empty() &&
                 (FindReplyCode(whole_note) != 0 || !FindEnhancedStatus(whole_note).empty() ||
                  ClassifyReply(0, "", whole_note.substr(0, kMaxDiagnostic * 4)).definite));
  return !(!bounce_like || (dsn.recipients.empty() && AutoReplyHeaders(top) && !FromDaemon(top) &&
                            !BounceSubject(report.subject) && !BounceText(whole_note)));
}

// A message that is no bounce: an auto-reply when it has the signs of one.
void ReadAutoReply(const mime::Headers& top, const std::string& whole_note, Report& report) {
  if (AutoReplyHeaders(top) || AutoReplySubject(report.subject) || AutoReplyBody(whole_note)) {
    report.kind = ReportKind::kAutoReply;
    Recipient r;
    r.address = LowerDomain(AddressFromField(top.Get("From").value_or("")));
    r.reason = "vacation";
    r.rule = "auto-reply (RFC 3834)";
    r.diagnostic = Shorten(whole_note.substr(0, 512));
    report.recipients.push_back(std::move(r));
  }
}

// One recipient of an RFC 3464 report: its fields, with the human-readable segment about it.
Recipient FromDsnRecipient(const DsnRecipient& d, const Dsn& dsn, const std::vector<Segment>& segments,
                           const std::string& whole_note, bool ses_receiving, std::string_view writer) {
  Recipient r;
  r.address = LowerDomain(BestDsnAddress(d));
  r.action = d.action;
  r.status = d.status;
  r.diagnostic = Shorten(DecodeJis(d.diagnostic));
  r.remote_mta = d.remote_mta;
  r.reporting_mta = dsn.reporting_mta;
  std::string seg = SegmentFor(segments, r.address);
  std::string seg_all = SegmentFor(segments, r.address, true);
  if (seg.empty() && !d.original_recipient.empty()) {
    seg = SegmentFor(segments, d.original_recipient);
    seg_all = SegmentFor(segments, d.original_recipient, true);
  }
  if (seg.empty() && dsn.recipients.size() == 1) seg = seg_all = whole_note;
  r.smtp_command = CommandIn(seg_all);
  if (r.smtp_command.empty()) r.smtp_command = CommandIn(r.diagnostic);
  if (r.smtp_command.empty()) r.smtp_command = CommandWordIn(r.diagnostic);
  if (r.smtp_command.empty()) r.smtp_command = WriterCommand(writer, r.diagnostic);
  if (r.remote_mta.empty()) r.remote_mta = RemoteHostIn(seg);
  // The report's own fields first; when they say nothing definite, the human-readable part (all of it
  // when there is one recipient and no Diagnostic-Code: some systems write the reason above the
  // recipient list). A bare "X.0.0" without a Diagnostic-Code says nothing at all.
  Recipient first = r;
  const std::string reported_status = r.status;
  if (r.diagnostic.empty() && reported_status.size() >= 5 && reported_status.substr(1) == ".0.0") first.status.clear();
  bool definite = Finish(first, {}, d.diagnostic_type, writer);
  first.status = reported_status.empty() ? first.status : reported_status;
  std::string words = r.diagnostic.empty() && dsn.recipients.size() == 1 ? whole_note : seg;
  // Text that only repeats the Diagnostic-Code adds nothing.
  if (!r.diagnostic.empty() &&
      Lower(CollapseSpace(words)).find(Lower(CollapseSpace(r.diagnostic)).substr(0, 60)) != std::string::npos)
    words.clear();
  if (!definite) {
    if (!words.empty()) {
      if (r.diagnostic.empty()) r.status.clear();
      if (r.diagnostic.empty()) r.diagnostic = Shorten(words);
      bool same = r.diagnostic == Shorten(words);
      if (!Finish(r, same ? std::string_view() : std::string_view(words), d.diagnostic_type, writer)) r = first;
      r.status = reported_status.empty() ? r.status : reported_status;
    } else {
      r = first;
    }
  } else {
    r = first;
  }
  if (ses_receiving) ApplySesReceivingTemplate(r);
  bool decisive = false;
  const bool narrower = r.reason == "mailboxfull" || r.reason == "mesgtoobig" || r.reason == "exceedlimit" ||
                        r.reason == "suspend" || r.reason == "hasmoved" || r.reason == "norelaying" || r.reason == "authfailure";
  if (std::string by_category = ReasonFromPowerMtaCategory(d.category, &decisive);
      !by_category.empty() && (decisive || !narrower)) {
    r.reason = by_category;
    r.hard = IsHardBounce(r.reason, r.status);
    r.rule = "PowerMTA bounce category " + d.category;
  }
  return r;
}

// A non-standard bounce's recipients: the addresses its text names, else X-Failed-Recipients, else the
// original's To; one unknown recipient ("") when none.
std::vector<std::string> TextRecipients(const std::vector<std::string>& order, const mime::Headers& top,
                                        const OriginalMessage& original) {
  std::vector<std::string> rcpts = order;
  if (rcpts.empty()) {
    if (auto xf = top.Get("X-Failed-Recipients"))
      for (const FoundAddress& f : FindAddresses(*xf, true)) rcpts.push_back(f.address);
  }
  if (rcpts.empty() && !original.to.empty()) {
    auto found = FindAddresses(original.to, true);
    if (!found.empty()) rcpts.push_back(found.front().address);
  }
  if (rcpts.empty()) rcpts.push_back("");
  return rcpts;
}

// One recipient `a` of a non-standard bounce, from the words about it.
Recipient FromText(const std::string& a, std::size_t recipient_count, const std::vector<Segment>& segments,
                   const Notification& note, const std::string& whole_note, const std::string& lower_note,
                   const std::string& reporting_mta, std::string_view writer) {
  Recipient r;
  r.address = LowerDomain(a);
  r.reporting_mta = reporting_mta;
  std::string seg = a.empty() ? "" : SegmentFor(segments, a);
  if (!seg.empty() && SaysLittle(seg, a)) seg = SegmentFor(segments, a, true);
  std::string words = seg;
  if (words.empty() || SaysLittle(words, a)) {
    // The reason is written before the address, or nowhere near it.
    std::string before = a.empty() ? whole_note : TextBefore(note.lines, a);
    words = recipient_count == 1 ? whole_note : before + "\n" + seg;
  }
  r.diagnostic = DiagnosticFrom(words);
  r.smtp_command = CommandIn(words);
  if (r.smtp_command.empty() && recipient_count == 1) r.smtp_command = CommandIn(whole_note);
  if (r.smtp_command.empty()) r.smtp_command = CommandWordIn(r.diagnostic);
  if (r.smtp_command.empty()) r.smtp_command = WriterCommand(writer, r.diagnostic);
  r.remote_mta = RemoteHostIn(words);
  bool delayed = lower_note.find("delivery attempts will continue") != std::string::npos ||
                 lower_note.find("this is only a temporary failure") != std::string::npos ||
                 lower_note.find("warning message only") != std::string::npos ||
                 lower_note.find("this is a warning only") != std::string::npos ||
                 lower_note.find("has not yet been delivered") != std::string::npos ||
                 lower_note.find("will be retried") != std::string::npos ||
                 lower_note.find("has been delayed") != std::string::npos;
  r.action = delayed ? "delayed" : "failed";
  if (!Finish(r, {}, "", writer) && words != whole_note) {
    // The recipient's own lines name no cause; the rest of the notification may.
    Recipient retry = r;
    if (Finish(retry, recipient_count == 1 ? std::string_view(whole_note) : std::string_view(), "", writer)) r = retry;
  }
  return r;
}

// The report's kind from its recipients: a bounce when one failed, a delay notice when all are delayed.
void SetKind(Report& report) {
  bool any_failed = false, any_delayed = false;
  for (const Recipient& r : report.recipients) {
    if (r.reason == "delivered") continue;
    if (r.action == "delayed") any_delayed = true;
    else any_failed = true;
  }
  report.kind = any_failed ? ReportKind::kBounce : any_delayed ? ReportKind::kDelayNotice : ReportKind::kNotBounce;
}

Report ParseOne(std::string_view raw, int depth) {
  Report report;
  const mime::Entity root = mime::Parse(raw);
  const mime::Headers& top = root.headers;
  report.subject = mime::DecodeEncodedWords(top.Get("Subject").value_or(""));

  Parts parts;
  CollectParts(root, parts);
  if (parts.notification.empty()) parts.notification = parts.html_notification;
  if (parts.original_headers) FillOriginal(*parts.original_headers, report.original);

  if (IsComplaint(root, parts)) {
    ParseFeedback(root, parts, report);
    return report;
  }
  if (ParseSesNotification(parts.notification, report)) {
    SetSesKind(report);
    return report;
  }

  Notification note = CutNotification(parts.notification);
  if (!HasOriginal(report.original)) FillOriginal(QuotedHeaders(note.original), report.original);
  const std::vector<std::string> senders = SenderAddresses(top, report.original);
  Dsn dsn = ReadDsn(parts, note);
  if (dsn.recipients.empty() && !FromDaemon(top)) {
    if (auto inner = EmbeddedReport(parts.raw_text, depth)) return std::move(*inner);
  } else if (dsn.recipients.empty()) {
    if (auto inner = EmbeddedReport(parts.raw_text, depth); inner && !inner->recipients.empty() &&
                                                            inner->kind != ReportKind::kNotBounce)
      return std::move(*inner);
  }
  report.reporting_mta = dsn.reporting_mta;
  report.original_envelope_id = dsn.envelope_id;
  if (report.reporting_mta.empty()) {
    std::string from = AddressFromField(top.Get("From").value_or(""));
    if (auto a = from.find('@'); a != std::string::npos) report.reporting_mta = Lower(from.substr(a + 1));
  }

  const bool ses_receiving = top.Get("X-SES-Outgoing").has_value() &&
                             Lower(Trim(parts.notification)).rfind("this message could not be delivered", 0) == 0;
  const std::string writer = WriterOf(top);
  std::vector<std::string> order;
  std::vector<Segment> segments = SegmentByRecipient(note.lines, senders, order);
  std::string whole_note;
  for (const std::string& l : note.lines) whole_note += l + "\n";

  if (!IsBounceLike(top, report, dsn, whole_note, order)) {
    ReadAutoReply(top, whole_note, report);
    return report;
  }
  if (!dsn.recipients.empty()) {
    for (const DsnRecipient& d : dsn.recipients)
      report.recipients.push_back(FromDsnRecipient(d, dsn, segments, whole_note, ses_receiving, writer));
  } else {
    // A non-standard bounce: recipients are the addresses its text names.
    const std::vector<std::string> rcpts = TextRecipients(order, top, report.original);
    const std::string lower_note = Lower(whole_note);
    for (const std::string& a : rcpts)
      report.recipients.push_back(FromText(a, rcpts.size(), segments, note, whole_note, lower_note, report.reporting_mta, writer));
  }
  SetKind(report);
  return report;
}

}  // namespace

Report ParseReport(std::string_view raw) {
  if (raw.size() > mime::Limits{}.max_input) raw = raw.substr(0, mime::Limits{}.max_input);
  std::vector<std::string_view> messages = SplitMbox(raw);
  Report report = ParseOne(messages.front(), 0);
  // An mbox of several reports: their recipients together, the first report's identity.
  for (std::size_t i = 1; i < messages.size(); ++i) {
    Report more = ParseOne(messages[i], 0);
    for (Recipient& r : more.recipients)
      if (report.recipients.size() < kMaxRecipients) report.recipients.push_back(std::move(r));
    auto rank = [](ReportKind k) {
      switch (k) {
        case ReportKind::kBounce: return 4;
        case ReportKind::kComplaint: return 3;
        case ReportKind::kDelayNotice: return 2;
        case ReportKind::kAutoReply: return 1;
        case ReportKind::kNotBounce: return 0;
      }
      return 0;
    };
    if (rank(more.kind) > rank(report.kind)) report.kind = more.kind;
  }
  return report;
}

}  // namespace kurier::bounce
