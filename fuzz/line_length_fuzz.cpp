// libFuzzer target: FitLineLength (mime/rewrite.cpp), which ingress runs on every message it accepts,
// on arbitrary messages with a small line limit (so that long lines are easy to reach): it never
// crashes; what it returns keeps the limit on every line; and fitting its result again changes nothing.
// STANDARDS: RFC 5322 2.1.1.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mime/rewrite.hpp"

namespace {
std::size_t Longest(std::string_view text) {
  std::size_t longest = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t eol = text.find('\n', pos);
    std::size_t end = eol == std::string_view::npos ? text.size() : eol;
    std::size_t len = end - pos - (end > pos && text[end - 1] == '\r' ? 1 : 0);
    if (len > longest) longest = len;
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return longest;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::size_t limit = 78 + data[0] % 64;  // quoted-printable and base64 lines (76) always fit
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  auto fit = kurier::mime::FitLineLength(in, limit);
  if (!fit.error.empty()) {
    if (fit.text) std::abort();
    return 0;
  }
  const std::string_view out = fit.text ? std::string_view(*fit.text) : in;
  if (Longest(out) > limit) std::abort();
  if (fit.text) {
    auto again = kurier::mime::FitLineLength(out, limit);
    if (!again.error.empty() || again.text) std::abort();
  }
  return 0;
}
