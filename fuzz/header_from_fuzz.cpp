// libFuzzer target: arbitrary bytes as an address-list value and as a message header, through the RFC
// 5322 address-list parser and the header sender check (src/smtp/proto/header_from.hpp).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smtp/proto/header_from.hpp"

using namespace kurier::smtp::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  AddressList l = ParseAddressList(in);
  for (const auto& a : l.addresses)
    if (a.domain.empty()) __builtin_trap();  // every mailbox found has a domain
  SenderRules rules{"acct", {"a.test", "b.test"}, (size & 1) != 0, {"a.test"}};
  HeaderSenderCheck c = CheckHeaderSenders(in, rules);
  if (c.verdict != HeaderSenderCheck::Verdict::kOk && c.reason.empty()) __builtin_trap();
  return 0;
}
