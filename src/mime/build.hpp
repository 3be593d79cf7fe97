// mime/build.hpp - builds a complete Internet message (headers and MIME body) from the fields of an API request;
// no I/O. Plain std types only, so the HTTP layer, the spool and tests can include it freely.
// STANDARDS: RFC 5322 (message format, folding), RFC 2045-2047 (MIME, quoted-printable, base64, encoded
// words), RFC 2231 (parameter value continuations and charsets), RFC 2183 (Content-Disposition),
// RFC 2387 (multipart/related).
#pragma once
#include <cstdint>
#include <optional>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "mime/encode.hpp"  // the encoders it is built from (QP, base64 lines, encoded words)

namespace kurier::mime {

/// A mailbox: `email` is an addr-spec ("user@example.com"), `name` an optional display name in UTF-8.
struct Address {
  std::string email;
  std::string name;
};

struct Attachment {
  std::string filename;      ///< UTF-8; required
  std::string content_type;  ///< "type/subtype" with optional parameters; empty: guessed from the file name
  std::string content;       ///< raw bytes (already base64-decoded by the caller)
  std::string content_id;    ///< empty for a normal attachment; set ("logo" or "<logo@x>") for an inline one
};

struct MessageSpec {
  Address from;
  std::vector<Address> to, cc;
  std::vector<Address> bcc;  ///< validated only: envelope recipients, never written into a header
  std::vector<Address> reply_to;
  std::string subject;  ///< UTF-8; empty: no Subject field
  std::string text;     ///< text/plain body, UTF-8, any line ending
  std::string html;     ///< text/html body, UTF-8, any line ending
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra fields, in order (see ValidateCustomHeader)
  std::vector<Attachment> attachments;
  std::string message_id_domain;  ///< right-hand side of a generated Message-ID; empty: the From domain
  int64_t date = 0;               ///< Unix seconds for Date: (up to year 9999); 0: now
  std::string message_id;         ///< "id@domain" with or without <>; empty: generated
};

/// One invalid field: `pointer` is an RFC 6901 JSON pointer named after the MessageSpec fields as the HTTP
/// API spells them ("/to/2/email", "/attachments/0/filename", "/headers/X-Campaign"), `detail` says what is
/// wrong and what to do.
struct Problem {
  std::string pointer;
  std::string detail;
};

/// Nullopt when `email` is an ASCII addr-spec kurier can put into a header and an SMTP envelope
/// (RFC 5321 mailbox, at most 254 octets); otherwise what is wrong with it.
std::optional<std::string> ValidateAddress(std::string_view email);

/// An address as API clients write it: "jane@example.com" (taken as it is; ValidateAddress checks it) or
/// "Jane <jane@example.com>" (RFC 5322 3.4 name-addr, exactly one mailbox; encoded words in the name
/// decoded), as other services accept. Nullopt when it is not one mailbox, with `error` saying why when
/// the parser could (else empty).
std::optional<Address> ParseAddressText(std::string_view text, std::string& error);

/// Nullopt when `name` can be a display name: valid UTF-8, no control characters (CR, LF, NUL, ...),
/// at most kMaxNameBytes octets.
std::optional<std::string> ValidateDisplayName(std::string_view name);

/// Nullopt when `name: value` may be added to a message as an extra header field: the name is RFC 5322
/// ftext (printable ASCII except ':' and space, at most 76 octets) and not a field kurier writes or that
/// asserts trace or authentication results (IsReservedHeader); the value is valid UTF-8 without CR, LF, NUL
/// or other control characters except tab, and every run without white space is short enough to keep
/// each line under 998 octets. Non-ASCII values are written as RFC 2047 encoded words.
std::optional<std::string> ValidateCustomHeader(std::string_view name, std::string_view value);

/// True for the fields an API caller may not set, compared case-insensitively: From, To, Cc, Bcc, Subject,
/// Date, Message-ID, MIME-Version, Reply-To, Sender, Return-Path, Received, DKIM-Signature,
/// Authentication-Results, every Content-* and every ARC-* field.
bool IsReservedHeader(std::string_view name);

/// Every problem in `spec` that BuildMessage would refuse, in field order; empty when it can be built.
/// Besides the per-field checks above: at least one recipient (to, cc or bcc), at least one of text, html
/// or an attachment, subject valid UTF-8 without control characters other than tab.
std::vector<Problem> ValidateMessageSpec(const MessageSpec& spec);

/// The complete message with CRLF line endings, 7-bit clean (text parts are 7bit, quoted-printable or
/// base64, whichever is shortest and correct; attachments base64), header lines folded at 76 octets
/// where a fold point exists and never longer than 998. Structure: text and html make
/// multipart/alternative (text first); inline attachments (content_id set) join the html in
/// multipart/related; other attachments (and inline ones when there is no html) make multipart/mixed
/// outermost. Attachment names: ASCII as filename="..."; otherwise only RFC 2231 (filename*=utf-8''...,
/// continued as filename*0*, filename*1*, ... when long) in Content-Disposition, with RFC 2047 words in
/// the Content-Type name parameter for readers without RFC 2231. Boundaries are random and checked
/// against the encoded content. Fails with
/// kInvalidArgument naming the first problems of ValidateMessageSpec.
Result<std::string> BuildMessage(const MessageSpec& spec);

inline constexpr std::size_t kMaxNameBytes = 256;      ///< display names
inline constexpr std::size_t kMaxSubjectBytes = 998;   ///< subject before encoding
inline constexpr std::size_t kMaxFilenameBytes = 255;  ///< attachment file names

}  // namespace kurier::mime
