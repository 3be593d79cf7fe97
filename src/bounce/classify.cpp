// classify.cpp - reason and hard/soft classification of failed deliveries: Classify, the order of its
// steps (classify_steps.hpp) and the guard that keeps a hard bounce for strong evidence.
// SECURITY: the text classified comes from remote servers; it is only searched (bounded by its length,
// which callers cap), never interpreted. All tables are static.
// STANDARDS: RFC 3463 and RFC 5248 (enhanced status codes), RFC 5321 4.2 (reply codes: 4yz transient,
// 5yz permanent), RFC 3464 (Action, Diagnostic-Code), RFC 7505 (null MX).
//
// How a reason is chosen, strong and specific evidence first (each step in its own function and file):
//  1. a 2.X.X status, a 2yz reply or Action: delivered/relayed/expanded -> delivered;
//  2. (a) what the bounce's writer says under its own name and local delivery agents' complaints
//     (writer_tables.cpp), the replies the provider that answered documents (provider_replies.cpp, by
//     host name), a provider's documented code or name (vendor_codes.cpp);
//  3. a local delivery program's failure (diagnostic type X-Unix) -> mailererror unless it says more;
//  4. (d) phrase families that name a cause more precisely than a status code can (phrase_families.cpp):
//     "mailbox is full" under 5.1.1, "blocked using a DNSBL" under 5.1.1, ...; "no such user" words count
//     as a missing mailbox only at RCPT or under X.1.1, otherwise as the recipient side's filter;
//  5. (b) a specific RFC 3463 status code (status_codes.cpp);
//  6. (d') weak phrase families: time-outs, "system error", network words;
//  7. (c) the status class, the diagnostic type, a 50x syntax reply, Action: delayed, the SMTP command
//     that failed, and finally onhold/undefined.
// The result then passes HardOnlyOnStrongEvidence: a reason that suppresses the address for good
// (userunknown, hostunknown) stands only when nothing else in the evidence contradicts it.
// The vocabulary, the hard/soft rule and the precedence follow sisimai (https://libsisimai.org/en/reason/).
#include "bounce/classify.hpp"

#include <algorithm>
#include <cctype>

#include "bounce/classify_steps.hpp"

namespace kurier::bounce {

using steps::Evidence;
using steps::ParseStatus;
using steps::StatusCode;
using steps::Verdict;

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string UpperAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string NormalizeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == ' ' || u == '\t' || u == '\r' || u == '\n' || u == '\f' || u == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(u));
  }
  // A multi-line reply repeats its code on every line ("550-5.7.1 ... 550-5.7.1 ... 550 5.7.1 ..."): keep
  // the first and drop the repetitions, so that a phrase broken across lines reads whole again.
  std::size_t first = std::string::npos;
  for (std::size_t i = 0; i + 4 <= out.size(); ++i) {
    bool at_word = i == 0 || out[i - 1] == ' ';
    if (at_word && IsDigit(out[i]) && IsDigit(out[i + 1]) && IsDigit(out[i + 2]) && (out[i] == '4' || out[i] == '5') &&
        (out[i + 3] == '-' || out[i + 3] == ' ') && (i + 4 == out.size() || !IsDigit(out[i + 4]) || ParseStatus(std::string_view(out).substr(i + 4)).valid())) {
      first = i;
      break;
    }
  }
  if (first == std::string::npos) return out;
  const std::string code = out.substr(first, 3);
  std::string status;
  if (ParseStatus(std::string_view(out).substr(first + 4)).valid()) {
    std::size_t e = first + 4;
    while (e < out.size() && out[e] != ' ') ++e;
    status = out.substr(first + 4, e - first - 4);
  }
  std::string cleaned = out.substr(0, first + 4);
  for (std::size_t i = first + 4; i < out.size();) {
    bool at_word = out[i - 1] == ' ';
    if (at_word && out.compare(i, 3, code) == 0 && i + 3 < out.size() && (out[i + 3] == '-' || out[i + 3] == ' ')) {
      std::size_t j = i + 4;
      bool had_status = !status.empty() && out.compare(j, status.size(), status) == 0 &&
                        (j + status.size() == out.size() || out[j + status.size()] == ' ');
      if (had_status) j += status.size();
      if (had_status || out[i + 3] == '-') {
        while (j < out.size() && out[j] == ' ') ++j;
        i = j;
        continue;
      }
    }
    cleaned += out[i++];
  }
  return cleaned;
}

std::string FindEnhancedStatus(std::string_view text) {
  std::string first;
  for (std::size_t i = 0; i + 5 <= text.size(); ++i) {
    char c = text[i];
    if (c != '2' && c != '4' && c != '5') continue;
    if (i > 0 && (IsDigit(text[i - 1]) || text[i - 1] == '.')) continue;
    StatusCode sc = ParseStatus(text.substr(i));
    if (!sc.valid()) continue;
    std::size_t end = i;
    while (end < text.size() && (IsDigit(text[end]) || text[end] == '.')) ++end;
    std::string_view code = text.substr(i, end - i);
    if (code.back() == '.') code.remove_suffix(1);
    // Reject dotted numbers that are part of something longer (IP addresses, versions).
    if (std::count(code.begin(), code.end(), '.') != 2) continue;
    if (end < text.size() && (std::isalpha(static_cast<unsigned char>(text[end])) || text[end] == '-')) continue;
    if (sc.cls == 2 && !(sc.subject <= 7 && sc.detail <= 7)) continue;
    // "550 5.1.1", "550-5.1.1", "550-'5.1.1", "(#5.1.1)", "#5.1.1"
    std::size_t j = i;
    while (j > 0 && (text[j - 1] == '\'' || text[j - 1] == '#' || text[j - 1] == '(')) --j;
    bool after_code = j >= 4 && (text[j - 1] == ' ' || text[j - 1] == '-') && IsDigit(text[j - 2]) &&
                      IsDigit(text[j - 3]) && IsDigit(text[j - 4]) && (j == 4 || !IsDigit(text[j - 5]));
    bool hashed = i > 0 && text[i - 1] == '#';
    if (after_code || hashed) return std::string(code);
    if (first.empty()) first = code;
    i = end;
  }
  return first;
}

int FindReplyCode(std::string_view text) {
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
    if (!IsDigit(text[i]) || !IsDigit(text[i + 1]) || !IsDigit(text[i + 2])) continue;
    bool starts = i == 0 || !(IsDigit(text[i - 1]) || text[i - 1] == '.' || std::isalpha(static_cast<unsigned char>(text[i - 1])) ||
                              text[i - 1] == '-' || text[i - 1] == '_' || text[i - 1] == '#' || text[i - 1] == '/' ||
                              text[i - 1] == '=' || text[i - 1] == ':' || text[i - 1] == '[');
    bool ends = i + 3 == text.size() || !(IsDigit(text[i + 3]) || text[i + 3] == '.' ||
                                          std::isalpha(static_cast<unsigned char>(text[i + 3])) || text[i + 3] == '_' ||
                                          text[i + 3] == '/' || text[i + 3] == ']' || text[i + 3] == '@');
    if (!starts || !ends) {
      while (i < text.size() && (IsDigit(text[i]) || text[i] == '.')) ++i;
      continue;
    }
    int code = (text[i] - '0') * 100 + (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
    bool valid = (code >= 421 && code <= 459) || (code >= 500 && code <= 559) || (code >= 250 && code <= 253);
    if (valid) return code;
    i += 2;
  }
  return 0;
}

bool IsHardBounce(std::string_view reason, std::string_view status_or_text) {
  if (reason == "userunknown" || reason == "hostunknown" || reason == "hasmoved") return true;
  if (reason != "notaccept") return false;
  // notaccept: hard unless the code or the wording says the failure is temporary.
  std::string lower = NormalizeText(status_or_text);
  StatusCode sc = ParseStatus(FindEnhancedStatus(lower));
  int cls = sc.valid() ? sc.cls : FindReplyCode(lower) / 100;
  if (cls == 5) return true;
  if (cls == 4) return false;
  return lower.find(" temporar") == std::string::npos && lower.find(" persistent") == std::string::npos;
}

namespace steps {

bool Evidence::BeforeData() const {
  return command == "CONN" || command == "EHLO" || command == "HELO" || command == "MAIL" || command == "RCPT";
}

Evidence MakeEvidence(const ReplyContext& ctx) {
  Evidence e;
  e.text = NormalizeText(ctx.text.substr(0, 64 * 1024));
  e.status = std::string(ctx.status);
  if (!ParseStatus(e.status).valid()) e.status = FindEnhancedStatus(e.text);
  e.code = ParseStatus(e.status);
  e.reply = ctx.reply_code != 0 ? ctx.reply_code : FindReplyCode(e.text);
  e.command = UpperAscii(ctx.command);
  e.action = NormalizeText(ctx.action);
  e.dtype = NormalizeText(ctx.diagnostic_type);
  e.provider = ProviderOf(ctx.hosts.substr(0, 1024), e.text);
  e.writer = std::string(ctx.writer.substr(0, 64));
  return e;
}

// Step c, with the other fallbacks that say only which kind of failure it was.
Verdict CommandHint(const Evidence& e) {
  const StatusCode& c = e.code;
  // The status class first (sisimai reads a X.7 at connection time as securityerror, not blocked), then
  // the command: refused before the client said who it is, the client itself was refused (its address,
  // its name); refused at MAIL FROM, the sender was.
  if (c.valid() && c.subject == 6) return {"contenterror", "fallback: status class X.6 content (RFC 3463)"};
  if (c.valid() && c.subject == 7) return {"securityerror", "fallback: status class X.7 security or policy (RFC 3463)"};
  // (Postfix writes "X-Postfix;" for its own SMTP client's findings: an SMTP diagnostic, not a local program.)
  if (e.dtype == "x-unix") return {"mailererror", "fallback: diagnostic type " + e.dtype + " (RFC 3464)"};
  if (e.reply >= 500 && e.reply <= 507)
    return {"syntaxerror", "fallback: reply " + std::to_string(e.reply) + " syntax or sequence (RFC 5321 4.2.2)"};
  if (e.action.rfind("delayed", 0) == 0 || e.action.rfind("expired", 0) == 0)
    return {"expired", "fallback: action " + e.action + " (RFC 3464)"};
  if (e.command == "CONN" || e.command == "EHLO" || e.command == "HELO")
    return {"blocked", "fallback: refused at " + e.command + " (the client was refused)"};
  if (e.command == "MAIL") return {"rejected", "fallback: refused at MAIL FROM (the sender was refused)"};
  if (!e.text.empty() || c.valid() || e.reply != 0) return {"onhold", "fallback: nothing decisive"};
  return {"undefined", "nothing to classify: no text, status or reply code"};
}

// A reason that suppresses the address stands only on strong evidence (issue 15): when the same failure
// also shows a temporary class, a policy status, a refusal of the client, or words of another cause, the
// address may well exist, so the failure is counted as soft with the reason those signs give.
Verdict HardOnlyOnStrongEvidence(Verdict v, const Evidence& e) {
  if (v.reason != "userunknown" && v.reason != "hostunknown") return v;
  const std::string_view t = e.text;
  auto soft = [&](std::string reason, std::string why) {
    return Verdict{std::move(reason), "guard: " + why + " (was " + v.reason + ", " + v.rule + ")"};
  };
  const bool vendor = v.rule.rfind("vendor ", 0) == 0;
  if (v.reason == "hostunknown") {
    // Only a domain that does not exist is hard; a lookup that timed out or failed is a network problem.
    if (Says("networkerror", t) && !Says("domainmissing", t))
      return soft("networkerror", "network or name-service failure, not a missing domain");
    // A temporary reply is a lookup that may yet succeed, unless its own status says the destination
    // system does not exist (qmail's "couldn't find any host by that name (#4.1.2)").
    const bool code_says_host = e.code.valid() && e.code.subject == 1 && e.code.detail == 2;
    if (e.Temporary() && !code_says_host) return soft("networkerror", "temporary class (RFC 5321 4.2.1)");
    return v;
  }
  if (e.command == "CONN" || e.command == "EHLO" || e.command == "HELO")
    return soft("blocked", "refused at " + e.command + ", before any recipient was named");
  if (e.command == "MAIL") return soft("rejected", "refused at MAIL FROM: the sender, not the recipient");
  const bool code_says_user = e.code.valid() && e.code.subject == 1 && (e.code.detail == 1 || e.code.detail == 3);
  if (e.Temporary() && !code_says_user) return soft("onhold", "user-unknown words under a temporary (4xx) reply");
  // A policy status (X.7) with "no such user" words: a refusal at RCPT names the recipient (sisimai reads
  // it so); anywhere else it is the recipient side's filter refusing this sender.
  if (!vendor && e.code.valid() && e.code.subject == 7 && e.command != "RCPT")
    return soft("filtered", "status " + e.status + " is a policy code (RFC 3463 X.7)");
  return v;
}

}  // namespace steps


Classification ClassifyReply(int reply_code, std::string_view enhanced_status, std::string_view text,
                             std::string_view command, std::string_view hosts) {
  ReplyContext context;
  context.hosts = hosts;
  context.reply_code = reply_code;
  context.status = enhanced_status;
  context.text = text;
  context.command = command;
  return Classify(context);
}

Classification Classify(const ReplyContext& ctx) {
  using namespace steps;
  const Evidence e = MakeEvidence(ctx);
  bool definite = true;
  auto done = [&](Verdict v) {
    v = HardOnlyOnStrongEvidence(std::move(v), e);
    Classification c;
    c.reason = v.reason.empty() ? "undefined" : v.reason;
    c.rule = v.rule;
    c.definite = definite;
    // Hard/soft evidence: a specific status code, else the reply code, else a generic status; with no code
    // at all, notaccept counts as permanent (sisimai does the same).
    std::string evidence;
    if (e.code.valid() && !(e.code.subject == 0 && e.code.detail == 0)) evidence = e.status;
    else if (e.reply != 0) evidence = std::to_string(e.reply);
    else evidence = e.status;
    c.hard = IsHardBounce(c.reason, evidence);
    return c;
  };

  if (e.code.valid() && e.code.cls == 2) return done({"delivered", "status " + e.status + " success (RFC 3463)"});
  if (!e.code.valid() && e.reply >= 200 && e.reply < 300)
    return done({"delivered", "reply " + std::to_string(e.reply) + " (RFC 5321)"});
  if (e.action == "delivered" || e.action == "relayed" || e.action == "expanded")
    return done({"delivered", "action " + e.action + " (RFC 3464)"});

  if (Verdict v = VendorCode(e)) return done(v);

  const Verdict by_status = StatusMeaning(e);
  // A local delivery program failed (RFC 3464 diagnostic type X-Unix): its exit text rarely names a cause
  // beyond a full disk, and "no such user" there is the program's own complaint, not the recipient's.
  if (e.dtype == "x-unix") {
    if (Verdict v = PhraseFamily(e); v.reason == "mailboxfull") return done(v);
    if (by_status && by_status.reason != "userunknown") return done(by_status);
    return done({"mailererror", "diagnostic type x-unix: a local delivery program failed (RFC 3464)"});
  }
  if (Verdict v = PhraseFamily(e)) return done(v);
  if (by_status) return done(by_status);
  if (Verdict v = WeakPhraseFamily(e)) return done(v);
  definite = false;
  return done(CommandHint(e));
}

}  // namespace kurier::bounce
