// libFuzzer target: MAIL/RCPT argument parsing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "smtp/proto/command_parser.hpp"

using namespace kurier::smtp::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string err;
  Command c = ParseCommand(in);
  (void)ParsePathArgument(c.args, "FROM:", true, err);
  (void)ParsePathArgument(c.args, "TO:", false, err);
  (void)ParseMailbox(in, err);
  return 0;
}
