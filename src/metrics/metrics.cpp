// metrics.cpp - the Prometheus text exposition of the node's figures (metrics.hpp).
#include "metrics/metrics.hpp"

#include <cmath>
#include <cstdio>

namespace kurier::metrics {

Registry& Registry::Global() {
  static Registry& r = *[] {
    auto* g = new Registry();  // never destroyed: threads may count while the process exits
    g->Define("kurier_messages_accepted_total", "counter",
              "Messages acknowledged (SMTP 250, HTTP 202) after their durable commit, by source (api, submission, "
              "relay, internal for DSNs).");
    g->Define("kurier_deliveries_total", "counter",
              "Delivery attempts' results per recipient (delivered, deferred, bounced) by the receiving mailbox "
              "provider (from the MX host name).");
    g->DefineHistogram("kurier_spool_commit_seconds",
                       "Time of the group commits that acknowledge new messages (one durable transaction each).",
                       {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
    g->Define("kurier_queue_messages", "gauge", "Messages in the queue by state.");
    g->Define("kurier_queue_oldest_age_seconds", "gauge", "Age of the oldest message in the queue (0 when empty).");
    g->Define("kurier_db_connections", "gauge",
              "PostgreSQL connections of this node's store pool (the spool has a pool of its own): open, in_use and the size limit (store.pool_size).");
    g->Define("kurier_db_pool_waits_total", "counter", "Times a caller waited for a free PostgreSQL connection.");
    g->Define("kurier_webhook_backlog", "gauge", "Webhook deliveries waiting to be sent or retried.");
    g->Define("kurier_draining", "gauge", "1 while this node drains (readyz answers 503), else 0.");
    g->Define("kurier_cluster_nodes", "gauge", "Nodes registered on the database, by state (alive, stopped).");
    g->Define("kurier_cluster_node_messages", "gauge",
              "Queued messages each node holds (delivers, or has claimed from a stopped node).");
    return g;
  }();
  return r;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

std::string LabelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (const auto& [k, v] : labels) out += (out.size() > 1 ? "," : "") + k + "=\"" + EscapeLabelValue(v) + "\"";
  return out + "}";
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void Registry::Define(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  if (families_.count(name)) return;
  families_[name] = Family{type, help, {}, {}};
  order_.push_back(name);
}

void Registry::DefineHistogram(const std::string& name, const std::string& help, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  if (families_.count(name)) return;
  Family f{"histogram", help, {}, {}};
  f.histogram.counts.assign(bounds.size() + 1, 0);
  f.histogram.bounds = std::move(bounds);
  families_[name] = std::move(f);
  order_.push_back(name);
}

void Registry::Add(const std::string& name, const Labels& labels, double delta) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.series[LabelText(labels)] += delta;
}

void Registry::Set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.series[LabelText(labels)] = value;
}

void Registry::Observe(const std::string& name, double value) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  Histogram& h = it->second.histogram;
  std::size_t i = 0;
  while (i < h.bounds.size() && value > h.bounds[i]) ++i;
  h.counts[i]++;
  h.sum += value;
  h.count++;
}

Registry::Handle Registry::AddCollector(std::function<void(Registry&)> collect) {
  std::lock_guard lock(collect_mu_);
  const uint64_t id = next_collector_++;
  collectors_[id] = std::move(collect);
  return Handle(nullptr, [this, id](void*) {
    std::lock_guard lock(collect_mu_);
    collectors_.erase(id);
  });
}

std::string Registry::Render() {
  {
    std::lock_guard lock(collect_mu_);  // collectors run one scrape at a time
    for (auto& [id, collect] : collectors_) collect(*this);
  }
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& name : order_) {
    const Family& f = families_.at(name);
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    if (f.type == "histogram") {
      const Histogram& h = f.histogram;
      uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
        cumulative += h.counts[i];
        const std::string le = i < h.bounds.size() ? Number(h.bounds[i]) : "+Inf";
        out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
      }
      out += name + "_sum " + Number(h.sum) + "\n" + name + "_count " + std::to_string(h.count) + "\n";
      continue;
    }
    for (const auto& [labels, value] : f.series) out += name + labels + " " + Number(value) + "\n";
  }
  return out;
}

}  // namespace kurier::metrics
