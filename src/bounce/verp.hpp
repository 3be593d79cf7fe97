// verp.hpp - VERP return paths (variable envelope return path): each message leaves with its own
// signed envelope sender, bounces+TOKEN@<return-path domain>, so a bounce that comes back names the
// message even when it quotes nothing of it. No I/O.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace kurier::bounce {

/// "bounces+<message id>-<tag>" where tag is a truncated HMAC-SHA256 of the id under `secret`, in
/// lower-case base32 (local parts are case-insensitive in practice). `prefix` is the part before '+'.
std::string VerpLocalPart(std::string_view secret, std::string_view message_id, std::string_view prefix = "bounces");

/// The message id of a local part made by VerpLocalPart with the same secret (any prefix, any case);
/// nullopt when it is not one or its tag does not verify.
std::optional<std::string> VerpMessageId(std::string_view secret, std::string_view local_part);

/// "unsubscribe+<message id>-<tag>": the mailto: List-Unsubscribe address of a message (RFC 2369),
/// at its return-path domain. Its tag is made for this purpose only, so neither kind of address can
/// be turned into the other.
std::string UnsubscribeLocalPart(std::string_view secret, std::string_view message_id);

/// The message id of a local part made by UnsubscribeLocalPart with the same secret (any case).
std::optional<std::string> UnsubscribeMessageId(std::string_view secret, std::string_view local_part);

/// The message id of the first VERP address (made with `secret`) found in `text`, e.g. a Return-Path.
std::optional<std::string> FindVerpMessageId(std::string_view secret, std::string_view text);

}  // namespace kurier::bounce
