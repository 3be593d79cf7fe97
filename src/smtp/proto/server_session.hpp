// server_session.hpp - the SMTP server session as an I/O-free state machine.
//
// The I/O layer feeds it the bytes it reads (Feed), writes what TakeOutput returns, and carries out
// the one request that may be pending (STARTTLS handshake, credential check, durable store), then
// reports the outcome (OnTlsStarted, OnAuthResult, OnStored). Nothing here touches a socket, a clock
// or a disk, so tests and the fuzzer drive it with plain strings.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "smtp/proto/command_parser.hpp"
#include "smtp/proto/replies.hpp"

namespace kurier::smtp::proto {

enum class ListenerMode {
  kSubmission,  ///< AUTH required before MAIL; sender restricted to the account's domains
  kRelay,       ///< trusted network: no AUTH, no sender restriction
  kInbound,     ///< bounces and feedback reports: no AUTH, recipients only in accepted_domain()
};

struct SessionConfig {
  std::string hostname = "localhost";
  ListenerMode mode = ListenerMode::kSubmission;
  bool tls_offered = true;         ///< STARTTLS is advertised while TLS is not active
  bool tls_active = false;         ///< implicit TLS (RFC 8314): the session starts encrypted
  bool auth_requires_tls = true;   ///< AUTH is refused (538) before TLS
  SmtpLimits limits;
  /// kInbound: whether mail for this (lower-case) domain is accepted. Pure: the I/O layer answers from
  /// what it has cached, never by blocking.
  std::function<bool(const std::string& domain)> accepted_domain;
  /// kSubmission and kRelay, when the account refuses suppressed recipients (AuthResult::refuse_suppressed,
  /// or `refuse_suppressed` here for the relay listener's account): why RCPT refuses `recipient` for the
  /// session's account ("" for the relay listener), or "" to accept it. May be empty.
  std::function<std::string(const std::string& account, const std::string& recipient)> recipient_refusal;
  bool refuse_suppressed = false;  ///< kRelay: the relay account refuses suppressed recipients
};

enum class BodyType { k7Bit, k8BitMime };

struct Envelope {
  Mailbox reverse_path;
  std::vector<Mailbox> forward_paths;
  BodyType body_type = BodyType::k7Bit;
  bool smtputf8 = false;
};

enum class Request { kNone, kStartTls, kAuthenticate, kStore };

/// Which of the I/O layer's clocks ran out (each has its own 421 text naming its key).
enum class TimeoutKind {
  kCommand,   ///< a command line not complete within smtp.limits.command_timeout
  kData,      ///< no message data for smtp.limits.command_timeout
  kDataRate,  ///< message data slower than smtp.limits.data_min_rate
  kSession,   ///< the connection lasted smtp.limits.session_timeout
};

struct AuthRequest {
  std::string mechanism;  ///< "PLAIN" or "LOGIN"
  std::string username;
  std::string password;
};

struct AuthResult {
  enum class Status { kOk, kInvalid, kThrottled, kTempFail } status = Status::kInvalid;
  std::string reply;                        ///< full reply line for kThrottled (e.g. with the wait time)
  std::string account;                      ///< for kOk
  std::vector<std::string> sender_domains;  ///< domains the account may send from
  bool sandbox = true;                      ///< false: only verified sending domains may be used
  std::vector<std::string> verified_domains;  ///< sending domains whose DKIM records checked out
  bool test_mode = false;                   ///< the account's mail is recorded, not sent
  bool refuse_suppressed = false;           ///< RCPT refuses suppressed recipients (recipient_refusal)
};

struct StoreResult {
  bool ok = false;
  std::string queue_id;  ///< when ok
  std::string error;     ///< short reason when not ok
  bool refused = false;  ///< the message itself is wrong (550 5.6.0 "Message refused: `error`"), not the storage (451)
};

class ServerSession {
 public:
  explicit ServerSession(SessionConfig config);

  /// Queues the 220 greeting. Call once when the (TLS) connection is up.
  void Greet();
  /// Consumes bytes from the client and processes as much as possible.
  void Feed(std::string_view bytes);
  /// Reply bytes to send now (possibly several pipelined replies).
  std::string TakeOutput();
  bool HasOutput() const { return !out_.empty(); }
  /// The request the I/O layer must carry out before feeding more input.
  Request pending() const { return pending_; }
  /// After the output is flushed the connection must be closed.
  bool closed() const { return closed_; }
  /// True while message content is being read (DATA or BDAT), for choosing a timeout.
  bool in_data() const { return state_ == State::kData || state_ == State::kBdatChunk; }

  const AuthRequest& auth_request() const { return auth_request_; }
  /// Hands over the finished message for kStore (the envelope stays readable until OnStored).
  std::string TakeMessage() { return std::move(body_); }
  const Envelope& envelope() const { return envelope_; }

  void OnTlsStarted();
  void OnAuthResult(const AuthResult& result);
  void OnStored(const StoreResult& result);
  /// The I/O layer's timer fired: reply 421 (saying which limit and its key) and close.
  void OnTimeout(TimeoutKind kind = TimeoutKind::kCommand);
  /// Counts every command line, AUTH line, message and BDAT chunk consumed: while it does not change
  /// and partial_input() holds, the same command line is still arriving (its timeout does not restart).
  uint64_t progress() const { return progress_; }
  /// Bytes of an unfinished line are buffered (or an over-long line is being skipped).
  bool partial_input() const { return discarding_line_ || pos_ < in_.size(); }
  /// The server is stopping: reply 421 and close (unless a request is pending).
  void OnShutdown();
  /// Refuse the connection before the greeting (limits, allow-lists): the reply is sent, then close.
  void Refuse(std::string reply_line);

  // What the session knows, for Received: headers and events.
  const std::string& helo_name() const { return helo_; }
  bool esmtp() const { return esmtp_; }
  bool tls_active() const { return config_.tls_active; }
  bool authenticated() const { return authenticated_; }
  const std::string& auth_username() const { return auth_username_; }
  const std::string& account() const { return account_; }
  bool test_mode() const { return test_mode_; }
  std::size_t commands() const { return commands_; }
  std::size_t errors() const { return errors_; }

 private:
  enum class State { kCommand, kData, kBdatChunk, kAuthPlain, kAuthLoginUser, kAuthLoginPassword, kWaiting };

  void Process();
  bool StepLine();
  bool StepData();
  bool StepBdat();
  void HandleCommand(std::string_view line);
  void HandleAuthLine(std::string_view line);
  void DoEhlo(const Command& c, bool extended);
  void DoMail(const Command& c);
  void DoRcpt(const Command& c);
  void DoData(const Command& c);
  void DoBdat(const Command& c);
  void DoAuth(const Command& c);
  void DoStartTls(const Command& c);
  void FinishMessage();
  void ResetTransaction();
  void Reply(ReplyId id, std::string_view arg = {});
  void ReplyRaw(std::string line);  ///< a complete reply line with CRLF
  void Close() { closed_ = true; }
  void RequestAuth(std::string username, std::string password);

  SessionConfig config_;
  State state_ = State::kCommand;
  Request pending_ = Request::kNone;
  bool closed_ = false;

  std::string in_;
  std::size_t pos_ = 0;
  bool discarding_line_ = false;  ///< an over-long command line is being skipped
  std::string out_;

  std::string helo_;
  bool esmtp_ = false;
  bool authenticated_ = false;
  std::string auth_username_, account_;
  std::vector<std::string> sender_domains_;
  bool sandbox_ = true;
  bool test_mode_ = false;
  bool refuse_suppressed_ = false;
  std::vector<std::string> verified_domains_;
  AuthRequest auth_request_;
  std::string auth_mechanism_, login_username_;

  bool mail_given_ = false;
  Envelope envelope_;
  std::string body_;
  // DATA reading
  bool prev_line_crlf_ = true;  ///< the previous data line ended with CRLF (only then can "." end the data)
  bool mid_line_ = false;       ///< part of an over-long line was consumed already
  std::size_t line_len_ = 0;
  bool too_big_ = false, line_too_long_ = false, bare_newline_ = false, nul_ = false;
  // BDAT reading
  bool bdat_used_ = false, bdat_last_ = false;
  uint64_t bdat_remaining_ = 0, bdat_chunk_size_ = 0;
  std::string bdat_error_;  ///< reply to send once the chunk is consumed

  std::size_t commands_ = 0, errors_ = 0;
  uint64_t progress_ = 0;
};

}  // namespace kurier::smtp::proto
