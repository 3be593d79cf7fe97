// report.cpp - bounce, complaint and auto-reply parsing.
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
#include <cstring>

#include "bounce/classify.hpp"
#include "common/encoding.hpp"
#include "mime/parse.hpp"

namespace kurier::bounce {

namespace {

constexpr std::size_t kMaxText = 256 * 1024;
constexpr std::size_t kMaxRecipients = 1000;
constexpr std::size_t kMaxDiagnostic = 4096;

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsWsp(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (IsWsp(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) { return ToLowerAscii(s); }

bool IContains(std::string_view haystack, std::string_view needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }
  return lines;
}

std::string CollapseSpace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// ---- addresses ----------------------------------------------------------------------------------

bool IsLocalChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+/=?^_`{|}~.-", c) != nullptr;
}
bool IsDomainChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'; }

struct FoundAddress {
  std::size_t begin = 0, end = 0;  // position in the searched text
  std::string address;             // domain lowercased
};

// Every plausible addr-spec in `text` (dot-atom or quoted local part, a domain with a dot or a bracketed
// literal, or a bare single-label domain only when `allow_single_label`).
std::vector<FoundAddress> FindAddresses(std::string_view text, bool allow_single_label = false) {
  std::vector<FoundAddress> out;
  for (std::size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    if (out.size() >= 64) break;
    std::size_t b = at;
    if (b > 0 && text[b - 1] == '"') {
      std::size_t q = text.rfind('"', b - 2 < text.size() ? b - 2 : 0);
      if (q == std::string_view::npos || b < 2 || q >= b - 1) continue;
      b = q;
    } else {
      while (b > 0 && IsLocalChar(text[b - 1])) --b;
      while (b < at && (text[b] == '.' || text[b] == '\'' || text[b] == '=' || text[b] == '/')) ++b;
    }
    if (b == at || at - b > 64) continue;
    std::size_t e = at + 1;
    if (e < text.size() && text[e] == '[') {
      std::size_t close = text.find(']', e);
      if (close == std::string_view::npos || close - e > 64) continue;
      e = close + 1;
    } else {
      while (e < text.size() && IsDomainChar(text[e])) ++e;
      while (e > at + 1 && (text[e - 1] == '.' || text[e - 1] == '-')) --e;
      std::string_view domain = text.substr(at + 1, e - at - 1);
      if (domain.empty() || domain.size() > 255) continue;
      if (domain.find('.') == std::string_view::npos && !allow_single_label) continue;
      if (domain.front() == '.' || domain.find("..") != std::string_view::npos) continue;
    }
    FoundAddress f;
    f.begin = b;
    f.end = e;
    f.address = std::string(text.substr(b, at - b + 1)) + Lower(text.substr(at + 1, e - at - 1));
    out.push_back(std::move(f));
  }
  return out;
}

// The address in a field value such as "rfc822; <kijitora@example.jp>", "Name <a@b>" or "a@b".
std::string AddressFromField(std::string_view value) {
  std::string_view v = Trim(value);
  if (auto semi = v.find(';'); semi != std::string_view::npos && semi < 16 && v.find('@') > semi)
    v = Trim(v.substr(semi + 1));
  auto found = FindAddresses(v, true);
  if (!found.empty()) return found.front().address;
  // Not an addr-spec (a local name, a path, "@host"): keep what was written, without brackets.
  std::string s(v);
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '<' || c == '>'; }), s.end());
  return std::string(Trim(s).substr(0, 256));
}

bool SameAddress(std::string_view a, std::string_view b) { return IEquals(a, b); }

// ---- text of a MIME entity ---------------------------------------------------------------------

std::string StripHtml(std::string_view html) {
  std::string out;
  bool in_tag = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    char c = html[i];
    if (c == '<') {
      in_tag = true;
      auto rest = Lower(html.substr(i, 4));
      if (rest == "<br>" || rest == "<br/" || rest == "<p>" || rest.rfind("</p", 0) == 0 || rest.rfind("<div", 0) == 0 ||
          rest.rfind("<tr", 0) == 0 || rest.rfind("<li", 0) == 0)
        out += '\n';
      continue;
    }
    if (c == '>' && in_tag) {
      in_tag = false;
      continue;
    }
    if (in_tag) continue;
    if (c == '&') {
      std::string_view rest = html.substr(i);
      if (rest.substr(0, 4) == "&lt;") { out += '<'; i += 3; continue; }
      if (rest.substr(0, 4) == "&gt;") { out += '>'; i += 3; continue; }
      if (rest.substr(0, 5) == "&amp;") { out += '&'; i += 4; continue; }
      if (rest.substr(0, 6) == "&nbsp;") { out += ' '; i += 5; continue; }
      if (rest.substr(0, 6) == "&quot;") { out += '"'; i += 5; continue; }
    }
    out += c;
  }
  return out;
}

std::string EntityText(const mime::Entity& e) {
  std::string text = mime::ToUtf8(e.body, e.charset()).value_or(e.body);
  if (e.content_type.subtype == "html") text = StripHtml(text);
  if (text.size() > kMaxText) text.resize(kMaxText);
  return text;
}

// ---- the original message ------------------------------------------------------------------------

void FillOriginal(const mime::Headers& h, OriginalMessage& o) {
  auto get = [&](std::string_view name) { return std::string(h.Get(name).value_or("")); };
  if (o.message_id.empty()) {
    std::string id = get("Message-ID");
    auto lt = id.find('<'), gt = id.find('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt) id = id.substr(lt + 1, gt - lt - 1);
    o.message_id = std::string(Trim(id));
  }
  if (o.from.empty()) o.from = mime::DecodeEncodedWords(get("From"));
  if (o.to.empty()) o.to = mime::DecodeEncodedWords(get("To"));
  if (o.subject.empty()) o.subject = mime::DecodeEncodedWords(get("Subject"));
  if (o.return_path.empty()) o.return_path = AddressFromField(get("Return-Path"));
  for (const mime::Field& f : h.fields())
    if (IStartsWith(f.name, "X-Kurier-") && o.kurier_headers.size() < 64)
      o.kurier_headers.emplace(Lower(f.name), f.value);
}

bool HasOriginal(const OriginalMessage& o) {
  return !o.message_id.empty() || !o.from.empty() || !o.to.empty() || !o.kurier_headers.empty();
}

// ---- the parts of a report ----------------------------------------------------------------------

struct Parts {
  const mime::Entity* delivery_status = nullptr;
  const mime::Entity* feedback_report = nullptr;
  const mime::Headers* original_headers = nullptr;  // message/rfc822 child or parsed rfc822-headers
  mime::Headers parsed_original;                     // storage for text/rfc822-headers
  std::string notification;                          // the human-readable text, UTF-8
  std::string raw_text;                              // the same leaves undecoded (for embedded messages)
  std::string html_notification;                     // used only when there is no text/plain
};

void CollectParts(const mime::Entity& e, Parts& p) {
  const std::string type = e.content_type.MimeType();
  if (type == "message/rfc822" || type == "message/global") {
    if (!e.parts.empty() && !p.original_headers) p.original_headers = &e.parts.front().headers;
    return;  // the returned message is not part of the notification
  }
  if (type == "text/rfc822-headers" || type == "message/rfc822-headers") {
    if (!p.original_headers) {
      p.parsed_original = mime::ParseHeaders(mime::SplitHeaderBody(e.body).first);
      if (p.parsed_original.empty()) p.parsed_original = mime::ParseHeaders(e.body);
      p.original_headers = &p.parsed_original;
    }
    return;
  }
  if (type == "message/delivery-status" || type == "message/global-delivery-status") {
    if (!p.delivery_status) p.delivery_status = &e;
    return;
  }
  if (type == "message/feedback-report") {
    if (!p.feedback_report) p.feedback_report = &e;
    return;
  }
  if (!e.parts.empty()) {
    for (const mime::Entity& child : e.parts) CollectParts(child, p);
    return;
  }
  // A multipart entity whose boundary never occurs is read as the text it is.
  if (e.content_type.type != "text" && !e.IsMultipart()) return;
  if (IContains(e.headers.Get("Content-Disposition").value_or(""), "attachment") && !p.notification.empty()) return;
  if (e.content_type.subtype == "html") {
    if (p.html_notification.size() < kMaxText) p.html_notification += EntityText(e) + "\n";
  } else if (p.notification.size() < kMaxText) {
    p.notification += EntityText(e) + "\n";
    p.raw_text += e.body.substr(0, kMaxText);
    p.raw_text += "\n";
  }
}

// ---- RFC 3464 fields ----------------------------------------------------------------------------

struct DsnField {
  std::string name;  // lowercased
  std::string value;
  int block = 0;  // blank-line separated group
};

std::vector<DsnField> ReadDsnFields(std::string_view text) {
  std::vector<DsnField> fields;
  int block = 0;
  bool current = false;
  for (std::string_view raw_line : SplitLines(text)) {
    std::string_view line = raw_line;
    if (Trim(line).empty()) {
      if (current || (!fields.empty() && fields.back().block == block)) ++block;
      current = false;
      continue;
    }
    if (IsWsp(line.front())) {
      if (current) fields.back().value += " " + std::string(Trim(line));
      continue;
    }
    current = false;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 40) continue;
    std::string_view name = line.substr(0, colon);
    bool ok = true;
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) ok = false;
    if (!ok) continue;
    if (fields.size() >= 4 * kMaxRecipients) break;
    fields.push_back({Lower(name), std::string(Trim(line.substr(colon + 1))), block});
    current = true;
  }
  return fields;
}

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

bool IsRecipientField(std::string_view name) {
  return name == "final-recipient" || name == "original-recipient" || name == "action" || name == "status" ||
         name == "diagnostic-code" || name == "remote-mta" || name == "x-actual-recipient" ||
         name == "last-attempt-date" || name == "will-retry-until" || name == "final-log-id" ||
         name == "x-powermta-bouncecategory";
}

// Strips the "dns; " / "smtp; " type prefix of a typed field value.
std::string Untyped(std::string_view v, std::string* type = nullptr) {
  std::size_t semi = v.find(';');
  if (semi != std::string_view::npos && semi < 32) {
    std::string_view t = Trim(v.substr(0, semi));
    bool word = !t.empty();
    for (char c : t)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) word = false;
    if (word) {
      if (type) *type = Lower(t);
      return std::string(Trim(v.substr(semi + 1)));
    }
  }
  return std::string(Trim(v));
}

Dsn ParseDsn(std::string_view text) {
  Dsn dsn;
  std::vector<DsnField> fields = ReadDsnFields(text);
  DsnRecipient cur;
  int cur_block = -1;
  auto flush = [&] {
    if (cur.any && dsn.recipients.size() < kMaxRecipients) dsn.recipients.push_back(cur);
    cur = DsnRecipient{};
    cur_block = -1;
  };
  for (const DsnField& f : fields) {
    if (f.name == "reporting-mta") {
      if (dsn.reporting_mta.empty()) dsn.reporting_mta = Untyped(f.value);
      continue;
    }
    if (f.name == "original-envelope-id") {
      if (dsn.envelope_id.empty()) dsn.envelope_id = std::string(Trim(f.value));
      continue;
    }
    if (!IsRecipientField(f.name)) continue;
    // A new group starts at a blank line, or when a recipient field repeats within the current one
    // (reports that run all groups together).
    bool repeat = (f.name == "final-recipient" && !cur.final_recipient.empty()) ||
                  (f.name == "original-recipient" && !cur.original_recipient.empty()) ||
                  (f.name == "action" && !cur.action.empty()) || (f.name == "status" && !cur.status.empty());
    if (cur.any && (f.block != cur_block || repeat)) flush();
    cur.any = true;
    cur_block = f.block;
    if (f.name == "final-recipient") cur.final_recipient = AddressFromField(f.value);
    else if (f.name == "original-recipient") cur.original_recipient = AddressFromField(f.value);
    else if (f.name == "x-actual-recipient") cur.actual_recipient = AddressFromField(f.value);
    else if (f.name == "action") cur.action = Lower(Trim(f.value.substr(0, f.value.find_first_of(" (;"))));
    else if (f.name == "status") cur.status = std::string(Trim(f.value.substr(0, f.value.find_first_of(" (;"))));
    else if (f.name == "diagnostic-code") cur.diagnostic = Untyped(f.value, &cur.diagnostic_type);
    else if (f.name == "remote-mta") cur.remote_mta = Untyped(f.value);
    else if (f.name == "x-powermta-bouncecategory") cur.category = Lower(Trim(f.value));
  }
  flush();
  // Groups without any recipient and without a status are per-message leftovers, not recipients.
  std::erase_if(dsn.recipients, [](const DsnRecipient& r) {
    return r.final_recipient.empty() && r.original_recipient.empty() && r.status.empty() && r.diagnostic.empty();
  });
  return dsn;
}

std::string BestDsnAddress(const DsnRecipient& r) {
  auto valid = [](const std::string& a) {
    auto at = a.find('@');
    return at != std::string::npos && at > 0 && at + 1 < a.size() && a.find(':') == std::string::npos;
  };
  if (valid(r.final_recipient)) return r.final_recipient;
  if (valid(r.original_recipient)) return r.original_recipient;
  if (valid(r.actual_recipient)) return r.actual_recipient;
  if (!r.final_recipient.empty()) {
    // "@route:user@host" source routes: keep the mailbox.
    if (auto colon = r.final_recipient.rfind(':'); colon != std::string::npos && valid(r.final_recipient.substr(colon + 1)))
      return r.final_recipient.substr(colon + 1);
    return r.final_recipient;
  }
  return r.original_recipient;
}

// ---- the human-readable notification ------------------------------------------------------------

// Where the returned message (or its headers) starts inside a text notification: a line of its own that
// begins with one of these phrases once framing ("-----", "|", "*", "=") is stripped.
bool IsOriginalMarker(std::string_view line) {
  std::string_view v = Trim(line);
  while (!v.empty() && std::strchr("-=|*#_>:. \t", v.front())) v.remove_prefix(1);
  while (!v.empty() && std::strchr("-=|*#_:. \t", v.back())) v.remove_suffix(1);
  if (v.empty() || v.size() > 80) return false;
  std::string l = Lower(v);
  static const std::initializer_list<std::string_view> kMarkers = {
      "original message", "this is a copy of the message", "this is a copy of your message",
      "below this line is a copy of the message", "unsent message follows", "returned message",
      "message headers follow", "message text follows", "enclosed is a copy of the message",
      "below is a copy of the original message", "included is a copy of the message",
      "the header of the original message", "the headers of the original message", "original mail as follows",
      "the attachment contains the original mail", "content-type: message/rfc822",
      "content-type: text/rfc822-headers", "original mail header", "copy of the original message",
  };
  for (std::string_view m : kMarkers)
    if (l.rfind(m, 0) == 0) return true;
  return false;
}

bool LooksLikeHeaderLine(std::string_view line) {
  static const std::initializer_list<std::string_view> kNames = {
      "received:", "return-path:", "dkim-signature:", "message-id:", "x-received:", "mime-version:",
      "authentication-results:", "arc-seal:", "delivered-to:", "x-google-smtp-source:",
  };
  std::string l = Lower(line.substr(0, 40));
  for (std::string_view n : kNames)
    if (l.rfind(n, 0) == 0) return true;
  return false;
}

struct Notification {
  std::vector<std::string> lines;  // the text before the returned message, quoting removed
  std::string original;            // the text after the cut, where quoted headers may be found
};

Notification CutNotification(std::string_view text) {
  Notification n;
  std::vector<std::string_view> lines = SplitLines(text);
  // A forwarded bounce quotes every line with '>': remove one level.
  std::size_t quoted = 0, nonempty = 0;
  for (std::string_view l : lines) {
    if (Trim(l).empty()) continue;
    ++nonempty;
    if (l.front() == '>') ++quoted;
  }
  const bool unquote = nonempty > 4 && quoted * 2 > nonempty;
  std::size_t cut = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (unquote && !l.empty() && l.front() == '>') {
      l.remove_prefix(1);
      if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
    }
    if (IsOriginalMarker(l) || (i > 0 && LooksLikeHeaderLine(l) && Trim(lines[i - 1]).empty()) ||
        (i > 0 && LooksLikeHeaderLine(l) && i + 1 < lines.size() &&
         (LooksLikeHeaderLine(lines[i + 1]) || (!lines[i + 1].empty() && IsWsp(lines[i + 1].front()))))) {
      cut = i;
      break;
    }
    n.lines.emplace_back(l);
  }
  for (std::size_t i = cut; i < lines.size(); ++i) {
    n.original += lines[i];
    n.original += '\n';
    if (n.original.size() > kMaxText) break;
  }
  return n;
}

// Headers quoted after the cut: the first run of header-looking lines.
mime::Headers QuotedHeaders(std::string_view text) {
  std::vector<std::string_view> lines = SplitLines(text);
  std::size_t start = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = Trim(lines[i]);
    auto colon = l.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 40) continue;
    bool name = true;
    for (char c : l.substr(0, colon))
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) name = false;
    if (name) {
      start = i;
      break;
    }
  }
  std::string block;
  for (std::size_t i = start; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (Trim(l).empty()) {
      if (i > start + 1) break;
      continue;
    }
    // Indented quoted headers ("   From owner-..." in some list managers): dedent.
    std::string_view d = l;
    while (!d.empty() && IsWsp(d.front()) && i == start) d.remove_prefix(1);
    block += std::string(d);
    block += '\n';
    if (block.size() > 64 * 1024) break;
  }
  return mime::ParseHeaders(block);
}

// ---- reading one recipient's words ---------------------------------------------------------------

std::string CommandIn(std::string_view segment) {
  std::string t = Lower(segment);
  const std::string flat = CollapseSpace(t);  // phrases may be folded across lines
  struct Sign {
    std::string_view phrase;
    std::string_view command;
  };
  static const std::initializer_list<Sign> kSigns = {
      {"in reply to end of data", "DATA"}, {"in reply to data", "DATA"}, {"in reply to rcpt to", "RCPT"},
      {"in reply to rcpt", "RCPT"}, {"in reply to mail from", "MAIL"}, {"in reply to mail", "MAIL"},
      {"in reply to helo", "HELO"}, {"in reply to ehlo", "EHLO"}, {"in reply to the mail from", "MAIL"},
      {"after end of data", "DATA"}, {"after data", "DATA"}, {"after rcpt to", "RCPT"}, {"after rcpt", "RCPT"},
      {"after mail from", "MAIL"}, {"after initial connection", "CONN"}, {"after connect", "CONN"},
      {"after helo", "HELO"}, {"after ehlo", "EHLO"}, {"after pipelined", "RCPT"},
      {"did not like our final data", "DATA"}, {"did not like our data", "DATA"},
      {"did not like our rcpt to", "RCPT"}, {"did not like our mail from", "MAIL"},
      {"does not like recipient", "RCPT"}, {"does not like sender", "MAIL"},
      {"failed after i sent the message", "DATA"}, {"failed on data command", "DATA"},
      {"error following rcpt command", "RCPT"}, {"error following data command", "DATA"},
      {"[rcpt_to]", "RCPT"}, {"smtp:rcpt", "RCPT"}, {"smtp:data", "DATA"}, {"(data)", "DATA"},
      {"after rcpt command", "RCPT"}, {"rcpt command", "RCPT"}, {"for text command", "DATA"},
      {"rejected recipient", "RCPT"}, {"smtp command data", "DATA"},
      {"while performing the helo handshake", "HELO"}, {"during the helo", "HELO"},
      // Gmail's older notices end with the session state at the failure.
      {"(state 6)", "MAIL"}, {"(state 13)", "EHLO"}, {"(state 14)", "RCPT"}, {"(state 15)", "DATA"},
      {"(state 17)", "DATA"}, {"(state 18)", "DATA"},
  };
  std::size_t best = std::string::npos;
  std::string_view command;
  for (const Sign& s : kSigns) {
    std::size_t at = flat.find(s.phrase);
    if (at != std::string::npos && (best == std::string::npos || at < best)) {
      best = at;
      command = s.command;
    }
  }
  if (!command.empty()) return std::string(command);
  // Sendmail transcripts: the last ">>> COMMAND" before the first "<<< 4xx/5xx" line.
  std::string last;
  for (std::string_view line : SplitLines(t)) {
    std::string_view l = Trim(line);
    if (l.rfind(">>> ", 0) == 0) {
      std::string_view c = Trim(l.substr(4));
      if (c.rfind("rcpt", 0) == 0) last = "RCPT";
      else if (c.rfind("mail", 0) == 0) last = "MAIL";
      else if (c.rfind("data", 0) == 0 || c == ".") last = "DATA";
      else if (c.rfind("ehlo", 0) == 0) last = "EHLO";
      else if (c.rfind("helo", 0) == 0) last = "HELO";
      else last.clear();
    } else if (l.rfind("<<< 4", 0) == 0 || l.rfind("<<< 5", 0) == 0) {
      if (!last.empty()) return last;
    }
  }
  return "";
}

// "host mx.example.jp[192.0.2.1] said:", "host mx.example.jp [192.0.2.1]:", "mx.example.jp [192.0.2.1] did
// not like our RCPT TO:", "Remote system: dns;mx.example.jp", "while talking to mx.example.jp.:".
std::string RemoteHostIn(std::string_view segment) {
  std::string t = Lower(segment);
  auto word_after = [&](std::size_t pos) {
    while (pos < t.size() && (t[pos] == ' ' || t[pos] == ':')) ++pos;
    std::size_t end = pos;
    while (end < t.size() && (std::isalnum(static_cast<unsigned char>(t[end])) || t[end] == '.' || t[end] == '-')) ++end;
    std::string host = t.substr(pos, end - pos);
    while (!host.empty() && host.back() == '.') host.pop_back();
    return host.find('.') != std::string::npos ? host : std::string();
  };
  for (std::string_view lead : {"host ", "while talking to ", "remote system: dns;", "remote host ", "generating server: "}) {
    for (std::size_t at = t.find(lead); at != std::string::npos; at = t.find(lead, at + 1)) {
      if (at > 0 && std::isalnum(static_cast<unsigned char>(t[at - 1]))) continue;
      std::string host = word_after(at + lead.size());
      if (!host.empty() && host != "said") return host;
    }
  }
  std::size_t dl = t.find(" did not like our");
  if (dl != std::string::npos) {
    std::size_t line_start = t.rfind('\n', dl);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    std::string host = word_after(line_start);
    if (!host.empty()) return host;
  }
  return "";
}

bool IsDaemonAddress(std::string_view address) {
  std::string local = Lower(address.substr(0, address.find('@')));
  return local == "mailer-daemon" || local == "mailer_daemon" || local == "maildaemon" || local == "mail-daemon";
}

// Lines where an address is mentioned without being a recipient of the failed delivery.
bool IsIncidentalMention(std::string_view line, std::size_t at) {
  std::string before = Lower(line.substr(0, at));
  static const std::initializer_list<std::string_view> kLeads = {
      "contact", "assistance", "send mail to", "mail from:", "mail from :", "from:", "sender", "reply-to:",
      "return-path:", "message-id:", "envelope-from", "mailto:", "hello ", "dear ", "hi ", "generated by",
      "generated from", "expanded from", "originally to", "to:", "cc:", "owner-", "on behalf of",
  };
  for (std::string_view lead : kLeads) {
    auto p = before.rfind(lead);
    if (p == std::string::npos) continue;
    // "To:" only counts as a header-like summary when it starts the line.
    if ((lead == "to:" || lead == "cc:" || lead == "from:") && !Trim(before.substr(0, p)).empty() &&
        before.substr(0, p).find_first_not_of(" \t>") != std::string::npos)
      continue;
    return true;
  }
  return false;
}

struct Segment {
  std::string address;
  std::string text;
};

// A line that ends the current recipient's words: framing ("----- Transcript of session follows -----"),
// a Sendmail transcript's "While talking to host:", or its per-host lines ("550 host (smtp)... text").
bool BreaksSegment(std::string_view line) {
  std::string l = Lower(Trim(line));
  if (l.empty()) return false;
  if (l.rfind("---", 0) == 0 || l.rfind("===", 0) == 0 || l.rfind("***", 0) == 0 || l.rfind("|---", 0) == 0) return true;
  if (l.rfind("while talking to", 0) == 0 || l.rfind("... while talking to", 0) == 0) return true;
  if (l.size() > 4 && std::isdigit(static_cast<unsigned char>(l[0])) && l[3] == ' ' &&
      l.find(" (smtp)...") != std::string::npos)
    return true;
  return false;
}

// Splits the notification into one segment per recipient mention: a line that mentions a recipient starts
// (or continues) that recipient's segment; the lines after it belong to it until another recipient is
// mentioned or a transcript/framing line intervenes. Lines seen between segments (a transcript's "While
// talking to ..." and ">>> DATA") are put in front of the next recipient's segment.
std::vector<Segment> SegmentByRecipient(const std::vector<std::string>& lines,
                                        const std::vector<std::string>& not_recipients,
                                        std::vector<std::string>& order) {
  std::vector<Segment> segments;
  std::string pending;
  bool open = false, collecting = false;  // lines are kept for the next segment only after a break
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    std::string recipient;
    for (const FoundAddress& f : FindAddresses(line)) {
      if (IsDaemonAddress(f.address) || IsIncidentalMention(line, f.begin)) continue;
      bool excluded = false;
      for (const std::string& x : not_recipients) excluded = excluded || SameAddress(x, f.address);
      if (excluded) continue;
      // An address inside a URL or a message identifier is not a recipient.
      if (f.begin > 0 && (line[f.begin - 1] == '/' || line[f.begin - 1] == '=' || line[f.begin - 1] == '?')) continue;
      recipient = f.address;
      break;
    }
    if (!recipient.empty()) {
      if (!open || segments.empty() || !SameAddress(segments.back().address, recipient)) {
        if (std::none_of(order.begin(), order.end(), [&](const std::string& a) { return SameAddress(a, recipient); })) {
          if (order.size() >= kMaxRecipients) break;
          order.push_back(recipient);
        }
        segments.push_back({recipient, pending});
      }
      pending.clear();
      open = true;
    } else if (BreaksSegment(line)) {
      open = false;
      collecting = true;
      pending.clear();
    }
    if (!open && !collecting) continue;
    std::string& target = open ? segments.back().text : pending;
    if (target.size() < kMaxDiagnostic * 4) {
      target += std::string(line);
      target += '\n';
    }
  }
  return segments;
}

// The recipient's segment: the first mention (later ones are translations or repetitions), or all of
// them joined when `all` (to find the SMTP command in a transcript that follows the address list).
std::string SegmentFor(const std::vector<Segment>& segments, std::string_view address, bool all = false) {
  std::string out;
  for (const Segment& s : segments)
    if (SameAddress(s.address, address)) {
      if (!out.empty()) out += '\n';
      out += s.text;
      if (!all || out.size() > kMaxDiagnostic * 8) break;
    }
  return out;
}

// True when the recipient's words, from the line naming the address on, are only the address (the
// reason is elsewhere: before it, or in a later transcript).
bool SaysLittle(std::string_view segment, std::string_view address) {
  std::string rest = Lower(segment);
  std::string a = Lower(address);
  if (auto at = rest.find(a); at != std::string::npos) {
    auto line_start = rest.rfind('\n', at);
    rest.erase(0, line_start == std::string::npos ? 0 : line_start + 1);
  }
  for (std::size_t at = rest.find(a); at != std::string::npos; at = rest.find(a)) rest.erase(at, a.size());
  std::size_t letters = 0;
  for (char c : rest)
    if (std::isalpha(static_cast<unsigned char>(c))) ++letters;
  return letters < 3;
}

// The few lines just before the first line naming `address` (where some systems put the reason).
std::string TextBefore(const std::vector<std::string>& lines, std::string_view address) {
  std::size_t at = 0;
  while (at < lines.size() && !IContains(lines[at], address)) ++at;
  std::string out;
  for (std::size_t i = at > 8 ? at - 8 : 0; i < at && out.size() < kMaxDiagnostic; ++i) {
    out += lines[i];
    out += '\n';
  }
  return out;
}

std::string Shorten(std::string s) {
  s = CollapseSpace(s);
  if (s.size() > kMaxDiagnostic) s.resize(kMaxDiagnostic);
  return s;
}

// Removes the recipient-list framing a system puts around its reason ("<addr>:", "Recipient: <addr>").
std::string DiagnosticFrom(std::string_view segment) { return Shorten(std::string(segment)); }

// Japanese systems write RFC 3464 fields in raw ISO-2022-JP (ESC $ B ... ESC ( B).
std::string DecodeJis(const std::string& s) {
  if (s.find("\x1b$B") == std::string::npos && s.find("\x1b$@") == std::string::npos) return s;
  return mime::ToUtf8(s, "iso-2022-jp").value_or(s);
}

// PowerMTA classifies every bounce itself (X-PowerMTA-BounceCategory); its categories map onto ours.
std::string ReasonFromPowerMtaCategory(std::string_view category) {
  static const std::initializer_list<std::pair<std::string_view, std::string_view>> kCategories = {
      {"bad-mailbox", "userunknown"}, {"bad-domain", "hostunknown"}, {"inactive-mailbox", "suspend"},
      {"quota-issues", "mailboxfull"}, {"spam-related", "spamdetected"}, {"policy-related", "policyviolation"},
      {"message-expired", "expired"}, {"no-answer-from-host", "networkerror"}, {"bad-connection", "networkerror"},
      {"routing-errors", "networkerror"}, {"content-related", "contenterror"}, {"relaying-issues", "norelaying"},
      {"invalid-sender", "rejected"}, {"virus-related", "virusdetected"}, {"bad-configuration", "systemerror"},
      {"protocol-errors", "syntaxerror"}, {"message-too-large", "mesgtoobig"},
  };
  for (const auto& [name, reason] : kCategories)
    if (category == name) return std::string(reason);
  return "";
}

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
      return;
    }
}

// ---- kinds of message ---------------------------------------------------------------------------

bool FromDaemon(const mime::Headers& h) {
  std::string from = Lower(h.Get("From").value_or(""));
  for (std::string_view s : {"mailer-daemon", "mailer_daemon", "postmaster", "post_master", "mail delivery",
                             "maildaemon", "mail-daemon", "mdaemon", "mail administrator", "delivery subsystem"})
    if (from.find(s) != std::string::npos) return true;
  return false;
}

bool BounceSubject(std::string_view subject) {
  std::string s = Lower(subject);
  for (std::string_view w :
       {"undeliver", "undelivered", "delivery status notification", "returned mail", "failure notice",
        "delivery failure", "delivery failed", "mail delivery failed", "non recapitabile", "delivery notification",
        "could not be delivered", "mail system error", "permanent delivery failure", "failed delivery",
        "delivery problem", "returned to sender", "nondeliverable", "non-deliverable", "rejected:", "bounce",
        "delayed mail", "delivery delayed", "warning: could not send", "warning: message", "delivery report",
        "mail failure", "error sending", "there was an error sending", "notice: mail delivery status",
        "loop alert", "mail could not be delivered"})
    if (s.find(w) != std::string::npos) return true;
  return false;
}

bool BounceText(std::string_view text) {
  std::string t = Lower(text.substr(0, 16 * 1024));
  for (std::string_view w :
       {"could not be delivered", "couldn't be delivered", "undeliverable", "delivery has failed",
        "failed permanently", "unable to deliver", "was not delivered", "could not deliver",
        "delivery to the following recipient", "permanent error", "error delivering", "did not reach",
        "wasn't able to deliver", "not able to deliver", "following address(es) failed", "delivery failed",
        "permanent fatal errors", "transcript of session", "delivery status notification", "has been delayed",
        "could not be sent", "rejected by a remote", "returned mail", "failed to deliver", "mail delivery failed",
        "delivery attempts will continue", "failure reasons", "the following recipients", "message log follows",
        "failed addresses follow", "trouble delivering", "this is the mail system", "mailer-daemon",
        "error occurred while trying to deliver", "not be delivered"})
    if (t.find(w) != std::string::npos) return true;
  return false;
}

bool AutoReplyHeaders(const mime::Headers& h) {
  std::string as = Lower(h.Get("Auto-Submitted").value_or(""));
  if (as.rfind("auto-replied", 0) == 0) return true;
  if (h.Get("X-Autoreply") || h.Get("X-Autorespond") || h.Get("X-Autoresponder")) return true;
  std::string prec = Lower(h.Get("Precedence").value_or(""));
  if (prec == "auto_reply" || prec == "auto-reply") return true;
  std::string gen = Lower(h.Get("X-Autogenerated").value_or(""));
  if (gen == "reply") return true;
  return false;
}

bool AutoReplySubject(std::string_view subject) {
  std::string s = Lower(subject);
  for (std::string_view w :
       {"auto:", "automatic reply", "auto-reply", "autoreply", "auto reply", "automatische antwort",
        "out of office", "out of the office", "abwesenheitsnotiz", "abwesend", "réponse automatique",
        "respuesta automática", "risposta automatica", "automatisch antwoord", "autosvar", "automaattinen vastaus",
        "自動返信", "自动回复", "vacation", "away from the office", "on vacation", "on leave"})
    if (s.find(w) != std::string::npos) return true;
  return false;
}

bool AutoReplyBody(std::string_view text) {
  std::string t = Lower(text.substr(0, 4096));
  for (std::string_view w : {"i am away", "i am out of the office", "i'm out of the office", "out of office",
                             "out of the office", "i will be out", "i am on vacation", "i'm on vacation",
                             "away on vacation", "on annual leave", "limited access to email", "i will be traveling",
                             "i am currently away", "i'm currently away"})
    if (t.find(w) != std::string::npos) return true;
  return false;
}

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

// ---- putting a recipient together -----------------------------------------------------------------

// Amazon SES writes "5.1.0 - Unknown address error 550-'5.7.1 ... Access denied'": its own category
// first, the remote server's reply quoted. The quoted reply is the evidence.
std::string UnwrapSesReply(const std::string& d) {
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

bool Finish(Recipient& r, std::string_view extra_text, std::string_view diagnostic_type) {
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
  Classification c = Classify(ctx);
  r.reason = c.reason;
  r.hard = c.hard;
  return c.definite;
}

std::string LowerDomain(std::string address) {
  if (auto at = address.rfind('@'); at != std::string::npos)
    for (std::size_t i = at + 1; i < address.size(); ++i)
      address[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(address[i])));
  return address;
}

}  // namespace

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

// ---- Amazon SES notifications (JSON, usually inside an SNS envelope) --------------------------------

// The string value of "key" in a JSON object text; "" when absent. Escapes other than \" and \\ are
// kept as written (these values are addresses, codes and short texts).
std::string JsonString(std::string_view obj, std::string_view key) {
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
std::vector<std::string_view> JsonObjects(std::string_view text, std::string_view key) {
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
    if (report.kind != ReportKind::kComplaint) {
      bool failed = std::any_of(report.recipients.begin(), report.recipients.end(),
                                [](const Recipient& r) { return r.reason != "delivered" && r.action != "delayed"; });
      bool delayed = std::any_of(report.recipients.begin(), report.recipients.end(),
                                 [](const Recipient& r) { return r.action == "delayed"; });
      report.kind = failed ? ReportKind::kBounce : delayed ? ReportKind::kDelayNotice : ReportKind::kNotBounce;
    }
    return report;
  }

  Notification note = CutNotification(parts.notification);
  if (!HasOriginal(report.original)) FillOriginal(QuotedHeaders(note.original), report.original);

  // Addresses that are the sender's, never a failed recipient.
  std::vector<std::string> senders;
  for (std::string_view field : {"To", "Delivered-To", "X-Original-To", "Envelope-To"})
    for (std::string_view v : top.GetAll(field))
      for (const FoundAddress& f : FindAddresses(v)) senders.push_back(f.address);
  for (const std::string& s : {report.original.from, report.original.return_path})
    for (const FoundAddress& f : FindAddresses(s)) senders.push_back(f.address);

  // The RFC 3464 part, or DSN fields written into the text (forwarded or damaged reports).
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
  std::vector<std::string> order;
  std::vector<Segment> segments = SegmentByRecipient(note.lines, senders, order);
  std::string whole_note;
  for (const std::string& l : note.lines) whole_note += l + "\n";

  // Wording alone ("could not be delivered") also occurs in ordinary mail: without a report part, a daemon
  // sender, a bounce subject or X-Failed-Recipients, it counts only with a recipient address and an SMTP
  // code or a definite cause.
  const bool strong = !dsn.recipients.empty() || FromDaemon(top) || BounceSubject(report.subject) ||
                      top.Get("X-Failed-Recipients").has_value();
  const bool bounce_like =
      strong || (BounceText(whole_note) && !order.empty() &&
                 (FindReplyCode(whole_note) != 0 || !FindEnhancedStatus(whole_note).empty() ||
                  ClassifyReply(0, "", whole_note.substr(0, kMaxDiagnostic * 4)).definite));
  if (!bounce_like || (dsn.recipients.empty() && AutoReplyHeaders(top) && !FromDaemon(top) &&
                       !BounceSubject(report.subject) && !BounceText(whole_note))) {
    if (AutoReplyHeaders(top) || AutoReplySubject(report.subject) || AutoReplyBody(whole_note)) {
      report.kind = ReportKind::kAutoReply;
      Recipient r;
      r.address = LowerDomain(AddressFromField(top.Get("From").value_or("")));
      r.reason = "vacation";
      r.diagnostic = Shorten(whole_note.substr(0, 512));
      report.recipients.push_back(std::move(r));
    }
    return report;
  }

  if (!dsn.recipients.empty()) {
    for (const DsnRecipient& d : dsn.recipients) {
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
      if (r.remote_mta.empty()) r.remote_mta = RemoteHostIn(seg);
      // The report's own fields first; when they say nothing definite, the human-readable part (all of it
      // when there is one recipient and no Diagnostic-Code: some systems write the reason above the
      // recipient list). A bare "X.0.0" without a Diagnostic-Code says nothing at all.
      Recipient first = r;
      const std::string reported_status = r.status;
      if (r.diagnostic.empty() && reported_status.size() >= 5 && reported_status.substr(1) == ".0.0") first.status.clear();
      bool definite = Finish(first, {}, d.diagnostic_type);
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
          if (!Finish(r, same ? std::string_view() : std::string_view(words), d.diagnostic_type)) r = first;
          r.status = reported_status.empty() ? r.status : reported_status;
        } else {
          r = first;
        }
      } else {
        r = first;
      }
      if (ses_receiving) ApplySesReceivingTemplate(r);
      if (std::string by_category = ReasonFromPowerMtaCategory(d.category); !by_category.empty()) {
        r.reason = by_category;
        r.hard = IsHardBounce(r.reason, r.status);
      }
      report.recipients.push_back(std::move(r));
    }
  } else {
    // A non-standard bounce: recipients are the addresses its text names.
    std::vector<std::string> rcpts = order;
    const std::string lower_note = Lower(whole_note);
    if (rcpts.empty()) {
      if (auto xf = top.Get("X-Failed-Recipients"))
        for (const FoundAddress& f : FindAddresses(*xf, true)) rcpts.push_back(f.address);
    }
    if (rcpts.empty() && !report.original.to.empty()) {
      auto found = FindAddresses(report.original.to, true);
      if (!found.empty()) rcpts.push_back(found.front().address);
    }
    if (rcpts.empty()) rcpts.push_back("");
    for (const std::string& a : rcpts) {
      Recipient r;
      r.address = LowerDomain(a);
      r.reporting_mta = report.reporting_mta;
      std::string seg = a.empty() ? "" : SegmentFor(segments, a);
      if (!seg.empty() && SaysLittle(seg, a)) seg = SegmentFor(segments, a, true);
      std::string words = seg;
      if (words.empty() || SaysLittle(words, a)) {
        // The reason is written before the address, or nowhere near it.
        std::string before = a.empty() ? whole_note : TextBefore(note.lines, a);
        words = rcpts.size() == 1 ? whole_note : before + "\n" + seg;
      }
      r.diagnostic = DiagnosticFrom(words);
      r.smtp_command = CommandIn(words);
      if (r.smtp_command.empty() && rcpts.size() == 1) r.smtp_command = CommandIn(whole_note);
      r.remote_mta = RemoteHostIn(words);
      bool delayed = lower_note.find("delivery attempts will continue") != std::string::npos ||
                     lower_note.find("this is only a temporary failure") != std::string::npos ||
                     lower_note.find("warning message only") != std::string::npos ||
                     lower_note.find("this is a warning only") != std::string::npos ||
                     lower_note.find("has not yet been delivered") != std::string::npos ||
                     lower_note.find("will be retried") != std::string::npos ||
                     lower_note.find("has been delayed") != std::string::npos;
      r.action = delayed ? "delayed" : "failed";
      if (!Finish(r, {}, "") && words != whole_note) {
        // The recipient's own lines name no cause; the rest of the notification may.
        Recipient retry = r;
        if (Finish(retry, rcpts.size() == 1 ? std::string_view(whole_note) : std::string_view(), "")) r = retry;
      }
      report.recipients.push_back(std::move(r));
    }
  }

  bool any_failed = false, any_delayed = false;
  for (const Recipient& r : report.recipients) {
    if (r.reason == "delivered") continue;
    if (r.action == "delayed") any_delayed = true;
    else any_failed = true;
  }
  report.kind = any_failed ? ReportKind::kBounce : any_delayed ? ReportKind::kDelayNotice : ReportKind::kNotBounce;
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
