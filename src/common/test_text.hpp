// test_text.hpp - text helpers shared by unit tests (not linked into kurier).
#pragma once
#include <string>
#include <string_view>

namespace kurier::test_text {

/// `s` with every LF preceded by a CR: test messages are written with "\n" and fed as mail (CRLF).
inline std::string Crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 32);
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace kurier::test_text
