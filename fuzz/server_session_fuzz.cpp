// libFuzzer target: arbitrary client bytes into the SMTP server session, split into feeds at the
// positions the input chooses, with every request completed (alternating success and failure).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smtp/proto/server_session.hpp"

using namespace kurier::smtp::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  SessionConfig cfg;
  cfg.mode = (data[0] & 1) ? ListenerMode::kRelay : ListenerMode::kSubmission;
  cfg.limits.max_message_size = 4096;
  cfg.limits.max_data_line = 1000;
  cfg.limits.max_recipients = 5;
  ServerSession s(cfg);
  s.Greet();
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool flip = false;
  size_t step = 1 + (data[0] >> 1) % 64;
  for (size_t pos = 0; pos < in.size() && !s.closed(); pos += step) {
    s.Feed(in.substr(pos, step));
    for (int guard = 0; guard < 1000 && s.pending() != Request::kNone; ++guard) {
      flip = !flip;
      switch (s.pending()) {
        case Request::kStartTls: s.OnTlsStarted(); break;
        case Request::kAuthenticate: {
          AuthResult r;
          r.status = flip ? AuthResult::Status::kOk : AuthResult::Status::kInvalid;
          r.sender_domains = {"a.test"};
          s.OnAuthResult(r);
          break;
        }
        case Request::kStore: {
          std::string m = s.TakeMessage();
          if (m.size() > cfg.limits.max_message_size) __builtin_trap();
          s.OnStored(StoreResult{flip, "id", "x"});
          break;
        }
        default: break;
      }
    }
    (void)s.TakeOutput();
  }
  // Every timeout text, chosen by the input (slowloris replies).
  s.OnTimeout(static_cast<TimeoutKind>(size % 4));
  (void)s.TakeOutput();
  return 0;
}
