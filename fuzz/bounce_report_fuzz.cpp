// libFuzzer target: the bounce/complaint/auto-reply parser (and the MIME reader and classifier under it)
// on arbitrary bytes, as the bounce listener would receive them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bounce/classify.hpp"
#include "bounce/report.hpp"
#include "mime/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  kurier::bounce::Report report = kurier::bounce::ParseReport(in);
  for (const auto& r : report.recipients)
    if (r.reason.empty()) std::abort();  // every recipient is classified
  (void)kurier::mime::DecodeEncodedWords(in);
  (void)kurier::bounce::ClassifyReply(550, "", in);
  return 0;
}
