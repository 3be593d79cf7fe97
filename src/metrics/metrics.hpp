// metrics.hpp - the node's operational figures in Prometheus' text exposition format (version 0.0.4):
// counters and gauges with labels, histograms with fixed buckets, and collectors that read a gauge when
// the figures are scraped (queue depth, database pool use). One Registry per process (Global()); tests
// make their own. Thread-safe; an update is a mutex and a map lookup, cheap beside a message's commit.
// STANDARDS: Prometheus text-based exposition format 0.0.4 (HELP/TYPE lines, label value escaping,
// histogram _bucket{le=...}/_sum/_count).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kurier::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
 public:
  static Registry& Global();

  /// Declares a counter or gauge family (type "counter" or "gauge") with its help text; families are
  /// rendered in the order declared. Declaring again changes nothing.
  void Define(const std::string& name, const std::string& type, const std::string& help);
  /// Declares a histogram with the upper bounds of its buckets (ascending; +Inf is added).
  void DefineHistogram(const std::string& name, const std::string& help, std::vector<double> bounds);

  void Add(const std::string& name, const Labels& labels = {}, double delta = 1);
  void Set(const std::string& name, const Labels& labels, double value);
  void Observe(const std::string& name, double value);

  /// A function run before each Render (from the scraping thread) that Set()s its gauges. The collector
  /// stays until the returned handle is destroyed.
  using Handle = std::shared_ptr<void>;
  [[nodiscard]] Handle AddCollector(std::function<void(Registry&)> collect);

  /// Every family in the text exposition format.
  std::string Render();

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  ///< per bucket, not cumulative
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    std::string type, help;
    std::map<std::string, double> series;  ///< rendered label set ("" or {a="b"}) -> value
    Histogram histogram;
  };
  std::mutex mu_;
  std::vector<std::string> order_;
  std::map<std::string, Family, std::less<>> families_;
  std::mutex collect_mu_;
  std::map<uint64_t, std::function<void(Registry&)>> collectors_;
  uint64_t next_collector_ = 0;
};

/// `v` as a label value between quotes: backslash, double quote and line feed escaped.
std::string EscapeLabelValue(std::string_view v);

}  // namespace kurier::metrics
