// replies.cpp - the reply table.
// STANDARDS: RFC 5321 4.2 (reply codes), RFC 3463 (enhanced status codes), RFC 4954 6 (AUTH codes),
// RFC 3207 (STARTTLS), RFC 1870 (SIZE), RFC 6531 3.7.4 (553 5.6.7), RFC 3030 (BDAT).
#include "smtp/proto/replies.hpp"

namespace kurier::smtp::proto {

namespace {
struct Row {
  ReplyId id;
  ReplyInfo info;
};
constexpr Row kReplies[] = {
    {ReplyId::kBye, {221, "2.0.0", "Bye"}},
    {ReplyId::kOk, {250, "2.0.0", "Ok"}},
    {ReplyId::kSenderOk, {250, "2.1.0", "Sender ok"}},
    {ReplyId::kRecipientOk, {250, "2.1.5", "Recipient ok"}},
    {ReplyId::kQueued, {250, "2.0.0", "Ok: queued as {}"}},
    {ReplyId::kChunkReceived, {250, "2.0.0", "{} octets received"}},
    {ReplyId::kAuthOk, {235, "2.7.0", "Authentication successful"}},
    {ReplyId::kStartData, {354, "", "End data with <CR><LF>.<CR><LF>"}},
    {ReplyId::kTlsReady, {220, "2.0.0", "Ready to start TLS"}},
    {ReplyId::kVrfy, {252, "2.5.0", "Cannot VRFY user, but will accept the message and attempt delivery"}},
    {ReplyId::kHelp, {214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS AUTH VRFY HELP"}},
    {ReplyId::kTooManyCommands, {421, "4.7.0", "Too many commands in one connection; reconnect to continue"}},
    {ReplyId::kTooManyErrors, {421, "4.7.0", "Too many errors in one connection; closing it. Check the client's SMTP dialogue"}},
    {ReplyId::kShuttingDown, {421, "4.3.2", "{} Service shutting down; try again later"}},
    {ReplyId::kTooManyConnections, {421, "4.7.0", "{} Too many connections; try again later"}},
    {ReplyId::kTooManyConnectionsFromIp, {421, "4.7.0", "Too many connections from {}; close some and try again later"}},
    {ReplyId::kStorageFailed, {451, "4.3.0", "Could not store the message ({}); try again later"}},
    {ReplyId::kInternalError, {451, "4.3.0", "Internal error in the server (logged); closing this session, try again later"}},
    {ReplyId::kTooManyRecipients, {452, "4.5.3", "Too many recipients (limit {}); send the others in another message"}},
    {ReplyId::kAuthTempFail, {454, "4.7.0", "Temporary authentication failure; try again later"}},
    {ReplyId::kTlsUnavailable, {454, "4.7.0", "TLS not available on this listener"}},
    {ReplyId::kLineTooLong, {500, "5.5.2", "Line too long (limit {} octets)"}},
    {ReplyId::kBareLfCommand, {500, "5.5.2", "Command ended with a bare LF or contained a bare CR; end lines with CRLF"}},
    {ReplyId::kUnknownCommand, {500, "5.5.1", "Command not recognized: {}"}},
    {ReplyId::kHeloSyntax, {501, "5.5.4", "Syntax: {} hostname"}},
    {ReplyId::kBadSender, {501, "5.1.7", "Bad sender address syntax: {}"}},
    {ReplyId::kBadRecipient, {501, "5.1.3", "Bad recipient address syntax: {}"}},
    {ReplyId::kSyntax, {501, "5.5.4", "Syntax error: {}"}},
    {ReplyId::kAuthCancelled, {501, "5.0.0", "Authentication cancelled"}},
    {ReplyId::kAuthBadBase64, {501, "5.5.2", "Cannot decode the AUTH response: base64 expected"}},
    {ReplyId::kNotImplemented, {502, "5.5.1", "{} not implemented"}},
    {ReplyId::kNeedHelo, {503, "5.5.1", "Send EHLO (or HELO) first"}},
    {ReplyId::kNestedMail, {503, "5.5.1", "Sender already given; send RSET to start a new message"}},
    {ReplyId::kNeedMail, {503, "5.5.1", "Send MAIL FROM first"}},
    {ReplyId::kNoValidRecipients, {554, "5.5.1", "No valid recipients; send RCPT TO first"}},
    {ReplyId::kAlreadyAuthenticated, {503, "5.5.1", "Already authenticated"}},
    {ReplyId::kAuthInTransaction, {503, "5.5.1", "AUTH is not allowed during a mail transaction; send RSET first"}},
    {ReplyId::kDataAfterBdat, {503, "5.5.1", "DATA cannot follow BDAT in one message; send RSET to start over"}},
    {ReplyId::kTlsActive, {503, "5.5.1", "TLS is already active"}},
    {ReplyId::kUnknownMechanism, {504, "5.5.4", "Unrecognized authentication mechanism; use PLAIN or LOGIN"}},
    {ReplyId::kAuthRequired, {530, "5.7.0", "Authentication required: log in with AUTH before MAIL"}},
    {ReplyId::kAuthInvalid, {535, "5.7.8", "Authentication credentials invalid: check the SMTP username and password"}},
    {ReplyId::kEncryptionRequired, {538, "5.7.11", "Encryption required for AUTH: send STARTTLS first (or use the implicit-TLS port)"}},
    {ReplyId::kMessageTooBig, {552, "5.3.4", "Message size exceeds the fixed limit of {} octets"}},
    {ReplyId::kDataLineTooLong, {550, "5.6.0", "Message refused: a line is longer than {} octets; wrap lines (RFC 5322 2.1.1) or use quoted-printable"}},
    {ReplyId::kBareNewlineInData, {550, "5.5.2", "Message refused: it contains a bare LF or CR; every line must end with CRLF (RFC 5321 2.3.8)"}},
    {ReplyId::kNulInData, {550, "5.5.2", "Message refused: it contains a NUL octet; encode binary content (base64)"}},
    {ReplyId::kBadSubmissionOption, {550, "5.6.0", "Message refused: {}"}},
    {ReplyId::kRecipientRefused, {550, "5.7.1", "{}"}},
    {ReplyId::kRelayDenied, {554, "5.7.1", "Relay access denied: authenticate first"}},
    {ReplyId::kNotBounceDomain, {550, "5.7.1", "<{}>: this server takes only bounces and feedback reports for its own bounce domains"}},
    {ReplyId::kNullSenderRefused, {550, "5.7.1", "The null sender <> cannot be used for submission; give a sender address"}},
    {ReplyId::kNeedSmtputf8, {553, "5.6.7", "Address {} is not ASCII; send MAIL FROM with the SMTPUTF8 parameter"}},
    {ReplyId::kUnsupportedParam, {555, "5.5.4", "Unsupported parameter {}"}},
    {ReplyId::kUnsupportedBody, {555, "5.5.4", "Unsupported BODY type {}; use 7BIT or 8BITMIME"}},
    {ReplyId::kBdatSyntax, {501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"}},
    {ReplyId::kAuthzidMismatch, {535, "5.7.8", "Authorization identity must be empty or equal to the username"}},
    {ReplyId::kClientNotAllowed, {554, "5.7.1", "Client {} is not in smtp.relay.networks; use the submission port with AUTH"}},
    // delivery's local replies (LocalReply)
    {ReplyId::kRouteNxDomain, {550, "5.1.2", "{}"}},
    {ReplyId::kRouteNullMx, {556, "5.1.10", "{}"}},
    {ReplyId::kRouteTempFail, {451, "4.4.3", "{}"}},
    {ReplyId::kRelayUnresolved, {451, "4.4.4", "cannot resolve relay {}: {}"}},
    {ReplyId::kMxHostUnresolved, {451, "4.4.4", "cannot resolve MX host {}: {}"}},
    // every route of a destination tried in one attempt failed: each named once, "LABEL: why; LABEL: why"
    {ReplyId::kEveryRouteFailed, {451, "4.4.1", "every route failed: {}"}},
    {ReplyId::kNoServerReachable, {451, "4.4.1", "no mail server of {} could be reached"}},
    {ReplyId::kBadAddress, {451, "4.4.0", "bad address {}"}},
    {ReplyId::kCannotConnect, {451, "4.4.1", "cannot connect to {} port {}: {}"}},
    {ReplyId::kTlsHandshakeFailed, {451, "4.7.5", "TLS handshake with {} failed: {}"}},
    {ReplyId::kConnectionFailed, {451, "4.4.2", "connection to {} failed"}},
    {ReplyId::kPrepareFailed, {451, "4.3.0", "internal error while preparing the message ({}); it is retried"}},
    // a connected server that stays silent (delivery.greeting_timeout) counts as unreachable
    {ReplyId::kNoGreeting, {451, "4.4.1", "{} did not greet within {} s"}},
    {ReplyId::kNoAnswer, {451, "4.4.1", "{} did not answer within {} s"}},
    {ReplyId::kConnectionLost, {451, "4.4.2", "connection to {} lost: {}"}},
    {ReplyId::kTestModeNotSent, {250, "2.0.0", "test mode: prepared and signed, not sent (the account's test_mode is on)"}},
};
}  // namespace

const ReplyInfo& Lookup(ReplyId id) {
  for (const auto& r : kReplies)
    if (r.id == id) return r.info;
  static const ReplyInfo kUnknown{451, "4.3.0", "Internal error"};
  return kUnknown;
}

std::string FormatReply(int code, std::string_view enhanced, std::string_view text) {
  std::string out = std::to_string(code);
  out += ' ';
  if (!enhanced.empty()) {
    out += enhanced;
    out += ' ';
  }
  // One line whatever the text holds: an error passed through from elsewhere (a database's message spans
  // lines) must not end the reply early and leave the rest to be read as the next reply (RFC 5321 4.2).
  bool space = false;
  for (char ch : text) {
    const bool control = ch == '\r' || ch == '\n' || ch == '\t' || ch == '\0';
    if (control && space) continue;
    out += control ? ' ' : ch;
    space = control;
  }
  out += "\r\n";
  return out;
}

std::string FormatReply(ReplyId id, std::string_view arg) {
  const ReplyInfo& r = Lookup(id);
  std::string text(r.text);
  if (auto pos = text.find("{}"); pos != std::string::npos) text.replace(pos, 2, arg);
  return FormatReply(r.code, r.enhanced, text);
}

ServerReply LocalReply(ReplyId id, std::initializer_list<std::string_view> args) {
  const ReplyInfo& r = Lookup(id);
  std::string line(r.enhanced);
  line += ' ';
  std::string_view text = r.text;
  auto arg = args.begin();
  for (size_t pos; (pos = text.find("{}")) != std::string_view::npos && arg != args.end(); ++arg) {
    line += text.substr(0, pos);
    line += *arg;
    text.remove_prefix(pos + 2);
  }
  line += text;
  ServerReply reply;
  reply.code = r.code;
  reply.enhanced = std::string(r.enhanced);
  reply.lines.push_back(std::move(line));
  reply.local = true;
  return reply;
}

}  // namespace kurier::smtp::proto
