// ingress.hpp - the one way into kurier: what the SMTP listeners and the HTTP API do with a message they
// accept, written once. A listener speaks its protocol and builds the envelope; ingress then
//   1. prepares the spool message (Prepare: a new id, the origin, kurier's Received: line, Message-ID:
//      and Date: when missing, the X-Kurier-* fields of a submission read once),
//   2. applies the account's rules (SenderProblem: the envelope sender; DropSuppressed: suppressed
//      recipients are taken out and recorded as `suppressed` events, the same for SMTP and HTTP),
//   3. submits to the spool (Submit), whose completion comes once the message is on stable storage, so the
//      listener may then answer 250 or 202.
// STANDARDS: RFC 5321 4.4 (trace), RFC 6409 8 (what a submission server may add), RFC 5321 3.3 (MAIL).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "ingress/prepare.hpp"
#include "smtp/proto/header_from.hpp"
#include "spool/spool.hpp"

namespace kurier::store {
class Store;
}

namespace kurier::ingress {

/// Who handed the message over, and how: the spool's record of its origin and its Received: line.
struct Origin : Peer {
  std::string account;
  std::string credential;  ///< the SMTP username, "api:#12" for API key 12, "" for the relay listener
  bool test_mode = false;  ///< the account is in test mode (or the API send asked for it): nothing is sent
};

struct Envelope {
  std::string mail_from;
  std::vector<std::string> recipients;
  std::string body_type = "7BIT";  ///< or "8BITMIME"
  bool smtputf8 = false;
};

struct Prepared {
  spool::SpoolMessage message;
  /// Why the message is refused (an X-Kurier-* field that cannot be used, a line over RFC 5322's limit
  /// that cannot be fitted): a sentence that says what to fix.
  std::string error;
};

/// The spool message for `raw` (header, empty line, body; CRLF lines) as it came in: id `id` (a new one
/// when empty), received at `now`, the origin and envelope, and the data with kurier's Received: line
/// (naming `hostname`) first and Message-ID:/Date: appended to the header when missing. With
/// `read_options`, the X-Kurier-* fields give the message's tags, metadata and send options and are
/// taken out of its text (an authenticated submission's; the relay listener's mail is not read).
Prepared Prepare(const Origin& origin, Envelope envelope, std::string_view raw, const std::string& hostname,
                 bool read_options, int64_t now, std::string id = {});

struct Suppressed {
  std::string address;
  std::string reason;  ///< hard_bounce, complaint, unsubscribe, manual
};

class Ingress {
 public:
  Ingress(store::Store& store, spool::Spool& spool) : store_(store), spool_(spool) {}

  /// The envelope sender's rule for `account`, the same as the SMTP session applies at MAIL: its domain
  /// is one of the account's sender domains and, outside sandbox mode, verified. nullopt when allowed,
  /// else what is wrong and the command that fixes it.
  std::optional<std::string> SenderProblem(const std::string& account, const std::string& from) {
    return SenderProblem(RulesOf(account), account, from);
  }
  /// The account's sender rules (read once, for the envelope and the header From check); nullopt when
  /// the account no longer exists or cannot be read.
  std::optional<smtp::proto::SenderRules> RulesOf(const std::string& account);
  /// SenderProblem over rules already read (nullopt: the account no longer exists).
  static std::optional<std::string> SenderProblem(const std::optional<smtp::proto::SenderRules>& rules,
                                                  const std::string& account, const std::string& from);

  /// Why SMTP's RCPT refuses `recipient` for `account`, an account that refuses suppressed recipients
  /// (Account::refuse_suppressed, which the caller checked): it is on the account's (or the global)
  /// suppression list; the text names the suppression and how to lift it. nullopt: accept it. One index probe.
  std::optional<std::string> RecipientRefusal(const std::string& account, const std::string& recipient) const;

  /// Takes suppressed recipients (the account's list or the global one) out of each message; returns,
  /// per message, those taken out, each recorded as a `suppressed` event. A message left with no
  /// recipient is not submitted by Submit. An error when the list cannot be read: accept nothing then.
  Result<std::vector<std::vector<Suppressed>>> DropSuppressed(std::vector<spool::SpoolMessage>& messages);

  /// Hands each message that has a recipient to the spool; `done(ok, error)` runs once every one is on
  /// stable storage (or failed), on the spool's committer thread (or at once when none is left).
  void Submit(std::vector<spool::SpoolMessage> messages, std::function<void(bool, std::string)> done);
  /// One message: `done` receives its id, or why it was not stored.
  void Submit(spool::SpoolMessage message, std::function<void(Result<std::string>)> done);

 private:
  store::Store& store_;
  spool::Spool& spool_;
};

}  // namespace kurier::ingress
