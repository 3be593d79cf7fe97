// mta_text.cpp - non-standard bounces (qmail, Exim, old Sendmail, Postfix without DSN, Exchange, Notes,
// IMail, Courier, webmail providers, ...), read by general signs rather than per product: the
// human-readable text is cut where the returned message starts, split into one segment per recipient
// address mentioned in it, and each segment is searched for the SMTP command that failed and the remote
// host. Also the RFC 3464 helpers for text (ISO-2022-JP, PowerMTA's bounce categories).
// SECURITY: every scan is linear in its input or works on bounded slices (see report.cpp).
// STANDARDS: RFC 5321 (commands and replies as quoted), RFC 3463 (status codes).
#include "bounce/report_parts.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "bounce/classify.hpp"
#include "common/encoding.hpp"
#include "mime/parse.hpp"

namespace kurier::bounce::internal {

// ---- the human-readable notification ------------------------------------------------------------

// Where the returned message (or its headers) starts inside a text notification: a line of its own that
// begins with one of these phrases once framing ("-----", "|", "*", "=") is stripped.
static bool IsOriginalMarker(std::string_view line) {
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

static bool LooksLikeHeaderLine(std::string_view line) {
  static const std::initializer_list<std::string_view> kNames = {
      "received:", "return-path:", "dkim-signature:", "message-id:", "x-received:", "mime-version:",
      "authentication-results:", "arc-seal:", "delivered-to:", "x-google-smtp-source:",
  };
  std::string l = Lower(line.substr(0, 40));
  for (std::string_view n : kNames)
    if (l.rfind(n, 0) == 0) return true;
  return false;
}

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

// An SMTP command written as such, in capitals ("RCPT TO:<bob@example.org>", "MAIL FROM", "DATA"), as MTAs
// quote the command a reply answered (RFC 5321 4.1.1 names them in capitals). The word must stand alone
// ("DATABASE", "EMAIL" do not count). When several appear, the latest in the order of a session is the
// one that failed: a transaction that got as far as DATA passed RCPT.
std::string CommandWordIn(std::string_view text) {
  static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
      {"HELO", "HELO"}, {"EHLO", "EHLO"}, {"MAIL FROM", "MAIL"}, {"RCPT", "RCPT"}, {"DATA", "DATA"},
  };
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '@'; };
  std::string_view found;
  for (const auto& [word, command] : kWords) {
    for (std::size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
      const std::size_t end = at + word.size();
      // ("HELO=name" in a log line is a field, not the command.)
      if ((at > 0 && word_char(text[at - 1])) || (end < text.size() && (word_char(text[end]) || text[end] == '=')))
        continue;
      found = command;
      break;
    }
  }
  return std::string(found);
}

std::string WriterCommand(std::string_view writer, std::string_view diagnostic) {
  // Yahoo's reports quote the remote reply that refused "<address>" only when a recipient was refused.
  if (writer == "yahoo") {
    std::size_t lt = diagnostic.find('<');
    if (lt != std::string_view::npos) {
      std::size_t at = diagnostic.find('@', lt), gt = diagnostic.find('>', lt);
      if (at != std::string_view::npos && gt != std::string_view::npos && at < gt) return "RCPT";
    }
  }
  return "";
}

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
      // qmail-remote: "Connected to X but greeting failed." / "... but my name was rejected." / "... but sender
      // was rejected."; Postfix: "host X refused to talk to me" (the greeting or HELO).
      {"but greeting failed", "CONN"}, {"but my name was rejected", "EHLO"}, {"but sender was rejected", "MAIL"},
      {"refused to talk to me", "HELO"},
      // Exchange Online: the remote server refused the address itself.
      {"returned unknown recipient or mailbox unavailable", "RCPT"},
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

static bool IsDaemonAddress(std::string_view address) {
  std::string local = Lower(address.substr(0, address.find('@')));
  return local == "mailer-daemon" || local == "mailer_daemon" || local == "maildaemon" || local == "mail-daemon";
}

// Lines where an address is mentioned without being a recipient of the failed delivery.
static bool IsIncidentalMention(std::string_view line, std::size_t at) {
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

// A line that ends the current recipient's words: framing ("----- Transcript of session follows -----"),
// a Sendmail transcript's "While talking to host:", or its per-host lines ("550 host (smtp)... text").
static bool BreaksSegment(std::string_view line) {
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
std::string SegmentFor(const std::vector<Segment>& segments, std::string_view address, bool all) {
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

// PowerMTA classifies every bounce itself (X-PowerMTA-BounceCategory, "Bounce categories" in the PowerMTA
// user's guide). Categories that name the cause exactly decide (`*decisive` true); the broad ones (a bad
// mailbox or domain, an expired message, a host that did not answer, a routing error) unless the reply
// itself names a narrower cause (a full mailbox, a size limit, a suspended account, ...); the rest
// (bad-connection, content-related, other, ...) leave it to the reply.
std::string ReasonFromPowerMtaCategory(std::string_view category, bool* decisive) {
  static const std::initializer_list<std::tuple<std::string_view, std::string_view, bool>> kCategories = {
      {"quota-issues", "mailboxfull", true},     {"spam-related", "spamdetected", true},
      {"policy-related", "policyviolation", true}, {"inactive-mailbox", "suspend", true},
      {"bad-mailbox", "userunknown", false},     {"bad-domain", "hostunknown", false},
      {"message-expired", "expired", false},     {"no-answer-from-host", "networkerror", false},
      {"routing-errors", "systemerror", false},
  };
  for (const auto& [name, reason, strong] : kCategories)
    if (category == name) {
      if (decisive) *decisive = strong;
      return std::string(reason);
    }
  return "";
}

}  // namespace kurier::bounce::internal
