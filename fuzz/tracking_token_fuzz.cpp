// libFuzzer target: OpenToken on arbitrary bytes (the path of a tracking URL, from anyone) never
// crashes, and whatever it accepts seals back to the same token with the same key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tracking/token.hpp"

using namespace kurier::tracking;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Key kKey = Key::FromSecret("fuzzing secret, 32 bytes or so..").value();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)IsSafeRedirectUrl(in);
  if (auto u = NormalizeClickUrl(in); u && !IsSafeRedirectUrl(*u)) std::abort();
  auto p = OpenToken(kKey, in);
  if (p) {
    auto t = SealToken(kKey, *p);
    if (!t || *t != in) std::abort();
  }
  // A click payload built from the input: sealing either fails or opens back to the same payload.
  TokenPayload click{TokenKind::kClick, "m1", static_cast<std::uint32_t>(size), -static_cast<std::int64_t>(size),
                     static_cast<std::uint16_t>(size), std::string(in)};
  if (auto t = SealToken(kKey, click)) {
    auto back = OpenToken(kKey, *t);
    if (!back || !(*back == click)) std::abort();
  }
  return 0;
}
