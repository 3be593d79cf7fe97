// mime/encode.hpp - the encoders the MIME builder writes with (and the send path's HTML rewriting
// re-encodes with): quoted-printable, base64 in lines, RFC 2047 encoded words, line-end normalisation.
// No I/O; plain std types only.
// STANDARDS: RFC 2045 6.7-6.8 (quoted-printable, base64), RFC 2047 (encoded words), RFC 5322 2.1 (CRLF).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kurier::mime {

/// Quoted-printable (RFC 2045 6.7) of `data`, whose line breaks are CRLF: CRLF stays a hard line break,
/// every other byte outside printable ASCII (and '=') is =XX, white space before a line break is encoded,
/// encoded lines are at most 76 characters with '=' soft breaks.
std::string EncodeQuotedPrintable(std::string_view data);

/// Base64 in lines of 76 characters, each followed by CRLF.
std::string EncodeBase64Lines(std::string_view data);

/// `text` as RFC 2047 encoded words ("=?utf-8?B?...?=" or "=?utf-8?Q?...?=", whichever is shorter), each
/// at most 75 characters, never splitting a UTF-8 sequence and preferably cut after a space; the first at
/// most `first_max` characters (when at least 24, room for any one character). Safe in a phrase (display
/// name) as well as in unstructured text. `text` must be valid UTF-8.
std::vector<std::string> EncodeWords(std::string_view text, std::size_t first_max = 75);

/// Converts any mix of CRLF, bare LF and bare CR to CRLF.
std::string NormalizeLineEndings(std::string_view text);

/// Appends `prefix` and the two upper-case hex digits of `c` ("=3D", "%2F").
void AppendHex(std::string& out, char prefix, unsigned char c);

}  // namespace kurier::mime
