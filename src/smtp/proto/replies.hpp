// replies.hpp - the one table of every SMTP reply kurier's server sends: code, enhanced status code
// (RFC 3463, advertised with ENHANCEDSTATUSCODES, RFC 2034) and text that says what to do.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>

#include "smtp/proto/reply_parser.hpp"

namespace kurier::smtp::proto {

enum class ReplyId {
  kBye, kOk, kSenderOk, kRecipientOk, kQueued, kChunkReceived, kAuthOk, kStartData, kTlsReady, kVrfy, kHelp,
  kTooManyCommands, kTooManyErrors, kShuttingDown, kTooManyConnections, kTooManyConnectionsFromIp,
  kStorageFailed, kTooManyRecipients, kAuthTempFail, kTlsUnavailable,
  kLineTooLong, kBareLfCommand, kUnknownCommand, kHeloSyntax, kBadSender, kBadRecipient, kSyntax,
  kAuthCancelled, kAuthBadBase64, kNotImplemented, kNeedHelo, kNestedMail, kNeedMail, kNoValidRecipients,
  kAlreadyAuthenticated, kAuthInTransaction, kDataAfterBdat, kTlsActive, kUnknownMechanism, kAuthRequired,
  kAuthInvalid, kEncryptionRequired, kMessageTooBig, kDataLineTooLong, kBareNewlineInData, kNulInData,
  kRelayDenied, kNotBounceDomain, kNullSenderRefused, kNeedSmtputf8, kUnsupportedParam, kUnsupportedBody, kBdatSyntax,
  kAuthzidMismatch, kClientNotAllowed, kBadSubmissionOption, kRecipientRefused, kInternalError,
  // Replies delivery makes up itself for a recipient when no server said anything (ServerReply::lines
  // hold "ENH TEXT"): a route that cannot be used, a connection that fails, a message it cannot prepare.
  kRouteNxDomain, kRouteNullMx, kRouteTempFail, kRelayUnresolved, kMxHostUnresolved, kEveryRouteFailed,
  kNoServerReachable, kBadAddress, kCannotConnect, kTlsHandshakeFailed, kConnectionFailed, kPrepareFailed,
  kNoGreeting, kNoAnswer, kConnectionLost,
  kTestModeNotSent,
};

struct ReplyInfo {
  int code;
  std::string_view enhanced;  ///< empty for replies without one (354, 334)
  std::string_view text;      ///< may hold one "{}" that the caller fills in
};

const ReplyInfo& Lookup(ReplyId id);

/// "CODE ENH TEXT\r\n" with `arg` substituted for "{}".
std::string FormatReply(ReplyId id, std::string_view arg = {});
/// The same with a text of the caller's (for replies whose text is computed, e.g. the sender check).
std::string FormatReply(int code, std::string_view enhanced, std::string_view text);
/// A reply kurier decided itself (delivery's "local" replies), as if a server had sent it but marked
/// `local` (events say so, DSNs name no remote MTA for it): each "{}" of the text is filled with the
/// next of `args`, in order.
ServerReply LocalReply(ReplyId id, std::initializer_list<std::string_view> args = {});

}  // namespace kurier::smtp::proto
