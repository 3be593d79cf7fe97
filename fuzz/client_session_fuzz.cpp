// libFuzzer target: arbitrary server replies into the outbound client session, with messages
// started whenever it is ready; checks that the data it writes never has a bare CR or LF.
#include <cstddef>
#include <cstdint>
#include <string>

#include "smtp/proto/client_session.hpp"

using namespace kurier::smtp::proto;

static void CheckCrlf(const std::string& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) __builtin_trap();
    if (out[i] == '\r' && (i + 1 >= out.size() || out[i + 1] != '\n')) __builtin_trap();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ClientConfig cfg;
  cfg.tls = static_cast<TlsMode>(data[0] % 3);
  ClientSession c(cfg);
  std::string body = "Subject: f\n\n.dot\rline\r\n";
  OutboundMessage m;
  m.mail_from = "a@b.test";
  m.recipients = {"c@d.test", "e@f.test"};
  m.smtputf8 = data[1] & 1;
  m.data = body;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  size_t step = 1 + data[1] % 32;
  for (size_t pos = 0; pos < in.size(); pos += step) {
    c.Feed(in.substr(pos, step));
    switch (c.status()) {
      case ClientSession::Status::kNeedTls: c.OnTlsStarted(); break;
      case ClientSession::Status::kReady: c.StartMessage(m); break;
      case ClientSession::Status::kMessageDone:
        if (c.TakeResults().size() != m.recipients.size()) __builtin_trap();
        break;
      default: break;
    }
    CheckCrlf(c.TakeOutput());
    if (c.status() == ClientSession::Status::kClosed) break;
  }
  return 0;
}
