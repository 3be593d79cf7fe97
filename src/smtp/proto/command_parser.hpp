// command_parser.hpp - RFC 5321 command lines, paths and ESMTP parameters; no I/O.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kurier::smtp::proto {

enum class Verb { kHelo, kEhlo, kMail, kRcpt, kData, kBdat, kRset, kNoop, kQuit, kVrfy, kExpn, kHelp, kStartTls, kAuth, kUnknown };

struct Command {
  Verb verb = Verb::kUnknown;
  std::string_view verb_text;  ///< as sent
  std::string_view args;       ///< the rest after one space, untrimmed on the right
};

/// Splits a command line (without its CRLF) into verb and arguments. Verbs are case-insensitive.
Command ParseCommand(std::string_view line);

struct EsmtpParam {
  std::string keyword;  ///< upper-cased
  std::optional<std::string> value;
};

/// A mailbox as in RFC 5321 4.1.2. The null reverse-path "<>" has both parts empty.
struct Mailbox {
  std::string local_part;
  std::string domain;
  bool IsNull() const { return local_part.empty() && domain.empty(); }
  bool IsAscii() const;
  std::string ToString() const { return IsNull() ? std::string() : domain.empty() ? local_part : local_part + "@" + domain; }
};

struct PathArgument {
  Mailbox mailbox;
  std::vector<EsmtpParam> params;
};

/// Parses the argument of MAIL ("FROM:<path> params") or RCPT ("TO:<path> params").
/// `keyword` is "FROM:" or "TO:". On failure `error` says what is wrong, for the reply text.
std::optional<PathArgument> ParsePathArgument(std::string_view args, std::string_view keyword, bool allow_null,
                                              std::string& error);

/// Parses a mailbox (local-part "@" domain) on its own; UTF-8 is accepted (RFC 6531), the caller decides
/// whether SMTPUTF8 allows it.
std::optional<Mailbox> ParseMailbox(std::string_view text, std::string& error);

/// True when `domain` is a syntactically valid RFC 5321 Domain or address-literal.
bool IsValidDomain(std::string_view domain);

}  // namespace kurier::smtp::proto
