// session_benchmark.cpp - CPU cost of the SMTP server session core for one 4 KiB message
// transaction (EHLO, MAIL, RCPT, DATA, QUIT), without sockets or storage.
#include <benchmark/benchmark.h>

#include "smtp/proto/server_session.hpp"

using namespace kurier::smtp::proto;

static void BM_RelayTransaction(benchmark::State& state) {
  SessionConfig cfg;
  cfg.mode = ListenerMode::kRelay;
  std::string body;
  while (body.size() < 4096) body += "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxy\r\n";
  std::string input = "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n" + body + ".\r\nQUIT\r\n";
  for (auto _ : state) {
    ServerSession s(cfg);
    s.Greet();
    s.Feed(input);
    if (s.pending() == Request::kStore) {
      benchmark::DoNotOptimize(s.TakeMessage());
      s.OnStored(StoreResult{true, "id", ""});
    }
    benchmark::DoNotOptimize(s.TakeOutput());
  }
  state.SetBytesProcessed(state.iterations() * input.size());
}
BENCHMARK(BM_RelayTransaction);
BENCHMARK_MAIN();
