// encoding.hpp - base64 (RFC 4648) and small text helpers shared by the protocol cores (HTML escaping,
// RFC 6901 JSON-pointer tokens).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kurier {

std::string Base64Encode(std::string_view bin);
/// Strict RFC 4648 base64 with padding; nullopt when the input is not valid base64.
std::optional<std::string> Base64Decode(std::string_view text);
/// URL- and filename-safe base64 (RFC 4648 section 5: '-' and '_') without '=' padding.
std::string Base64UrlEncode(std::string_view bin);
/// Strict inverse of Base64UrlEncode: nullopt on padding, any character outside the alphabet, a length
/// that no encoding has, or non-zero trailing bits (so each byte string has exactly one encoding).
std::optional<std::string> Base64UrlDecode(std::string_view text);
std::string ToLowerAscii(std::string_view s);
bool IEquals(std::string_view a, std::string_view b);
bool IStartsWith(std::string_view s, std::string_view prefix);
bool IsAscii(std::string_view s);
/// `s` without leading and trailing spaces and tabs.
std::string_view TrimAscii(std::string_view s);
/// Length of the UTF-8 sequence at s[i] (1 to 4), or 0 when it is not a valid one (overlong forms,
/// surrogates and code points above U+10FFFF are invalid; RFC 3629).
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i);
/// True when `s` is valid UTF-8 (RFC 3629).
bool IsValidUtf8(std::string_view s);
/// Hex of BLAKE2b-256 of `data`.
std::string HashHex(std::string_view data);
/// `text` escaped for HTML text and quoted attribute values: & < > " ' as character references
/// (' as &#39;, since &apos; is not HTML 4, which some mail readers still are); every other byte kept.
std::string HtmlEscape(std::string_view text);
/// `name` as one reference token of an RFC 6901 JSON pointer: '~' as "~0", '/' as "~1".
std::string JsonPointerToken(std::string_view name);
/// Edits (insert, delete, replace, swap of two neighbours) that turn `a` into `b`: how far a typo is from
/// a name (optimal string alignment distance). For "did you mean" suggestions.
std::size_t EditDistance(std::string_view a, std::string_view b);
/// `items` joined by `separator` ("a, b, c"): lists of names in messages.
std::string Join(const std::vector<std::string>& items, std::string_view separator = ", ");

}  // namespace kurier
