// libFuzzer target: the X-Kurier-* submission options (ingress/prepare.cpp) on arbitrary messages
// from authenticated senders never crash; removing the fields keeps the body byte for byte and leaves
// no option behind; what is read is valid JSON within the documented bounds.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "ingress/prepare.hpp"
#include "mime/header_fields.hpp"

using namespace kurier::ingress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto o = ReadSubmissionOptions(in);
  if (o.error.empty()) {
    auto tags = boost::json::parse(o.tags);
    if (!tags.is_array() || tags.as_array().size() > 20) std::abort();
    for (const auto& t : tags.as_array())
      if (t.as_string().empty() || t.as_string().size() > 128) std::abort();
    if (!boost::json::parse(o.metadata).is_object() || o.metadata.size() > 10000) std::abort();
  }
  const std::string out = RemoveSubmissionOptionFields(in);
  const std::string_view body = in.substr(kurier::mime::HeaderSectionEnd(in));
  if (out.size() > in.size() || out.compare(out.size() - body.size(), body.size(), body) != 0) std::abort();
  auto again = ReadSubmissionOptions(out);
  if (!again.error.empty() || again.tags != "[]" || again.metadata != "{}" || again.track_opens || again.track_clicks ||
      again.list_unsubscribe)
    std::abort();
  return 0;
}
