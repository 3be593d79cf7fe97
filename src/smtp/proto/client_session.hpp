// client_session.hpp - the outbound SMTP client as an I/O-free state machine.
//
// The delivery layer connects, feeds the server's bytes (Feed), writes TakeOutput(), performs the TLS
// handshake when status() is kNeedTls (then OnTlsStarted), and starts messages whenever status() is
// kReady. One connection carries several messages in turn (connection reuse).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smtp/proto/reply_parser.hpp"

namespace kurier::smtp::proto {

enum class TlsMode {
  kNone,           ///< never STARTTLS
  kOpportunistic,  ///< STARTTLS when offered, plaintext otherwise
  kRequired,       ///< defer the mail when STARTTLS is not offered or fails
};

struct ClientConfig {
  std::string helo_name = "localhost";
  TlsMode tls = TlsMode::kOpportunistic;
  bool implicit_tls = false;  ///< the connection is TLS from the start (RFC 8314)
  std::string auth_username, auth_password;  ///< AUTH PLAIN after EHLO (relays); only ever under TLS
};

struct OutboundMessage {
  std::string mail_from;                ///< reverse-path without <>, empty for the null sender
  std::vector<std::string> recipients;  ///< forward-paths without <>
  bool smtputf8 = false;                ///< the envelope or headers need SMTPUTF8 (RFC 6531)
  bool eight_bit = false;               ///< the content has 8-bit octets (BODY=8BITMIME, RFC 6152)
  std::string_view data;                ///< the message; kept alive by the caller until kMessageDone
};

enum class Outcome { kDelivered, kDeferred, kBounced };

struct RecipientResult {
  Outcome outcome = Outcome::kDeferred;
  ServerReply reply;   ///< the server's reply for this recipient (or a synthetic one, see `local`)
  bool local = false;  ///< true when kurier decided without the server saying so (e.g. SIZE, SMTPUTF8, lost connection)
  std::string_view command;  ///< the command `reply` answered: "MAIL", "RCPT" or "DATA"; empty for kurier's own
};

/// What the SMTP reply code means for a recipient: 2xx delivered, 4xx deferred, 5xx bounced.
Outcome OutcomeOf(const ServerReply& reply);
/// Dot-stuffs and CRLF-normalises `data` for DATA and appends the terminating ".\r\n": a bare LF or
/// bare CR becomes CRLF, so no smuggling sequence can leave kurier.
std::string EncodeData(std::string_view data);

class ClientSession {
 public:
  enum class Status {
    kHandshake,  ///< greeting / EHLO / STARTTLS / RSET in progress
    kNeedTls,    ///< perform the TLS handshake, then OnTlsStarted()
    kReady,      ///< idle: StartMessage() or Quit()
    kSending,    ///< a transaction is in progress
    kMessageDone,///< TakeResults(), then the session is kReady again
    kClosed,     ///< write the remaining output and close the connection
  };
  /// Which RFC 5321 4.5.3.2 timeout applies to the current wait.
  enum class Phase { kGreeting, kCommand, kDataInit, kDataTermination };

  explicit ClientSession(ClientConfig config);

  void Feed(std::string_view bytes);
  std::string TakeOutput() { return std::exchange(out_, {}); }
  bool HasOutput() const { return !out_.empty(); }
  Status status() const { return status_; }
  Phase phase() const { return phase_; }

  void OnTlsStarted();
  void StartMessage(const OutboundMessage& message);
  std::vector<RecipientResult> TakeResults();
  /// Sends QUIT; the connection can be closed once the output is written.
  void Quit();
  /// The connection broke or timed out: recipients without a final reply are deferred with `reason`.
  void OnConnectionLost(const std::string& reason);

  /// Why the connection failed before or between messages (greeting or EHLO refused, policy):
  /// meaningful when status() is kClosed and no message was in progress.
  const ServerReply& failure() const { return failure_; }
  bool tls_active() const { return tls_active_; }
  bool has_extension(std::string_view name) const;
  uint64_t size_limit() const { return size_limit_; }  ///< 0 when the server gave none

 private:
  enum class Expect { kGreeting, kEhlo, kHelo, kStartTls, kAuth, kMail, kRcpt, kData, kDot, kRset, kQuit, kNone };
  void OnReply(const ServerReply& r);
  void Send(std::string line);
  void AfterHello();
  void AuthenticateOrReady();
  void SendNextSequential();
  void FinishRecipients(const ServerReply& r, std::string_view command = {});
  void CompleteTransaction();
  void FailConnection(ServerReply r);
  static ServerReply Synthetic(int code, std::string enhanced, std::string text);

  ClientConfig config_;
  ReplyParser parser_;
  std::string out_;
  Status status_ = Status::kHandshake;
  Phase phase_ = Phase::kGreeting;
  std::vector<Expect> expect_;  ///< replies still to come, in order (several when pipelining)
  bool esmtp_ = false, tls_active_ = false, pipelining_ = false;
  std::vector<std::string> extensions_;  ///< upper-cased keywords with their parameters
  uint64_t size_limit_ = 0;
  ServerReply failure_;

  // the current transaction
  OutboundMessage msg_;
  std::vector<RecipientResult> results_;
  std::vector<bool> rcpt_ok_;
  std::size_t rcpt_next_ = 0, rcpt_replies_ = 0;
  bool mail_ok_ = false, data_sent_ = false;
  bool closing_after_results_ = false;  ///< the connection failed during the transaction
};

}  // namespace kurier::smtp::proto
