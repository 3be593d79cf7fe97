// server_session.cpp - SMTP server session state machine (no I/O).
//
// SECURITY: this is kurier's most exposed code: it reads whatever a client on the network sends.
// Every buffer is bounded (command, AUTH and data line limits, message size, recipients, commands and
// errors per connection); over-long input is skipped to the next LF to resynchronise (as Postfix's
// smtpd_chat does). End of data is only CRLF "." CRLF after a line that itself ended in CRLF, and any
// bare LF, bare CR or NUL in the data refuses the message, so no SMTP-smuggling variant
// (CVE-2023-51764/51765/51766) can end a message early. Input pipelined behind STARTTLS is
// discarded (CVE-2011-0411). AUTH is refused before TLS; MAIL is refused before AUTH on submission,
// so the server is never an open relay.
// STANDARDS: RFC 5321 (SMTP), RFC 6409 (submission), RFC 3207 (STARTTLS), RFC 8314 (implicit TLS),
// RFC 4954 (AUTH), RFC 4616 (PLAIN), RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 6152 (8BITMIME),
// RFC 6531 (SMTPUTF8), RFC 2034 / RFC 3463 (enhanced status codes), RFC 3030 (CHUNKING), RFC 5322 3.6
// (a submission's one From field and its domains, header_from.hpp).
#include "smtp/proto/server_session.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/encoding.hpp"
#include "smtp/proto/header_from.hpp"

namespace kurier::smtp::proto {

ServerSession::ServerSession(SessionConfig config) : config_(std::move(config)) {}

void ServerSession::Greet() { ReplyRaw("220 " + config_.hostname + " ESMTP kurier\r\n"); }

void ServerSession::Refuse(std::string reply_line) {
  ReplyRaw(std::move(reply_line));
  Close();
}

std::string ServerSession::TakeOutput() { return std::exchange(out_, {}); }

void ServerSession::ReplyRaw(std::string line) {
  out_ += line;
  int code = (line.size() >= 3) ? (line[0] - '0') : 0;
  if (code >= 4 && !closed_) {
    ++errors_;
    if (errors_ > config_.limits.max_errors) {
      out_ += FormatReply(ReplyId::kTooManyErrors);
      Close();
    }
  }
}

void ServerSession::Reply(ReplyId id, std::string_view arg) { ReplyRaw(FormatReply(id, arg)); }

void ServerSession::Feed(std::string_view bytes) {
  if (closed_) return;
  if (pos_ > 0 && pos_ == in_.size()) {
    in_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
  in_.append(bytes);
  Process();
}

void ServerSession::Process() {
  while (!closed_ && pending_ == Request::kNone) {
    bool progressed = false;
    switch (state_) {
      case State::kData: progressed = StepData(); break;
      case State::kBdatChunk: progressed = StepBdat(); break;
      case State::kWaiting: return;
      default: progressed = StepLine(); break;
    }
    if (!progressed) return;
  }
}

// Command and AUTH lines: CRLF-terminated, bounded; an over-long line is skipped up to its LF.
bool ServerSession::StepLine() {
  const std::size_t limit = std::max(config_.limits.max_command_line, config_.limits.max_auth_line);
  auto lf = in_.find('\n', pos_);
  if (lf == std::string::npos) {
    if (in_.size() - pos_ > limit) {
      discarding_line_ = true;
      pos_ = in_.size();
    }
    return false;
  }
  std::string_view line(in_.data() + pos_, lf - pos_);
  pos_ = lf + 1;
  ++progress_;
  if (discarding_line_) {
    discarding_line_ = false;
    Reply(ReplyId::kLineTooLong, std::to_string(state_ == State::kCommand ? config_.limits.max_command_line
                                                                          : config_.limits.max_auth_line));
    if (state_ != State::kCommand) state_ = State::kCommand;  // abandon the AUTH exchange
    return true;
  }
  if (line.empty() || line.back() != '\r' || line.substr(0, line.size() - 1).find('\r') != std::string_view::npos) {
    if (state_ != State::kCommand) state_ = State::kCommand;
    Reply(ReplyId::kBareLfCommand);
    return true;
  }
  line.remove_suffix(1);
  if (state_ == State::kCommand)
    HandleCommand(line);
  else
    HandleAuthLine(line);
  return true;
}

void ServerSession::HandleCommand(std::string_view line) {
  if (++commands_ > config_.limits.max_commands) {
    Reply(ReplyId::kTooManyCommands);
    Close();
    return;
  }
  Command c = ParseCommand(line);
  if (c.verb != Verb::kAuth && line.size() + 2 > config_.limits.max_command_line) {
    Reply(ReplyId::kLineTooLong, std::to_string(config_.limits.max_command_line));
    return;
  }
  if (line.find('\0') != std::string_view::npos) {
    Reply(ReplyId::kSyntax, "NUL in command");
    return;
  }
  switch (c.verb) {
    case Verb::kEhlo: DoEhlo(c, true); break;
    case Verb::kHelo: DoEhlo(c, false); break;
    case Verb::kMail: DoMail(c); break;
    case Verb::kRcpt: DoRcpt(c); break;
    case Verb::kData: DoData(c); break;
    case Verb::kBdat: DoBdat(c); break;
    case Verb::kAuth: DoAuth(c); break;
    case Verb::kStartTls: DoStartTls(c); break;
    case Verb::kRset:
      ResetTransaction();
      Reply(ReplyId::kOk);
      break;
    case Verb::kNoop: Reply(ReplyId::kOk); break;
    case Verb::kQuit:
      Reply(ReplyId::kBye);
      Close();
      break;
    case Verb::kVrfy: Reply(ReplyId::kVrfy); break;
    case Verb::kExpn: Reply(ReplyId::kNotImplemented, "EXPN"); break;
    case Verb::kHelp: Reply(ReplyId::kHelp); break;
    case Verb::kUnknown: {
      std::string shown(c.verb_text.substr(0, 32));
      for (char& ch : shown)
        if (static_cast<unsigned char>(ch) < 32 || static_cast<unsigned char>(ch) > 126) ch = '?';
      Reply(ReplyId::kUnknownCommand, shown);
      break;
    }
  }
}

void ServerSession::DoEhlo(const Command& c, bool extended) {
  std::string_view arg = c.args;
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  if (arg.empty() || arg.find(' ') != std::string_view::npos) {
    Reply(ReplyId::kHeloSyntax, extended ? "EHLO" : "HELO");
    return;
  }
  ResetTransaction();
  helo_ = std::string(arg.substr(0, 255));
  esmtp_ = extended;
  if (!extended) {
    ReplyRaw("250 " + config_.hostname + "\r\n");
    return;
  }
  std::vector<std::string> lines = {config_.hostname, "PIPELINING",
                                    "SIZE " + std::to_string(config_.limits.max_message_size),
                                    "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"};
  if (config_.tls_offered && !config_.tls_active) lines.push_back("STARTTLS");
  if (config_.mode == ListenerMode::kSubmission && !authenticated_ &&
      (config_.tls_active || !config_.auth_requires_tls))
    lines.push_back("AUTH PLAIN LOGIN");
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i)
    out += "250" + std::string(i + 1 < lines.size() ? "-" : " ") + lines[i] + "\r\n";
  out_ += out;
}

void ServerSession::DoMail(const Command& c) {
  if (helo_.empty()) return Reply(ReplyId::kNeedHelo);
  if (mail_given_) return Reply(ReplyId::kNestedMail);
  if (config_.mode == ListenerMode::kSubmission && !authenticated_) return Reply(ReplyId::kAuthRequired);
  std::string err;
  auto path = ParsePathArgument(c.args, "FROM:", true, err);
  if (!path) return Reply(ReplyId::kBadSender, err);
  Envelope env;
  env.reverse_path = path->mailbox;
  for (const auto& p : path->params) {
    if (p.keyword == "SIZE") {
      uint64_t size = 0;
      const std::string& v = p.value.value_or("");
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), size);
      if (v.empty() || ec != std::errc() || ptr != v.data() + v.size())
        return Reply(ReplyId::kSyntax, "SIZE needs a number of octets");
      if (size > config_.limits.max_message_size)
        return Reply(ReplyId::kMessageTooBig, std::to_string(config_.limits.max_message_size));
    } else if (p.keyword == "BODY") {
      std::string v = ToLowerAscii(p.value.value_or(""));
      if (v == "7bit")
        env.body_type = BodyType::k7Bit;
      else if (v == "8bitmime")
        env.body_type = BodyType::k8BitMime;
      else
        return Reply(ReplyId::kUnsupportedBody, p.value.value_or("(empty)"));
    } else if (p.keyword == "SMTPUTF8" && !p.value) {
      env.smtputf8 = true;
    } else if (p.keyword == "AUTH") {
      // RFC 4954 5: the AUTH parameter is accepted and not propagated.
    } else {
      return Reply(ReplyId::kUnsupportedParam, p.keyword);
    }
  }
  if (!env.reverse_path.IsAscii() && !env.smtputf8)
    return Reply(ReplyId::kNeedSmtputf8, "<" + env.reverse_path.ToString() + ">");
  if (config_.mode == ListenerMode::kSubmission) {
    if (env.reverse_path.IsNull()) return Reply(ReplyId::kNullSenderRefused);
    const std::string problem =
        EnvelopeSenderProblem(SenderRules{account_, sender_domains_, sandbox_, verified_domains_},
                              env.reverse_path.ToString(), env.reverse_path.domain);
    if (!problem.empty()) return ReplyRaw(FormatReply(550, "5.7.1", problem));
  }
  envelope_ = std::move(env);
  mail_given_ = true;
  Reply(ReplyId::kSenderOk);
}

void ServerSession::DoRcpt(const Command& c) {
  if (!mail_given_) return Reply(ReplyId::kNeedMail);
  if (config_.mode == ListenerMode::kSubmission && !authenticated_) return Reply(ReplyId::kRelayDenied);
  std::string err;
  auto path = ParsePathArgument(c.args, "TO:", false, err);
  if (!path) return Reply(ReplyId::kBadRecipient, err);
  if (!path->params.empty()) return Reply(ReplyId::kUnsupportedParam, path->params.front().keyword);
  if (config_.mode == ListenerMode::kInbound) {
    if (!config_.accepted_domain || !config_.accepted_domain(ToLowerAscii(path->mailbox.domain)))
      return Reply(ReplyId::kNotBounceDomain, path->mailbox.ToString());
  }
  if (!path->mailbox.IsAscii() && !envelope_.smtputf8)
    return Reply(ReplyId::kNeedSmtputf8, "<" + path->mailbox.ToString() + ">");
  if (envelope_.forward_paths.size() >= config_.limits.max_recipients)
    return Reply(ReplyId::kTooManyRecipients, std::to_string(config_.limits.max_recipients));
  if (config_.recipient_refusal && config_.mode != ListenerMode::kInbound &&
      (refuse_suppressed_ || (config_.mode == ListenerMode::kRelay && config_.refuse_suppressed)))
    if (std::string why = config_.recipient_refusal(account_, path->mailbox.ToString()); !why.empty())
      return Reply(ReplyId::kRecipientRefused, why);
  envelope_.forward_paths.push_back(std::move(path->mailbox));
  Reply(ReplyId::kRecipientOk);
}

void ServerSession::DoData(const Command& c) {
  if (!c.args.empty()) return Reply(ReplyId::kSyntax, "DATA takes no argument");
  if (bdat_used_) return Reply(ReplyId::kDataAfterBdat);
  if (!mail_given_) return Reply(ReplyId::kNeedMail);
  if (envelope_.forward_paths.empty()) return Reply(ReplyId::kNoValidRecipients);
  body_.clear();
  prev_line_crlf_ = true;
  mid_line_ = false;
  line_len_ = 0;
  too_big_ = line_too_long_ = bare_newline_ = nul_ = false;
  state_ = State::kData;
  Reply(ReplyId::kStartData);
}

// Message content after DATA: dot-unstuffing, bounds, and the strict end-of-data rule.
bool ServerSession::StepData() {
  const std::size_t max_line = config_.limits.max_data_line;
  auto lf = in_.find('\n', pos_);
  if (lf == std::string::npos) {
    std::size_t avail = in_.size() - pos_;
    if (line_len_ + avail > max_line) {  // over-long line: consume what we have, refuse the message later
      line_too_long_ = true;
      line_len_ += avail;
      mid_line_ = true;
      pos_ = in_.size();
      body_.clear();
    }
    return false;
  }
  std::string_view chunk(in_.data() + pos_, lf + 1 - pos_);  // with its LF
  pos_ = lf + 1;
  const bool continued = mid_line_;
  const std::size_t total = line_len_ + chunk.size();
  mid_line_ = false;
  line_len_ = 0;
  const bool crlf = chunk.size() >= 2 && chunk[chunk.size() - 2] == '\r';
  if (!continued && prev_line_crlf_ && chunk == ".\r\n") {
    ++progress_;
    FinishMessage();
    return true;
  }
  prev_line_crlf_ = crlf;
  std::string_view content = chunk.substr(0, chunk.size() - (crlf ? 2 : 1));
  if (!crlf || std::memchr(content.data(), '\r', content.size())) bare_newline_ = true;
  if (std::memchr(content.data(), '\0', content.size())) nul_ = true;
  if (total > max_line) line_too_long_ = true;
  if (too_big_ || line_too_long_ || bare_newline_ || nul_) {
    body_.clear();  // the message will be refused: keep nothing
    return true;
  }
  if (!continued && chunk.front() == '.') chunk.remove_prefix(1);  // RFC 5321 4.5.2
  if (body_.size() + chunk.size() > config_.limits.max_message_size) {
    too_big_ = true;
    body_.clear();
    return true;
  }
  body_.append(chunk);
  return true;
}

void ServerSession::DoBdat(const Command& c) {
  // Parse "size [LAST]" first: whatever else is wrong, the chunk must be consumed (RFC 3030 2).
  std::string_view args = c.args;
  auto sp = args.find(' ');
  std::string_view num = args.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
  uint64_t size = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), size);
  bool last = IEquals(rest, "LAST");
  if (num.empty() || ec != std::errc() || ptr != num.data() + num.size() || (!rest.empty() && !last)) {
    // Without a valid size we cannot know where the chunk ends: close, as RFC 3030 allows.
    Reply(ReplyId::kBdatSyntax);
    Close();
    return;
  }
  bdat_error_.clear();
  if (!mail_given_)
    bdat_error_ = FormatReply(ReplyId::kNeedMail);
  else if (envelope_.forward_paths.empty())
    bdat_error_ = FormatReply(ReplyId::kNoValidRecipients);
  if (!bdat_used_ && bdat_error_.empty()) {
    body_.clear();
    too_big_ = false;
    bdat_used_ = true;
  }
  bdat_remaining_ = size;
  bdat_chunk_size_ = size;
  bdat_last_ = last;
  state_ = State::kBdatChunk;
}

bool ServerSession::StepBdat() {
  std::size_t avail = in_.size() - pos_;
  if (bdat_remaining_ > 0 && avail == 0) return false;
  std::size_t take = static_cast<std::size_t>(std::min<uint64_t>(bdat_remaining_, avail));
  if (bdat_error_.empty() && !too_big_) {
    if (body_.size() + take > config_.limits.max_message_size) {
      too_big_ = true;
      body_.clear();
    } else {
      body_.append(in_, pos_, take);
    }
  }
  pos_ += take;
  bdat_remaining_ -= take;
  if (bdat_remaining_ > 0) return false;
  ++progress_;
  state_ = State::kCommand;
  if (!bdat_error_.empty()) {
    ReplyRaw(std::exchange(bdat_error_, {}));
    return true;
  }
  if (too_big_) {
    if (bdat_last_) {
      Reply(ReplyId::kMessageTooBig, std::to_string(config_.limits.max_message_size));
      ResetTransaction();
    } else {
      Reply(ReplyId::kMessageTooBig, std::to_string(config_.limits.max_message_size));
    }
    return true;
  }
  if (bdat_last_) {
    FinishMessage();
  } else {
    Reply(ReplyId::kChunkReceived, std::to_string(bdat_chunk_size_));
  }
  return true;
}

void ServerSession::FinishMessage() {
  state_ = State::kCommand;
  ReplyId refusal{};
  bool refused = true;
  if (too_big_)
    refusal = ReplyId::kMessageTooBig;
  else if (nul_)
    refusal = ReplyId::kNulInData;
  else if (bare_newline_)
    refusal = ReplyId::kBareNewlineInData;
  else if (line_too_long_)
    refusal = ReplyId::kDataLineTooLong;
  else
    refused = false;
  if (refused) {
    Reply(refusal, refusal == ReplyId::kMessageTooBig ? std::to_string(config_.limits.max_message_size)
                                                      : std::to_string(config_.limits.max_data_line));
    ResetTransaction();
    return;
  }
  // A submission's header From (and Sender) obeys the envelope sender's rule: one From field, and only
  // the account's sender domains (RFC 5322 3.6). The relay and bounce listeners are not submissions.
  if (config_.mode == ListenerMode::kSubmission && authenticated_) {
    HeaderSenderCheck check =
        CheckHeaderSenders(body_, SenderRules{account_, sender_domains_, sandbox_, verified_domains_});
    if (check.verdict != HeaderSenderCheck::Verdict::kOk) {
      const bool malformed = check.verdict == HeaderSenderCheck::Verdict::kMalformed;
      ReplyRaw(FormatReply(550, malformed ? "5.6.0" : "5.7.1", "Message refused: " + check.reason));
      ResetTransaction();
      return;
    }
  }
  pending_ = Request::kStore;
  state_ = State::kWaiting;
}

void ServerSession::OnStored(const StoreResult& result) {
  pending_ = Request::kNone;
  state_ = State::kCommand;
  if (result.ok)
    Reply(ReplyId::kQueued, result.queue_id);
  else
    Reply(result.refused ? ReplyId::kBadSubmissionOption : ReplyId::kStorageFailed, result.error);
  ResetTransaction();
  Process();
}

void ServerSession::ResetTransaction() {
  mail_given_ = false;
  envelope_ = Envelope{};
  body_.clear();
  body_.shrink_to_fit();
  bdat_used_ = false;
  too_big_ = false;
}

void ServerSession::DoStartTls(const Command& c) {
  if (config_.tls_active) return Reply(ReplyId::kTlsActive);
  if (!config_.tls_offered) return Reply(ReplyId::kTlsUnavailable);
  if (!c.args.empty()) return Reply(ReplyId::kSyntax, "STARTTLS takes no argument");
  Reply(ReplyId::kTlsReady);
  // CVE-2011-0411: whatever the client pipelined behind STARTTLS was sent in plaintext; drop it.
  in_.clear();
  pos_ = 0;
  pending_ = Request::kStartTls;
  state_ = State::kWaiting;
}

void ServerSession::OnTlsStarted() {
  pending_ = Request::kNone;
  state_ = State::kCommand;
  config_.tls_active = true;
  // RFC 3207 4.2: forget everything learnt before the handshake.
  helo_.clear();
  esmtp_ = false;
  ResetTransaction();
  in_.clear();
  pos_ = 0;
}

void ServerSession::DoAuth(const Command& c) {
  if (config_.mode != ListenerMode::kSubmission) return Reply(ReplyId::kNotImplemented, "AUTH");
  if (helo_.empty() || !esmtp_) return Reply(ReplyId::kNeedHelo);
  if (authenticated_) return Reply(ReplyId::kAlreadyAuthenticated);
  if (mail_given_) return Reply(ReplyId::kAuthInTransaction);
  if (config_.auth_requires_tls && !config_.tls_active) return Reply(ReplyId::kEncryptionRequired);
  std::string_view args = c.args;
  auto sp = args.find(' ');
  std::string_view mech = args.substr(0, sp);
  std::string_view initial = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
  bool has_initial = sp != std::string_view::npos;
  if (IEquals(mech, "PLAIN")) {
    auth_mechanism_ = "PLAIN";
    if (!has_initial) {
      state_ = State::kAuthPlain;
      out_ += "334 \r\n";
      return;
    }
    state_ = State::kAuthPlain;
    HandleAuthLine(initial == "=" ? std::string_view() : initial);
  } else if (IEquals(mech, "LOGIN")) {
    auth_mechanism_ = "LOGIN";
    if (!has_initial) {
      state_ = State::kAuthLoginUser;
      out_ += "334 VXNlcm5hbWU6\r\n";  // "Username:"
      return;
    }
    state_ = State::kAuthLoginUser;
    HandleAuthLine(initial);
  } else {
    Reply(ReplyId::kUnknownMechanism);
  }
}

void ServerSession::HandleAuthLine(std::string_view line) {
  const State st = state_;
  state_ = State::kCommand;
  if (line.size() + 2 > config_.limits.max_auth_line)
    return Reply(ReplyId::kLineTooLong, std::to_string(config_.limits.max_auth_line));
  if (line == "*") return Reply(ReplyId::kAuthCancelled);
  auto decoded = Base64Decode(line);
  if (!decoded) return Reply(ReplyId::kAuthBadBase64);
  if (st == State::kAuthPlain) {
    // RFC 4616: authzid NUL authcid NUL passwd
    const std::string& d = *decoded;
    auto a = d.find('\0');
    auto b = a == std::string::npos ? std::string::npos : d.find('\0', a + 1);
    if (a == std::string::npos || b == std::string::npos || d.find('\0', b + 1) != std::string::npos)
      return Reply(ReplyId::kSyntax, "AUTH PLAIN response must be authzid NUL username NUL password");
    std::string authzid = d.substr(0, a), user = d.substr(a + 1, b - a - 1), pass = d.substr(b + 1);
    if (!authzid.empty() && authzid != user) return Reply(ReplyId::kAuthzidMismatch);
    return RequestAuth(std::move(user), std::move(pass));
  }
  if (st == State::kAuthLoginUser) {
    login_username_ = *decoded;
    state_ = State::kAuthLoginPassword;
    out_ += "334 UGFzc3dvcmQ6\r\n";  // "Password:"
    return;
  }
  RequestAuth(std::move(login_username_), std::move(*decoded));
}

void ServerSession::RequestAuth(std::string username, std::string password) {
  auth_request_ = AuthRequest{auth_mechanism_, std::move(username), std::move(password)};
  pending_ = Request::kAuthenticate;
  state_ = State::kWaiting;
}

void ServerSession::OnAuthResult(const AuthResult& result) {
  pending_ = Request::kNone;
  state_ = State::kCommand;
  std::string username = std::move(auth_request_.username);
  auth_request_ = AuthRequest{};  // do not keep the password around
  switch (result.status) {
    case AuthResult::Status::kOk:
      authenticated_ = true;
      auth_username_ = std::move(username);
      account_ = result.account;
      sender_domains_ = result.sender_domains;
      sandbox_ = result.sandbox;
      verified_domains_ = result.verified_domains;
      test_mode_ = result.test_mode;
      refuse_suppressed_ = result.refuse_suppressed;
      Reply(ReplyId::kAuthOk);
      break;
    case AuthResult::Status::kInvalid: Reply(ReplyId::kAuthInvalid); break;
    case AuthResult::Status::kThrottled: ReplyRaw(result.reply); break;
    case AuthResult::Status::kTempFail: Reply(ReplyId::kAuthTempFail); break;
  }
  Process();
}

void ServerSession::OnTimeout(TimeoutKind kind) {
  if (closed_) return;
  const std::string& host = config_.hostname;
  const SmtpLimits& L = config_.limits;
  switch (kind) {
    case TimeoutKind::kCommand:
      ReplyRaw(FormatReply(421, "4.4.2",
                           host + " Timeout: no complete command line within " + std::to_string(L.command_timeout) +
                               " s (smtp.limits.command_timeout); closing the connection"));
      break;
    case TimeoutKind::kData:
      ReplyRaw(FormatReply(421, "4.4.2",
                           host + " Timeout: no message data for " + std::to_string(L.command_timeout) +
                               " s (smtp.limits.command_timeout); closing the connection, the message is not queued"));
      break;
    case TimeoutKind::kDataRate:
      ReplyRaw(FormatReply(421, "4.4.2",
                           host + " Message transfer too slow: fewer than " + std::to_string(L.data_min_rate) +
                               " octets per second over " + std::to_string(L.data_rate_window) +
                               " s (smtp.limits.data_min_rate); closing the connection, the message is not queued"));
      break;
    case TimeoutKind::kSession:
      ReplyRaw(FormatReply(421, "4.4.2",
                           host + " Session exceeded " + std::to_string(L.session_timeout) +
                               " s (smtp.limits.session_timeout); closing the connection, reconnect to continue"));
      break;
  }
  Close();
}

void ServerSession::OnShutdown() {
  if (closed_) return;
  Reply(ReplyId::kShuttingDown, config_.hostname);
  Close();
}

}  // namespace kurier::smtp::proto
