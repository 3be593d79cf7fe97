// libFuzzer target: click-tracking link rewriting and open-pixel insertion on arbitrary HTML.
// Properties: declining every link gives back the input byte for byte; rewriting every link to a URL
// full of characters that need escaping changes no structure (scanning the output offers the same
// number of links, each decoding to exactly that URL); the pixel always lands once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tracking/html_rewriter.hpp"

using namespace kurier::tracking;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  RewriteResult same = RewriteLinks(in, [](std::string_view, std::size_t) { return std::nullopt; });
  if (same.html != in || same.rewritten != 0 || !same.urls.empty()) std::abort();

  static const std::string kUrl = "https://t.example/c/T?a=1&b=\"2'<>&amp;";
  RewriteResult all = RewriteLinks(in, [](std::string_view url, std::size_t) {
    auto lower = [](char c) { return static_cast<char>(c | 0x20); };
    bool http = url.size() >= 7 && lower(url[0]) == 'h' && lower(url[1]) == 't' && lower(url[2]) == 't' &&
                lower(url[3]) == 'p' &&
                (url.substr(4, 3) == "://" || (lower(url[4]) == 's' && url.substr(5, 3) == "://"));
    if (!http) std::abort();  // only http(s) URLs are ever offered
    return std::optional<std::string>(kUrl);
  });
  if (all.rewritten != same.candidates || all.complete != same.complete) std::abort();
  std::size_t seen = 0;
  RewriteResult again = RewriteLinks(all.html, [&](std::string_view url, std::size_t) {
    if (seen < all.rewritten && url != kUrl) std::abort();
    ++seen;
    return std::nullopt;
  });
  if (again.candidates != all.rewritten || again.html != all.html) std::abort();

  std::string with_pixel = InsertOpenPixel(in, "https://t.example/o/P");
  if (with_pixel.size() <= in.size()) std::abort();
  return 0;
}
