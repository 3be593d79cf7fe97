// dkim_benchmark.cpp - signing a 10 KB message (canonicalization, body hash, signature) with RSA-2048
// and Ed25519; bench/run.sh prints the rates beside `openssl speed` measured in the same run.
#include <benchmark/benchmark.h>

#include "dkim/signer.hpp"

using namespace kurier::dkim;

static std::string Message() {
  std::string m = "From: Shop <orders@shop.test>\r\nTo: customer@example.net\r\nSubject: Your order 12345\r\n"
                  "Date: Thu, 26 Nov 2026 04:00:00 +0000\r\nMessage-ID: <12345@shop.test>\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  while (m.size() < 10240) m += "Thank you for your order. Your items will ship soon; track them in your account.\r\n";
  return m;
}

static void Sign(benchmark::State& state, Algorithm a) {
  auto key = PrivateKey::Generate(a);
  std::string msg = Message();
  SignOptions o;
  o.domain = "shop.test";
  o.selector = "s1";
  o.timestamp = 1800000000;
  o.headers = DefaultSignedHeaders(msg);
  for (auto _ : state) benchmark::DoNotOptimize(kurier::dkim::Sign(msg, key.value(), o));
  state.SetItemsProcessed(state.iterations());
}
static void BM_SignRsa2048(benchmark::State& s) { Sign(s, Algorithm::kRsaSha256); }
static void BM_SignEd25519(benchmark::State& s) { Sign(s, Algorithm::kEd25519Sha256); }
BENCHMARK(BM_SignRsa2048)->MinTime(2);
BENCHMARK(BM_SignEd25519)->MinTime(2);
BENCHMARK_MAIN();
