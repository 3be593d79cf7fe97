// header_fields.cpp - see header_fields.hpp. STANDARDS: RFC 5322 2.2, 2.2.3.
#include "mime/header_fields.hpp"

#include "common/encoding.hpp"

namespace kurier::mime {

std::size_t HeaderSectionEnd(std::string_view m) {
  if (m.substr(0, 2) == "\r\n") return 0;
  auto p = m.find("\r\n\r\n");
  if (p != std::string_view::npos) return p + 2;
  return m.size();  // headers only, or no separator: the whole message is the header section
}

std::string FieldValue(std::string_view m, std::size_t start, std::size_t end) {
  std::string_view field = m.substr(start, end - start);
  field.remove_prefix(field.find(':') + 1);
  std::string v;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\r' && i + 1 < field.size() && field[i + 1] == '\n') {
      ++i;  // a line break inside a field is folding
      continue;
    }
    v += field[i];
  }
  return std::string(TrimAscii(v));
}

bool HasHeader(std::string_view m, std::string_view name) {
  bool found = false;
  ForEachField(m, [&](std::string_view field, std::size_t, std::size_t) { return !(found = IEquals(field, name)); });
  return found;
}

}  // namespace kurier::mime
