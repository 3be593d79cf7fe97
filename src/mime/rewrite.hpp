// mime/rewrite.hpp - rewrites the HTML parts of a complete message kurier did not build (SMTP
// submissions, API sends tracked per recipient), leaving every other byte as it was; no I/O.
// STANDARDS: RFC 2045 (transfer encodings), RFC 2046 5.1 (multipart delimiters), RFC 2183
// (Content-Disposition).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace kurier::mime {

/// Rewrites the HTML of a complete message that kurier did not build (SMTP submissions): every
/// text/html entity that is not an attachment, at any depth of multipart/*, is decoded (base64,
/// quoted-printable or as is), passed to `rewrite`, and, when that changed it, re-encoded as
/// quoted-printable with its Content-Transfer-Encoding field replaced. Everything else (other header
/// fields, other parts, preambles, boundaries, line ends) stays byte for byte. nullopt when nothing
/// changed. Parts in charsets that are not ASCII-compatible (UTF-16, UTF-32) are left alone. Bounded:
/// 10 levels of nesting, 500 entities.
std::optional<std::string> RewriteHtmlParts(std::string_view message,
                                            const std::function<std::string(std::string html)>& rewrite);

}  // namespace kurier::mime
