// tracking_benchmark.cpp - the send path's and the click endpoint's CPU cost: rewriting the links of a
// typical 30 KB newsletter (40 links, each sealed into a click token), inserting the open pixel, and
// sealing and opening one click token.
#include <benchmark/benchmark.h>

#include "tracking/html_rewriter.hpp"
#include "tracking/token.hpp"

using namespace kurier::tracking;

namespace {

// A table-layout newsletter as email builders emit it: a <style> block, Outlook conditional comments,
// inline styles, and links with UTM parameters (&amp;-escaped), plus mailto and anchor links.
std::string Newsletter() {
  std::string h =
      "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" "
      "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\">"
      "<head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"><title>Spring sale</title>\n"
      "<style type=\"text/css\">body{margin:0;padding:0}table,td{border-collapse:collapse}"
      "a[x-apple-data-detectors]{color:inherit!important;text-decoration:none!important}"
      "@media only screen and (max-width:480px){.col{width:100%!important}}</style>\n"
      "<!--[if mso]><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch>"
      "</o:OfficeDocumentSettings></xml><![endif]-->\n</head>\n<body style=\"margin:0;padding:0;background:#f4f4f4\">\n"
      "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\">\n";
  int link = 0;
  while (link < 38) {
    for (int i = 0; i < 2; ++i, ++link) {
      h += "<tr><td class=\"col\" style=\"padding:16px 24px;font-family:Arial,Helvetica,sans-serif;font-size:16px;"
           "line-height:24px;color:#333333\">\n<a href=\"https://shop.example.com/products/item-" +
           std::to_string(link) +
           "?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=spring-sale-2026&amp;utm_content=item" +
           std::to_string(link) +
           "\" target=\"_blank\" style=\"color:#1a73e8;text-decoration:underline\">"
           "<img src=\"https://cdn.example.com/img/item-" +
           std::to_string(link) +
           ".jpg\" width=\"552\" alt=\"Product photo\" style=\"display:block;border:0;width:100%;height:auto\"></a>\n"
           "<p style=\"margin:0 0 12px 0\">Our spring collection is here: light fabrics, bright colours and "
           "prices that make room for one more. This week only, members get free shipping on every order, "
           "and returns are free for thirty days. Sizes run true; see the size guide for details.</p>\n"
           "</td></tr>\n";
    }
    h += "<tr><td style=\"padding:0 24px\"><!-- spacer --><div style=\"height:24px;line-height:24px;font-size:1px\">"
         "&nbsp;</div></td></tr>\n";
  }
  h += "<tr><td style=\"padding:24px;font-size:12px;color:#777777\">Questions? "
       "<a href=\"mailto:help@shop.example.com\">help@shop.example.com</a> or <a href=\"#top\">back to top</a>. "
       "<a href=\"https://shop.example.com/account/preferences?u=123&amp;t=abc\">Preferences</a> | "
       "<a href=\"https://shop.example.com/unsubscribe?u=123&amp;t=abc\">Unsubscribe</a></td></tr>\n"
       "</table>\n</body>\n</html>\n";
  return h;
}

const Key& BenchKey() {
  static const Key k = Key::FromSecret("benchmark secret, long enough!!").value();
  return k;
}

void BM_RewriteNewsletter(benchmark::State& state) {
  std::string html = Newsletter();
  TokenPayload base{TokenKind::kClick, "06h1c4sdtapge798m83v", 0, 42};
  std::size_t links = 0;
  for (auto _ : state) {
    RewriteResult r = RewriteLinks(html, [&](std::string_view url, std::size_t i) -> std::optional<std::string> {
      auto normal = NormalizeClickUrl(url);
      if (!normal || i > UINT16_MAX) return std::nullopt;
      TokenPayload p = base;
      p.link_index = static_cast<std::uint16_t>(i);
      p.url = std::move(*normal);
      auto t = SealToken(BenchKey(), p);
      if (!t) return std::nullopt;
      return "https://click.shop.example.com/c/" + *t;
    });
    std::string out = InsertOpenPixel(r.html, "https://click.shop.example.com/o/AQECABQwNmgxYzRzZHRhcGdlNzk4bTgzdh9V2FTcQb8TAvZ0a3caUrk");
    links = r.rewritten;
    benchmark::DoNotOptimize(out);
  }
  state.counters["links"] = static_cast<double>(links);
  state.counters["html_bytes"] = static_cast<double>(html.size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(html.size()));
}

void BM_RewriteNewsletterNoSealing(benchmark::State& state) {
  std::string html = Newsletter();
  for (auto _ : state) {
    RewriteResult r = RewriteLinks(html, [](std::string_view, std::size_t) {
      return std::optional<std::string>("https://click.shop.example.com/c/x");
    });
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(html.size()));
}

TokenPayload ClickPayload() {
  return TokenPayload{TokenKind::kClick, "06h1c4sdtapge798m83v", 3, 42, 7,
                      "https://shop.example.com/products/item-7?utm_source=newsletter&utm_medium=email&"
                      "utm_campaign=spring-sale-2026&utm_content=item7"};
}

void BM_SealClickToken(benchmark::State& state) {
  TokenPayload p = ClickPayload();
  for (auto _ : state) benchmark::DoNotOptimize(SealToken(BenchKey(), p));
  state.SetItemsProcessed(state.iterations());
}

void BM_OpenClickToken(benchmark::State& state) {
  std::string t = SealToken(BenchKey(), ClickPayload()).value();
  for (auto _ : state) benchmark::DoNotOptimize(OpenToken(BenchKey(), t));
  state.counters["token_chars"] = static_cast<double>(t.size());
  state.SetItemsProcessed(state.iterations());
}

void BM_OpenForgedToken(benchmark::State& state) {
  std::string t = SealToken(BenchKey(), ClickPayload()).value();
  t[t.size() - 3] = t[t.size() - 3] == 'A' ? 'B' : 'A';
  for (auto _ : state) benchmark::DoNotOptimize(OpenToken(BenchKey(), t));
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_RewriteNewsletter);
BENCHMARK(BM_RewriteNewsletterNoSealing);
BENCHMARK(BM_SealClickToken);
BENCHMARK(BM_OpenClickToken);
BENCHMARK(BM_OpenForgedToken);
BENCHMARK_MAIN();
