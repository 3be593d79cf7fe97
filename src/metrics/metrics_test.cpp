// Tests of the Prometheus text exposition (metrics.hpp) and of the provider names the delivery figures
// are broken down by (delivery/providers.hpp).
#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include "delivery/providers.hpp"

namespace kurier::metrics {
namespace {

TEST(Metrics, RendersCountersGaugesAndHistogramsInTheTextFormat) {
  Registry r;
  r.Define("t_accepted_total", "counter", "Accepted.");
  r.Define("t_queue", "gauge", "Queue.");
  r.DefineHistogram("t_commit_seconds", "Commits.", {0.01, 0.1});
  r.Add("t_accepted_total", {{"source", "api"}});
  r.Add("t_accepted_total", {{"source", "api"}}, 2);
  r.Add("t_accepted_total", {{"source", "say \"hi\"\\\n"}});
  r.Add("t_unknown_total");  // not defined: ignored
  r.Observe("t_commit_seconds", 0.005);
  r.Observe("t_commit_seconds", 0.05);
  r.Observe("t_commit_seconds", 3);
  {
    auto handle = r.AddCollector([](Registry& m) { m.Set("t_queue", {{"state", "queued"}}, 7); });
    const std::string text = r.Render();
    EXPECT_EQ(text,
              "# HELP t_accepted_total Accepted.\n# TYPE t_accepted_total counter\n"
              "t_accepted_total{source=\"api\"} 3\n"
              "t_accepted_total{source=\"say \\\"hi\\\"\\\\\\n\"} 1\n"
              "# HELP t_queue Queue.\n# TYPE t_queue gauge\nt_queue{state=\"queued\"} 7\n"
              "# HELP t_commit_seconds Commits.\n# TYPE t_commit_seconds histogram\n"
              "t_commit_seconds_bucket{le=\"0.01\"} 1\nt_commit_seconds_bucket{le=\"0.1\"} 2\n"
              "t_commit_seconds_bucket{le=\"+Inf\"} 3\nt_commit_seconds_sum 3.055\nt_commit_seconds_count 3\n");
  }
  r.Set("t_queue", {{"state", "queued"}}, 0);
  r.Render();  // the collector's handle is gone: it no longer runs
  EXPECT_NE(r.Render().find("t_queue{state=\"queued\"} 0\n"), std::string::npos);
}

TEST(Providers, MxHostNamesGroupByProvider) {
  struct Case {
    const char* mx;
    const char* provider;
  } cases[] = {
      {"aspmx.l.google.com", "google"},
      {"ALT1.ASPMX.L.GOOGLE.COM.", "google"},
      {"gmail-smtp-in.l.google.com", "google"},
      {"contoso-com.mail.protection.outlook.com", "microsoft"},
      {"hotmail-com.olc.protection.outlook.com", "microsoft"},
      {"mta7.am0.yahoodns.net", "yahoo"},
      {"mx-aol.mail.gm0.yahoodns.net", "yahoo"},
      {"mx01.mail.icloud.com", "apple"},
      {"mx.wp.pl", "wp"},
      {"mx.o2.pl", "o2"},
      {"mx.poczta.onet.pl", "onet"},
      {"mx.poczta.interia.pl", "interia"},
      {"notgoogle.com", "other"},
      {"google.com.evil.example", "other"},
      {"mail.example.net", "other"},
      {"", "none"},
  };
  for (const auto& c : cases) EXPECT_EQ(delivery::ProviderOfMx(c.mx), c.provider) << c.mx;
}

}  // namespace
}  // namespace kurier::metrics
