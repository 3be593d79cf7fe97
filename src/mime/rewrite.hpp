// mime/rewrite.hpp - rewrites parts of a complete message kurier did not build (SMTP submissions, API
// sends tracked per recipient), leaving every other byte as it was; no I/O. RewriteEntities walks the
// MIME tree; RewriteHtmlParts (tracking) and FitLineLength (RFC 5322's 998-octet line limit) use it.
// STANDARDS: RFC 2045 (transfer encodings), RFC 2046 5.1 (multipart delimiters), RFC 2183
// (Content-Disposition), RFC 5322 2.1.1 and 2.2.3 (line length, folding).
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mime/parse.hpp"

namespace kurier::mime {

/// One entity of a message: its header block (each field with its line end), what separates it from
/// the body (the empty line), the body, and its parsed fields.
struct EntityView {
  std::string_view head, separator, body;
  const Headers& fields;
  const ContentType& type;
  int depth = 0;  ///< 0: the message itself
  bool has_body = true;  ///< false: the entity is all header (no empty line)
};

/// Rebuilds `message` with each leaf entity (any entity that is not multipart/*, at any depth) replaced by
/// what `leaf` returns (nullopt: kept as it was), and the header block of each multipart entity by what
/// `container_head` returns (may be empty; nullopt: kept). Everything else (preambles, boundaries, line
/// ends) stays byte for byte. nullopt when nothing changed. Bounded: 10 levels of nesting, 500 entities
/// (deeper or further ones are kept as they are).
std::optional<std::string> RewriteEntities(std::string_view message,
                                           const std::function<std::optional<std::string>(const EntityView&)>& leaf,
                                           const std::function<std::optional<std::string>(std::string_view head)>& container_head = {});

/// An entity's new text: its header block without Content-Transfer-Encoding fields, then
/// `Content-Transfer-Encoding: <encoding>`, the separator and `encoded_body` (in the entity's own line
/// ends, with a final line end where the old body had one).
std::string ReplaceBody(const EntityView& e, std::string_view encoding, std::string encoded_body);

/// Rewrites the HTML of a complete message that kurier did not build (SMTP submissions): every
/// text/html entity that is not an attachment, at any depth of multipart/*, is decoded (base64,
/// quoted-printable or as is), passed to `rewrite`, and, when that changed it, re-encoded as
/// quoted-printable with its Content-Transfer-Encoding field replaced. Everything else (other header
/// fields, other parts, preambles, boundaries, line ends) stays byte for byte. nullopt when nothing
/// changed. Parts in charsets that are not ASCII-compatible (UTF-16, UTF-32) are left alone. Bounded:
/// 10 levels of nesting, 500 entities.
std::optional<std::string> RewriteHtmlParts(std::string_view message,
                                            const std::function<std::string(std::string html)>& rewrite);

/// A message made to keep RFC 5322's line limit (2.1.1: at most 998 octets before CRLF), as mail must
/// leave: header lines longer than `limit` are folded at white space (2.2.3), in the message and in every
/// part; a part whose body has a longer line is re-encoded (text as quoted-printable, other types as
/// base64, RFC 2045 6.7-6.8; quoted-printable and base64 bodies decoded first), its
/// Content-Transfer-Encoding replaced (and MIME-Version: 1.0 added to a message that had none); a
/// message/rfc822 part is fitted itself. `text` nullopt: nothing needed changing. `error` when a line
/// cannot be fitted (a header line with no white space to fold at, a long line in a multipart preamble):
/// what and which line, to refuse the message with.
struct LineFit {
  std::optional<std::string> text;
  std::string error;
};
LineFit FitLineLength(std::string_view message, std::size_t limit = 998);

/// Offset of the first line of `text` longer than `limit` octets (its CRLF or LF not counted), or npos.
std::size_t FirstLongLine(std::string_view text, std::size_t limit);

}  // namespace kurier::mime
