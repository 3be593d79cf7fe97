// header_fields.hpp - the header section of a message as kurier holds it (CRLF lines): where it ends,
// which fields it has, each field's extent and unfolded value. I/O-free; no allocation to walk it.
// STANDARDS: RFC 5322 2.2 (header fields), 2.2.3 (unfolding), 2.1 (the empty line ending the header).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace kurier::mime {

/// Offset just past the header section's last line (where the empty line or the body starts).
std::size_t HeaderSectionEnd(std::string_view message);

/// Calls fn(name, start, end) for each field of the header section, in order, until fn returns false:
/// message[start, end) is the whole field, its continuation lines and CRLFs included.
template <typename Fn>
void ForEachField(std::string_view m, Fn fn) {
  const std::string_view headers = m.substr(0, HeaderSectionEnd(m));
  auto next_line = [&](std::size_t p) {
    auto eol = headers.find("\r\n", p);
    return eol == std::string_view::npos ? headers.size() : eol + 2;
  };
  std::size_t pos = 0;
  while (pos < headers.size()) {
    const std::size_t start = pos;
    std::size_t end = next_line(pos);
    while (end < headers.size() && (headers[end] == ' ' || headers[end] == '\t')) end = next_line(end);
    const std::string_view first = headers.substr(start, next_line(start) - start);
    const auto colon = first.find(':');
    if (colon != std::string_view::npos && first.front() != ' ' && first.front() != '\t') {
      std::string_view name = first.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (!fn(name, start, end)) return;
    }
    pos = end;
  }
}

/// The value of the field message[start, end): unfolded (RFC 5322 2.2.3), surrounding blanks trimmed.
std::string FieldValue(std::string_view message, std::size_t start, std::size_t end);

/// True when the header section has a field named `name` (case-insensitive).
bool HasHeader(std::string_view message, std::string_view name);

}  // namespace kurier::mime
