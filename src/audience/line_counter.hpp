// line_counter.hpp - physical line numbers of text read octet by octet, as the CSV reader and the charset
// converter report them: LF, CR not followed by LF, and CRLF each end one line.
#pragma once
#include <cstddef>

namespace kurier::audience {

struct LineCounter {
  std::size_t line = 1;  ///< the physical line of the next octet
  bool prev_cr = false;
  void Count(char c) {
    if (c == '\n') {
      if (!prev_cr) ++line;
      prev_cr = false;
    } else if (c == '\r') {
      ++line;
      prev_cr = true;
    } else {
      prev_cr = false;
    }
  }
};

}  // namespace kurier::audience
