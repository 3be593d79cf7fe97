// cluster_command.cpp - `kurier cluster status`: the nodes sharing this configuration's PostgreSQL
// database, whether each is alive (heartbeat within cluster.lease_timeout), draining or running the
// housekeeping, and how many queued messages each owns (spool/postgres/pg_cluster.cpp).
#include <boost/json.hpp>
#include <iostream>

#include "app/admin_commands.hpp"
#include "app/app.hpp"
#include "common/ids.hpp"
#include "spool/spool.hpp"
#include "spool/spool_storage.hpp"

namespace kurier::app {

void AddClusterCommand(CLI::App& app, std::string& config_path) {
  auto* cluster = app.add_subcommand("cluster", "Several nodes on one PostgreSQL database");
  cluster->require_subcommand(1);
  auto* status = cluster->add_subcommand("status", "List the nodes, their heartbeats, queued messages and the housekeeping leader");
  static bool json = false;
  status->add_flag("--json", json, "JSON output");
  AddConfigOption(status, config_path);
  status->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    if (c.store_backend != "postgresql")
      Fail("this node keeps its data in SQLite (" + c.sqlite_path.string() + "): it is a cluster of one; set store.url "
           "to a PostgreSQL database to run several nodes");
    auto spool = OpenSpoolOrExit(c);
    auto nodes = spool->Storage().Nodes(static_cast<int64_t>(c.lease_timeout) * 1'000'000);
    spool->Stop();
    if (!nodes) Fail(nodes.error().message);
    if (json) {
      boost::json::array out;
      for (const auto& n : nodes.value())
        out.push_back(boost::json::object{{"name", n.name}, {"hostname", n.hostname}, {"started_at", FormatTimeUtc(n.started_at)},
                                          {"heartbeat_age_ms", n.heartbeat_age / 1000}, {"alive", n.alive},
                                          {"draining", n.draining}, {"leader", n.leader}, {"messages", n.messages}});
      std::cout << boost::json::serialize(out) << "\n";
      return;
    }
    if (nodes->empty()) std::cout << "no node has started on this database yet\n";
    for (const auto& n : nodes.value())
      std::cout << (n.alive ? (n.draining ? "draining " : "alive    ") : "stopped  ") << n.name << " (" << n.hostname
                << "): heartbeat " << n.heartbeat_age / 1000000 << " s ago, " << n.messages << " queued message(s)"
                << (n.leader ? ", runs the housekeeping" : "") << "\n";
  });
}

}  // namespace kurier::app
