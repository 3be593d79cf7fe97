// parse.hpp - a small, bounded MIME reader for messages that arrive from other mail systems (bounces,
// complaints, auto-replies); no I/O. It never fails: damaged input yields whatever structure can be
// recovered, and every limit (size, nesting depth, number of parts, header fields) is enforced.
// STANDARDS: RFC 5322 (header fields, folding), RFC 2045 (Content-Type, base64, quoted-printable),
// RFC 2046 (multipart, message/rfc822), RFC 2047 (encoded words), RFC 2231 (parameter continuations).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kurier::mime {

/// Limits applied by Parse; input beyond them is ignored, never an error.
struct Limits {
  std::size_t max_input = 10 * 1024 * 1024;  ///< octets read from the raw message
  int max_depth = 10;                        ///< nesting of multipart and message/rfc822 entities
  std::size_t max_parts = 500;               ///< entities in the whole tree
  std::size_t max_fields = 1000;             ///< header fields kept per entity
};

/// One header field: `name` as written, `value` unfolded (RFC 5322 2.2.3) with surrounding white space
/// trimmed; encoded words are left as they are (see DecodeEncodedWords).
struct Field {
  std::string name;
  std::string value;
};

/// The header fields of one entity, in order; lookups ignore the case of the name.
class Headers {
 public:
  /// The first field called `name`, or nullopt.
  std::optional<std::string_view> Get(std::string_view name) const;
  /// Every field called `name`, in order.
  std::vector<std::string_view> GetAll(std::string_view name) const;
  const std::vector<Field>& fields() const { return fields_; }
  bool empty() const { return fields_.empty(); }
  void Add(std::string name, std::string value) { fields_.push_back({std::move(name), std::move(value)}); }

 private:
  std::vector<Field> fields_;
};

/// A parsed Content-Type: type and subtype lowercased, parameter names lowercased, values unquoted and
/// RFC 2231 continuations joined (the charset/language prefix of an extended value is dropped).
struct ContentType {
  std::string type = "text";
  std::string subtype = "plain";
  std::vector<std::pair<std::string, std::string>> params;

  std::string MimeType() const { return type + "/" + subtype; }
  /// The value of parameter `name` (lowercase), or "" when absent.
  std::string_view Param(std::string_view name) const;
};

/// One MIME entity. A multipart entity has its body parts in `parts`; a message/rfc822 (or message/global)
/// entity has the enclosed message as its single part. `body` is the transfer-decoded content of a leaf
/// (raw octets in its own charset; see `charset()`), and empty for a multipart entity.
struct Entity {
  Headers headers;
  ContentType content_type;
  std::string body;
  std::vector<Entity> parts;

  bool IsMultipart() const { return content_type.type == "multipart"; }
  std::string_view charset() const { return content_type.Param("charset"); }
};

/// Parses a whole message (header, blank line, body). LF-only and CRLF line ends are both accepted; a
/// leading mbox "From " line is skipped. Bounded by `limits`; never throws on malformed input.
Entity Parse(std::string_view raw, const Limits& limits = {});

/// Splits a message into its header block and its body at the first empty line (CRLF or LF). When there
/// is no empty line, everything is header.
std::pair<std::string_view, std::string_view> SplitHeaderBody(std::string_view raw);

/// Reads a header block into fields: unfolds continuation lines, skips lines that are not fields.
Headers ParseHeaders(std::string_view block, std::size_t max_fields = 1000);

/// Parses a Content-Type value; an empty or unusable value yields text/plain.
ContentType ParseContentType(std::string_view value);

/// Lenient base64: characters outside the alphabet are skipped, decoding stops at padding.
std::string DecodeBase64(std::string_view text);

/// Quoted-printable (RFC 2045 6.7): soft line breaks removed, malformed escapes kept as written.
std::string DecodeQuotedPrintable(std::string_view text);

/// Decodes `body` according to a Content-Transfer-Encoding value (base64, quoted-printable; anything else
/// is returned unchanged).
std::string DecodeTransferEncoding(std::string_view body, std::string_view encoding);

/// Converts `text` from `charset` to UTF-8 (through iconv). us-ascii and utf-8 are returned unchanged;
/// nullopt for an unknown charset or input that does not convert.
std::optional<std::string> ToUtf8(std::string_view text, std::string_view charset);

/// Decodes RFC 2047 encoded words ("=?charset?B|Q?...?=") into UTF-8; white space between adjacent
/// encoded words is dropped (RFC 2047 6.2). A word in a charset that cannot be converted is left as is.
std::string DecodeEncodedWords(std::string_view value);

/// Every entity of the tree in document order (depth first), the root first.
std::vector<const Entity*> Flatten(const Entity& root);

}  // namespace kurier::mime
