// writer_tables.cpp - step a00 of Classify: causes in the words only one bounce writer uses, and the
// complaints of local delivery agents. A writer is known by its own header fields (WriterOf, signs.cpp);
// what it writes under its own name is strong evidence, as sisimai's per-MTA modules read it:
//  - McAfee Email Gateway / Web Security appliances ("User not exist", "Unknown user", "No such user"),
//  - Symantec Email Security.cloud, formerly MessageLabs ("No such user"; "Please turn on SMTP
//    Authentication in your mail client"),
//  - Trend Micro InterScan MSS ("Unable to deliver message to <x>": its notice that the recipient's
//    server refused the address),
//  - Gmail's notices end the remote reply with the state of Gmail's SMTP client when it failed, "(state
//    14)": 13 refused at EHLO (the client: blocked), 14 at RCPT (no such user), 15, 17, 18 after DATA (the
//    recipient side's filter); a specific status in the same reply (not X.Y.0) says more and wins,
//  - au (KDDI, EZweb) reports carrying "X-SPASIGN: NG": the recipient's own spam filter refused the mail,
//  - Exim and qmail name the command their client was refused at; refused at EHLO/HELO ("SMTP error from
//    remote mail server after EHLO", "Connected to X but my name was rejected"), the client itself was
//    refused whatever the words add (blocked),
//  - AOL's own mail system (Postfix-based): an MX lookup answered with a malformed reply means the
//    domain's name servers do not route mail to it (notaccept).
// A local delivery agent speaks for the mailbox itself, so its "unknown user" stands even when the
// report names no SMTP command: BSD mail.local ("mail.local: unknown user: bob"), Dovecot's LDA
// ("mailbox doesn't exist"), vpopmail's vdelivermail ("user does not exist, but will deliver to" a
// catch-all: the message was filtered there, not refused).
// SECURITY: the text comes from remote servers; it is only searched, never interpreted.
#include "bounce/classify_steps.hpp"

namespace kurier::bounce::steps {

namespace {

bool Has(std::string_view t, std::string_view s) { return t.find(s) != std::string_view::npos; }

Verdict Writer(std::string_view writer, std::string_view words, std::string_view reason) {
  return {std::string(reason), "writer " + std::string(writer) + " '" + std::string(words) + "'"};
}

}  // namespace

Verdict WriterTable(const Evidence& e) {
  const std::string_view t = e.text;
  const std::string& w = e.writer;
  if (w == "mcafee" || w == "messagelabs") {
    for (std::string_view words : {"no such user", "user not exist", "unknown user", "user unknown"})
      if (Has(t, words)) return Writer(w, words, "userunknown");
    if (Has(t, "turn on smtp authentication")) return Writer(w, "turn on smtp authentication", "securityerror");
  }
  if (w == "gmail") {
    static constexpr std::pair<std::string_view, std::string_view> kStates[] = {
        {"(state 13)", "blocked"}, {"(state 14)", "userunknown"}, {"(state 15)", "filtered"},
        {"(state 17)", "filtered"}, {"(state 18)", "filtered"},
    };
    for (const auto& [state, reason] : kStates) {
      if (!Has(t, state)) continue;
      if (e.code.valid() && e.code.detail != 0) {
        std::string by_status = StatusMeaning(e).reason;
        if (by_status.empty() && e.code.subject == 7) by_status = "securityerror";
        if (by_status.empty() && e.code.subject == 6) by_status = "contenterror";
        if (!by_status.empty()) return {by_status, "writer gmail " + std::string(state) + " under status " + e.status};
      }
      return Writer(w, state, reason);
    }
  }
  if (w == "au-spasign") return {"filtered", "writer au X-SPASIGN: NG (the recipient's spam filter)"};
  if ((e.command == "EHLO" || e.command == "HELO") &&
      (Has(t, "smtp error from remote mail server after") || Has(t, "but my name was rejected")))
    return {"blocked", "refused at " + e.command + " by Exim's or qmail's client: the client was refused"};
  if (w == "aol" && Has(t, "type=mx: malformed or unexpected name server reply"))
    return Writer(w, "type=mx: malformed or unexpected name server reply", "notaccept");
  if (w == "interscan" && Has(t, "unable to deliver message to"))
    return Writer(w, "unable to deliver message to", "userunknown");
  // Local delivery agents: only when no SMTP command refused the recipient (they run after DATA).
  if (e.command.empty() || e.command == "DATA") {
    if (Has(t, "mail.local: unknown user") || Has(t, "mail.local: user unknown"))
      return {"userunknown", "local delivery agent mail.local: unknown user"};
    if (Has(t, "mailbox doesn't exist:")) return {"userunknown", "local delivery agent dovecot: mailbox doesn't exist"};
    if (Has(t, "user does not exist, but will deliver to"))
      return {"filtered", "local delivery agent vpopmail: delivered to a catch-all instead"};
  }
  return {};
}

}  // namespace kurier::bounce::steps
