// config.cpp - the configuration schema, the file template, loading and checking (toml++).
#include "common/config.hpp"

#include "common/config_schema.hpp"
#include "common/encoding.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace kurier {

namespace {

using config_schema::Key;
using config_schema::Type;
using config_schema::kDomainTable;
const auto kSchema = config_schema::Schema();
const auto kDomainKeys = config_schema::DomainKeys();

const Key* FindKey(std::string_view name) {
  for (const auto& k : kSchema)
    if (name == k.name) return &k;
  return nullptr;
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kString: return "a string";
    case Type::kInt: return "an integer";
    case Type::kBool: return "a boolean (true or false)";
    case Type::kStringList: return "an array of strings";
    case Type::kIntList: return "an array of integers";
  }
  return "?";
}

const char* NodeTypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

bool TypeMatches(Type t, const toml::node& n) {
  switch (t) {
    case Type::kString: return n.is_string();
    case Type::kInt: return n.is_integer();
    case Type::kBool: return n.is_boolean();
    case Type::kStringList: {
      auto* arr = n.as_array();
      if (!arr) return false;
      for (auto& e : *arr)
        if (!e.is_string()) return false;
      return true;
    }
    case Type::kIntList: {
      auto* arr = n.as_array();
      if (!arr) return false;
      for (auto& e : *arr)
        if (!e.is_integer()) return false;
      return true;
    }
  }
  return false;
}

std::string Suggest(const std::string& name) {
  // A close key name (one edit of distance in a segment is the usual typo).
  std::string best;
  size_t best_d = 3;
  for (const auto& k : kSchema) {
    // compare against the key and each of its table prefixes
    for (std::string cand = k.name;;) {
      size_t d = EditDistance(name, cand);
      if (d < best_d) best_d = d, best = cand;
      auto dot = cand.rfind('.');
      if (dot == std::string::npos) break;
      cand.resize(dot);
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

bool IsTablePrefix(const std::string& name) {
  if (name == kDomainTable) return true;
  for (const auto& k : kSchema) {
    std::string_view kn = k.name;
    if (kn.size() > name.size() && kn.substr(0, name.size()) == name && kn[name.size()] == '.') return true;
  }
  return false;
}

void WalkDomains(const toml::table& table, std::vector<std::string>& errors) {
  for (auto&& [domain, node] : table) {
    std::string base = std::string(kDomainTable) + ".\"" + std::string(domain.str()) + "\"";
    auto* t = node.as_table();
    if (!t) {
      errors.push_back(base + ": expected a table, e.g. [delivery.domain.\"example.com\"] with max_connections = 5");
      continue;
    }
    for (auto&& [k, leaf] : *t) {
      const Key* key = nullptr;
      for (const auto& dk : kDomainKeys)
        if (k.str() == dk.name) key = &dk;
      std::string name = base + "." + std::string(k.str());
      if (!key) {
        errors.push_back("unknown key '" + name + "'; use max_connections, messages_per_connection, rate_per_minute, tls or verify_certificates");
        continue;
      }
      if (!TypeMatches(key->type, leaf))
        errors.push_back(name + ": expected " + TypeName(key->type) + ", got " + NodeTypeName(leaf));
    }
  }
}

void Walk(const toml::table& table, const std::string& prefix, std::vector<std::string>& errors) {
  for (auto&& [k, node] : table) {
    std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (name == kDomainTable) {
      if (auto* t = node.as_table())
        WalkDomains(*t, errors);
      else
        errors.push_back(name + ": expected a table of domains");
      continue;
    }
    if (auto* sub = node.as_table()) {
      if (FindKey(name)) {
        errors.push_back(name + ": expected " + TypeName(FindKey(name)->type) + ", got a table");
      } else if (!IsTablePrefix(name)) {
        errors.push_back("unknown key '" + name + "'" + Suggest(name));
      } else {
        Walk(*sub, name, errors);
      }
      continue;
    }
    const Key* key = FindKey(name);
    if (!key) {
      errors.push_back("unknown key '" + name + "'" + Suggest(name));
      continue;
    }
    if (!TypeMatches(key->type, node))
      errors.push_back(name + ": expected " + TypeName(key->type) + ", got " + NodeTypeName(node));
  }
}

toml::table DefaultsTable() {
  std::string text;
  for (const auto& k : kSchema) text += std::string("\"") + k.name + "\" = " + k.value + "\n";
  return toml::parse(text);  // flat table keyed by dotted names
}

// Reads the value of `key` from the user's table, falling back to the schema default.
const toml::node& Lookup(const toml::table& user, const toml::table& defaults, const char* key) {
  if (auto n = user.at_path(key); n && TypeMatches(FindKey(key)->type, *n.node())) return *n.node();
  return *defaults.get(key);
}

// Reads the values of a configuration, each from the user's table or else the schema's default, and
// collects what is wrong with them (in the order they are read, which is the order `config check` lists).
class Reader {
 public:
  Reader(const toml::table& user, std::vector<std::string>& errors)
      : user_(user), defaults_(DefaultsTable()), errors_(errors) {}

  const toml::table& user() const { return user_; }
  void Error(std::string e) { errors_.push_back(std::move(e)); }

  std::string Str(const char* k) const { return std::string(*Lookup(user_, defaults_, k).value<std::string>()); }
  bool Bool(const char* k) const { return *Lookup(user_, defaults_, k).value<bool>(); }
  // An integer from min to max; out of range it is an error (and min is returned).
  int64_t Integer(const char* k, int64_t min, int64_t max) {
    int64_t v = *Lookup(user_, defaults_, k).value<int64_t>();
    if (v < min || v > max) {
      Error(std::string(k) + ": " + std::to_string(v) + " is out of range; use a value from " + std::to_string(min) +
            " to " + std::to_string(max));
      return min;
    }
    return v;
  }
  int Int(const char* k, int64_t min, int64_t max) { return static_cast<int>(Integer(k, min, max)); }
  std::size_t Size(const char* k, int64_t min, int64_t max) { return static_cast<std::size_t>(Integer(k, min, max)); }

  // Calls take(entry) for each entry of the array `k` (of the type its schema says).
  template <typename T, typename F>
  void Each(const char* k, F take) const {
    if (auto* arr = Lookup(user_, defaults_, k).as_array())
      for (auto& e : *arr) take(e.template value<T>());
  }

  // A list of networks (CIDR); each entry that is not one is named in an error.
  std::vector<Cidr> Networks(const std::string& key) {
    std::vector<Cidr> out;
    Each<std::string>(key.c_str(), [&](std::optional<std::string> s) {
      if (auto cidr = Cidr::Parse(*s))
        out.push_back(*cidr);
      else
        Error(key + ": \"" + *s + "\" is not a network; write \"192.0.2.0/24\" or \"::1/128\"");
    });
    return out;
  }

  ListenerConfig Listener(const std::string& name) {
    ListenerConfig l;
    l.enabled = Bool((name + ".enabled").c_str());
    l.listen = Str((name + ".listen").c_str());
    if (!IsHostPort(l.listen))
      Error(name + ".listen: \"" + l.listen + "\" is not an address and port; write \"127.0.0.1:2587\" or \"[::1]:2587\"");
    return l;
  }

  static bool IsHostPort(const std::string& listen) {
    std::string h;
    uint16_t p = 0;
    return SplitHostPort(listen, h, p);
  }

 private:
  const toml::table& user_;
  const toml::table defaults_;
  std::vector<std::string>& errors_;
};

// [server], [tls], [store] and [spool]: names, paths (relative to data_dir) and the TLS policy.
void ReadServer(Reader& r, Config& c) {
  std::filesystem::path base = c.file.parent_path();
  c.hostname = r.Str("server.hostname");
  if (c.hostname.empty() || c.hostname.find_first_of(" \t\r\n") != std::string::npos)
    r.Error("server.hostname: must be a host name without spaces, e.g. \"mail.example.com\"");
  c.data_dir = base / r.Str("server.data_dir");
  c.data_dir = c.data_dir.lexically_normal();
  if (!c.data_dir.has_filename()) c.data_dir = c.data_dir.parent_path();  // "/x/y/" -> "/x/y"
  c.threads = r.Int("server.threads", 0, 256);
  c.control_socket = c.data_dir / r.Str("server.control_socket");
  c.secret_file = c.data_dir / r.Str("server.secret_file");
  c.tls_certificate = c.data_dir / r.Str("tls.certificate");
  c.tls_private_key = c.data_dir / r.Str("tls.private_key");
  c.tls_min_version = r.Str("tls.min_version");
  if (c.tls_min_version != "TLSv1.2" && c.tls_min_version != "TLSv1.3")
    r.Error("tls.min_version: \"" + c.tls_min_version + "\" is not supported; use \"TLSv1.2\" or \"TLSv1.3\"");
  c.tls_ciphers = r.Str("tls.ciphers");
  if (c.tls_ciphers != "modern" && c.tls_ciphers != "intermediate")
    r.Error("tls.ciphers: \"" + c.tls_ciphers + "\" is not a policy; use \"modern\" or \"intermediate\"");
  c.tls_reload_interval = r.Int("tls.reload_interval", 0, 86400);
  c.store_backend = r.Str("store.backend");
  c.store_url = r.Str("store.url");
  if (c.store_url.rfind("postgresql://", 0) == 0 || c.store_url.rfind("postgres://", 0) == 0) c.store_backend = "postgresql";
  else if (!c.store_url.empty())
    r.Error("store.url: \"" + c.store_url + "\" is not a PostgreSQL URL; write postgresql://user@host:port/database");
  if (c.store_backend != "sqlite" && c.store_backend != "postgresql")
    r.Error("store.backend: \"" + c.store_backend + "\" is not available; use \"sqlite\" or \"postgresql\"");
  if (c.store_backend == "postgresql" && c.store_url.empty())
    r.Error("store.backend: \"postgresql\" needs store.url = \"postgresql://user@host:port/database\"");
  if (const std::string f = r.Str("store.password_file"); !f.empty()) c.store_password_file = c.data_dir / f;
  c.store_pool_size = r.Int("store.pool_size", 1, 1000);
  c.drain_delay = r.Int("cluster.drain_delay", 0, 3600);
  c.lease_timeout = r.Int("cluster.lease_timeout", 3, 3600);
  c.node_name = r.Str("cluster.node_name");
  if (c.node_name.empty()) c.node_name = c.hostname + ":" + c.data_dir.string();
  c.sqlite_path = c.data_dir / r.Str("store.sqlite_path");
  c.spool_path = c.data_dir / r.Str("spool.path");
  c.spool_fsync = r.Bool("spool.fsync");
  c.spool_max_batch = r.Int("spool.max_batch", 1, 100000);
  c.event_journal_delay_ms = r.Int("store.event_journal_delay_ms", 0, 3'600'000);
}

// [smtp.*]: the listeners, the relay's networks and account, and the session limits.
void ReadSmtp(Reader& r, Config& c) {
  c.submission = r.Listener("smtp.submission");
  c.submissions = r.Listener("smtp.submissions");
  c.relay = r.Listener("smtp.relay");
  c.inbound = r.Listener("smtp.inbound");
  c.relay_networks = r.Networks("smtp.relay.networks");
  c.relay_account = r.Str("smtp.relay.account");
  auto& L = c.limits;
  L.max_command_line = r.Integer("smtp.limits.max_command_line", 512, 1 << 20);
  L.max_auth_line = r.Integer("smtp.limits.max_auth_line", 512, 1 << 20);
  L.max_data_line = r.Integer("smtp.limits.max_data_line", 1000, 1 << 24);
  L.max_message_size = r.Integer("smtp.limits.max_message_size", 1024, int64_t{1} << 31);
  L.max_recipients = r.Integer("smtp.limits.max_recipients", 1, 100000);
  L.max_commands = r.Integer("smtp.limits.max_commands", 10, 10000000);
  L.max_errors = r.Integer("smtp.limits.max_errors", 1, 100000);
  L.command_timeout = r.Integer("smtp.limits.command_timeout", 1, 86400);
  L.session_timeout = r.Integer("smtp.limits.session_timeout", 1, 7 * 86400);
  L.data_min_rate = r.Integer("smtp.limits.data_min_rate", 0, int64_t{1} << 30);
  L.data_rate_window = r.Integer("smtp.limits.data_rate_window", 1, 3600);
  L.tls_handshake_timeout = r.Integer("smtp.limits.tls_handshake_timeout", 1, 3600);
  L.max_connections = r.Integer("smtp.limits.max_connections", 1, 1000000);
  L.max_connections_per_ip = r.Integer("smtp.limits.max_connections_per_ip", 1, 1000000);
}

// [auth]: AUTH throttling and the password cache.
void ReadAuth(Reader& r, Config& c) {
  c.auth.max_failures = r.Integer("auth.max_failures", 1, 1000000);
  c.auth.failure_window = r.Integer("auth.failure_window", 1, 30 * 86400);
  c.auth.cooldown = r.Integer("auth.cooldown", 0, 30 * 86400);
  c.auth.free_failures = r.Integer("auth.free_failures", 0, 1000);
  c.auth.max_delay = r.Integer("auth.max_delay", 0, 3600);
  c.auth.user_delay = r.Integer("auth.user_delay", 0, 60);
  c.auth.cache_ttl = r.Integer("auth.cache_ttl", 0, 86400);
}

// [arc]: sealing of relayed mail (RFC 8617); the names must be DNS/RFC 8601 tokens.
void ReadArc(Reader& r, Config& c) {
  c.arc.enabled = r.Bool("arc.enabled");
  c.arc.domain = r.Str("arc.domain");
  c.arc.selector = r.Str("arc.selector");
  c.arc.key_file = c.data_dir / r.Str("arc.key_file");
  c.arc.authserv_id = r.Str("arc.authserv_id");
  if (c.arc.authserv_id.empty()) c.arc.authserv_id = c.hostname;
  if (c.arc.enabled && c.arc.domain.empty())
    r.Error("arc.domain: needed when arc.enabled is true; set the domain the seals are made for, e.g. \"example.com\"");
  auto plain = [](const std::string& v) { return v.find_first_of(" \t\r\n;=\"") == std::string::npos; };
  if (!plain(c.arc.domain)) r.Error("arc.domain: \"" + c.arc.domain + "\" is not a domain name");
  if (c.arc.selector.empty() || !plain(c.arc.selector))
    r.Error("arc.selector: \"" + c.arc.selector + "\" is not a selector; use letters, digits, '-' and '.'");
  if (!plain(c.arc.authserv_id) || c.arc.authserv_id.find_first_of("()<>@,:\\/[]?") != std::string::npos)
    r.Error("arc.authserv_id: \"" + c.arc.authserv_id + "\" is not a token (RFC 8601); use a host name");
}

bool IsTlsMode(const std::string& v) { return v == "opportunistic" || v == "required" || v == "none"; }

// [delivery.domain."NAME"] tables: per-destination overrides (names lower-cased).
void ReadDomainPolicies(Reader& r, DeliveryConfig& D) {
  auto* domains = r.user().at_path(kDomainTable).as_table();
  if (!domains) return;
  for (auto&& [domain, node] : *domains) {
    auto* t = node.as_table();
    if (!t) continue;  // reported by Walk
    std::string dname(domain.str());
    for (char& ch : dname)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    DomainPolicy p;
    std::string base = std::string(kDomainTable) + ".\"" + dname + "\".";
    auto positive = [&](const char* k, int min, int max) -> std::optional<int> {
      auto v = (*t)[k].value<int64_t>();
      if (!v) return std::nullopt;
      if (*v < min || *v > max) {
        r.Error(base + k + ": " + std::to_string(*v) + " is out of range; use " + std::to_string(min) + " to " +
                std::to_string(max));
        return std::nullopt;
      }
      return static_cast<int>(*v);
    };
    p.max_connections = positive("max_connections", 1, 10000);
    p.messages_per_connection = positive("messages_per_connection", 1, 1000000);
    p.rate_per_minute = positive("rate_per_minute", 0, 6000000);
    if (auto v = (*t)["tls"].value<std::string>()) {
      if (!IsTlsMode(*v))
        r.Error(base + "tls: \"" + *v + "\" is not a mode; use \"opportunistic\", \"required\" or \"none\"");
      else
        p.tls = *v;
    }
    if (auto v = (*t)["verify_certificates"].value<bool>()) p.verify_certificates = *v;
    D.domains[dname] = p;
  }
}

// [delivery]: outbound SMTP, the backup relays and the per-domain overrides.
void ReadDelivery(Reader& r, Config& c) {
  auto& D = c.delivery;
  D.enabled = r.Bool("delivery.enabled");
  D.port = static_cast<uint16_t>(r.Integer("delivery.port", 1, 65535));
  D.helo_name = r.Str("delivery.helo_name");
  if (D.helo_name.empty()) D.helo_name = c.hostname;
  D.tls = r.Str("delivery.tls");
  if (!IsTlsMode(D.tls))
    r.Error("delivery.tls: \"" + D.tls + "\" is not a mode; use \"opportunistic\", \"required\" or \"none\"");
  D.verify_certificates = r.Bool("delivery.verify_certificates");
  D.connect_timeout = r.Int("delivery.connect_timeout", 1, 3600);
  D.command_timeout = r.Int("delivery.command_timeout", 1, 3600);
  D.data_timeout = r.Int("delivery.data_timeout", 1, 7200);
  D.greeting_timeout = r.Int("delivery.greeting_timeout", 1, 3600);
  D.max_connections_per_domain = r.Int("delivery.max_connections_per_domain", 1, 10000);
  D.max_messages_per_connection = r.Int("delivery.max_messages_per_connection", 1, 1000000);
  D.connection_idle_ms = r.Int("delivery.connection_idle_ms", 0, 60000);
  D.direct = r.Bool("delivery.direct");
  r.Each<std::string>("delivery.backup_relays", [&](std::optional<std::string> url) {
    auto relay = ParseRelayUrl(*url);
    if (relay)
      D.backup_relays.push_back(relay.value());
    else
      r.Error("delivery.backup_relays: " + relay.error().message);
  });
  if (!D.direct && D.backup_relays.empty())
    r.Error("delivery.direct: false needs at least one entry in delivery.backup_relays");
  D.backup_check_interval = r.Int("delivery.backup_check_interval", 0, 86400);
  ReadDomainPolicies(r, D);
}

// [api] and [public]: the HTTP listeners and their limits.
void ReadApi(Reader& r, Config& c) {
  auto& A = c.api;
  A.enabled = r.Bool("api.enabled");
  A.listen = r.Str("api.listen");
  if (!Reader::IsHostPort(A.listen)) r.Error("api.listen: \"" + A.listen + "\" is not host:port, e.g. \"127.0.0.1:8025\"");
  A.max_body = r.Size("api.max_body", 1024, int64_t{1} << 32);
  A.max_public_body = r.Size("api.max_public_body", 1024, int64_t{1} << 32);
  A.max_body_in_flight = r.Size("api.max_body_in_flight", 1024, int64_t{1} << 40);
  if (A.max_body_in_flight < A.max_body)
    r.Error("api.max_body_in_flight: " + std::to_string(A.max_body_in_flight) + " is below api.max_body (" +
            std::to_string(A.max_body) + "): a request of the largest allowed body could never be taken; raise it");
  A.max_recipients = r.Size("api.max_recipients", 1, 100000);
  A.max_attachment_bytes = r.Size("api.max_attachment_bytes", 0, int64_t{1} << 32);
  A.max_headers = r.Size("api.max_headers", 0, 1000);
  A.rate_per_second = r.Int("api.rate_per_second", 0, 10000000);
  A.burst = r.Int("api.burst", 0, 10000000);
  A.request_timeout = r.Int("api.request_timeout", 1, 3600);
  A.idle_timeout = r.Int("api.idle_timeout", 1, 3600);
  A.max_connections = r.Size("api.max_connections", 1, 1000000);
  A.idle_timeout_under_pressure = r.Int("api.idle_timeout_under_pressure", 1, 3600);
  A.max_connections_per_ip = r.Size("api.max_connections_per_ip", 0, 1000000);
  A.connection_limit_exempt = r.Networks("api.connection_limit_exempt");
  A.public_listen = r.Str("public.listen");
  if (!A.public_listen.empty()) {
    if (!Reader::IsHostPort(A.public_listen))
      r.Error("public.listen: \"" + A.public_listen + "\" is not host:port, e.g. \"0.0.0.0:8080\", or \"\" for none");
    else if (A.public_listen == A.listen)
      r.Error("public.listen: \"" + A.public_listen + "\" is api.listen as well; give the public endpoints "
              "another port, or \"\" to serve them on api.listen");
  }
}

// [tracking]: where links point and the server's defaults.
void ReadTracking(Reader& r, Config& c) {
  c.tracking.base_url = r.Str("tracking.base_url");
  while (!c.tracking.base_url.empty() && c.tracking.base_url.back() == '/') c.tracking.base_url.pop_back();
  if (!c.tracking.base_url.empty() && c.tracking.base_url.rfind("http://", 0) != 0 && c.tracking.base_url.rfind("https://", 0) != 0)
    r.Error("tracking.base_url: \"" + c.tracking.base_url + "\" must start with https:// (or http://)");
  c.tracking.opens = r.Bool("tracking.opens");
  c.tracking.clicks = r.Bool("tracking.clicks");
}

// [bounces]: the soft-bounce limit.
void ReadBounces(Reader& r, Config& c) {
  c.bounces.soft_limit = r.Int("bounces.soft_limit", 0, 1000);
  c.bounces.soft_window_days = r.Int("bounces.soft_window_days", 1, 365);
}

// [events]: retention and webhook sending.
void ReadEvents(Reader& r, Config& c) {
  auto& Ev = c.events;
  Ev.retention = r.Integer("events.retention", 3600, int64_t{10} * 365 * 86400);
  Ev.webhook_ca_file = r.Str("events.webhook_ca_file");
  if (!Ev.webhook_ca_file.empty()) Ev.webhook_ca_file = (c.data_dir / Ev.webhook_ca_file).string();
  Ev.webhook_timeout = r.Int("events.webhook_timeout", 1, 600);
  Ev.webhook_max_in_flight = r.Int("events.webhook_max_in_flight", 1, 10000);
  Ev.webhook_allow_private_addresses = r.Bool("events.webhook_allow_private_addresses");
  Ev.webhook_retry_schedule.clear();
  r.Each<int64_t>("events.webhook_retry_schedule", [&](std::optional<int64_t> v) {
    if (!v || *v < 1 || *v > 7 * 86400)
      r.Error("events.webhook_retry_schedule: each entry must be seconds from 1 to 604800");
    else
      Ev.webhook_retry_schedule.push_back(static_cast<int>(*v));
  });
}

// [domains]: sending domains' DNS (egress addresses, prefixes, DKIM rotation).
void ReadDomains(Reader& r, Config& c) {
  auto& Dm = c.domains;
  r.Each<std::string>("domains.egress_addresses", [&](std::optional<std::string> a) {
    auto net = Cidr::Parse(*a);
    if (!net || a->find('/') != std::string::npos)
      r.Error("domains.egress_addresses: \"" + *a + "\" is not an IP address; write e.g. \"192.0.2.10\"");
    else
      Dm.egress_addresses.push_back(*a);
  });
  Dm.spf_include = r.Str("domains.spf_include");
  Dm.return_path_prefix = r.Str("domains.return_path_prefix");
  Dm.verp = r.Bool("domains.verp");
  Dm.tracking_prefix = r.Str("domains.tracking_prefix");
  for (auto [k, v] : {std::pair{"domains.return_path_prefix", &Dm.return_path_prefix},
                      std::pair{"domains.tracking_prefix", &Dm.tracking_prefix}})
    if (v->empty() || v->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
      r.Error(std::string(k) + ": \"" + *v + "\" must be one DNS label of a-z, 0-9 and '-'");
  Dm.tracking_target = r.Str("domains.tracking_target");
  if (Dm.tracking_target.empty()) Dm.tracking_target = c.hostname;
  Dm.dmarc_rua = r.Str("domains.dmarc_rua");
  Dm.dkim_grace = r.Integer("domains.dkim_grace", 0, 365 * 86400);
  Dm.check_interval = r.Int("domains.check_interval", 0, 30 * 86400);
}

// [failover], [queue] and [log].
void ReadFailoverQueueLog(Reader& r, Config& c) {
  c.failover.test_interval = r.Int("failover.test_interval", 0, 30 * 86400);
  c.failover.probe_sender = r.Str("failover.probe_sender");
  if (c.failover.probe_sender.empty()) c.failover.probe_sender = "postmaster@" + c.hostname;
  c.failover.probe_recipient = r.Str("failover.probe_recipient");
  c.queue.retry_initial = r.Int("queue.retry_initial", 1, 86400);
  c.queue.retry_max = r.Int("queue.retry_max", 1, 7 * 86400);
  c.queue.max_lifetime = r.Int("queue.max_lifetime", 1, 60 * 86400);
  c.log_level = r.Str("log.level");
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.count(c.log_level))
    r.Error("log.level: \"" + c.log_level + "\" is not a level; use trace, debug, info, warn or error");
  c.log_format = r.Str("log.format");
  if (c.log_format != "text" && c.log_format != "json")
    r.Error("log.format: \"" + c.log_format + "\" is not a format; use \"text\" or \"json\"");
}

}  // namespace

std::string ToTomlLiteral(const std::string& value) {
  try {
    auto t = toml::parse("v = " + value);
    if (t.contains("v")) return value;
  } catch (const toml::parse_error&) {
  }
  std::ostringstream os;
  os << toml::value<std::string>(value);
  return os.str();
}

bool SplitHostPort(const std::string& listen, std::string& host, uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return false;  // IPv6 needs brackets
  }
  auto p = std::string_view(listen).substr(colon + 1);
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v == 0 || v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return !host.empty();
}

Result<std::string> RenderConfigTemplate(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> errors;
  for (const auto& [k, v] : overrides) {
    const Key* key = FindKey(k);
    if (!key) {
      errors.push_back("unknown key '" + k + "'" + Suggest(k));
      continue;
    }
    try {
      auto t = toml::parse("v = " + v);
      if (!TypeMatches(key->type, *t.get("v")))
        errors.push_back(k + ": expected " + TypeName(key->type) + ", got " + NodeTypeName(*t.get("v")));
    } catch (const toml::parse_error& e) {
      errors.push_back(k + ": not a TOML value: " + std::string(e.description()));
    }
  }
  if (!errors.empty()) {
    std::string msg;
    for (auto& e : errors) msg += e + "\n";
    return MakeError(ErrorCode::kConfig, msg);
  }
  std::string out =
      "# kurier.toml - configuration of one kurier node.\n"
      "# Every key is shown with its default. Check a change with: kurier config check --config FILE\n"
      "# Durations are in seconds, sizes in octets. Relative paths are relative to server.data_dir.\n";
  std::string table;
  for (const auto& k : kSchema) {
    std::string name = k.name;
    auto dot = name.rfind('.');
    std::string t = name.substr(0, dot), leaf = name.substr(dot + 1);
    if (t != table) {
      out += "\n[" + t + "]\n";
      table = t;
    }
    auto it = overrides.find(name);
    out += "# " + std::string(k.comment) + "\n";
    out += leaf + " = " + (it != overrides.end() ? it->second : std::string(k.value)) + "\n";
  }
  out +=
      "\n# Per-destination overrides, one table per recipient domain (unset keys use the [delivery] values):\n"
      "# [delivery.domain.\"example.com\"]\n"
      "# max_connections = 5            # simultaneous connections\n"
      "# messages_per_connection = 50\n"
      "# rate_per_minute = 600          # 0: unlimited\n"
      "# tls = \"required\"               # opportunistic | required | none\n"
      "# verify_certificates = true\n";
  return out;
}

std::vector<std::string> CheckConfig(const std::filesystem::path& file) {
  auto r = LoadConfig(file);
  if (r.ok()) return {};
  std::vector<std::string> out;
  std::istringstream in(r.error().message);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

Result<Config> LoadConfig(const std::filesystem::path& file) {
  toml::table user;
  try {
    user = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << file.string() << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": not valid TOML: " << e.description() << "\n";
    return MakeError(ErrorCode::kConfig, os.str());
  }
  std::vector<std::string> errors;
  Walk(user, "", errors);
  Reader r(user, errors);
  Config c;
  c.file = std::filesystem::absolute(file);
  // In this order, which is the order of the errors `config check` lists.
  ReadServer(r, c);
  ReadSmtp(r, c);
  ReadAuth(r, c);
  c.dns_forward = r.Str("dns.forward");
  ReadArc(r, c);
  ReadDelivery(r, c);
  ReadApi(r, c);
  ReadTracking(r, c);
  ReadEvents(r, c);
  ReadBounces(r, c);
  ReadDomains(r, c);
  ReadFailoverQueueLog(r, c);
  if (!errors.empty()) {
    std::string msg;
    for (auto& e : errors) msg += e + "\n";
    return MakeError(ErrorCode::kConfig, msg);
  }
  return c;
}

Result<std::string> ConfigValue(const std::filesystem::path& file, const std::string& key) {
  auto c = LoadConfig(file);
  if (!c) return MakeError(ErrorCode::kConfig, "invalid configuration " + file.string() + ":\n" + c.error().message);
  const Key* k = FindKey(key);
  if (!k) {
    std::string hint = Suggest(key);
    return MakeError(ErrorCode::kNotFound, "unknown key '" + key + "'" +
                                               (hint.empty() ? "; 'kurier init' writes every key into kurier.toml" : hint));
  }
  // Paths as kurier uses them: relative ones resolved against server.data_dir.
  const std::pair<const char*, std::filesystem::path> kPaths[] = {
      {"server.data_dir", c->data_dir},          {"server.secret_file", c->secret_file},
      {"server.control_socket", c->control_socket}, {"tls.certificate", c->tls_certificate},
      {"tls.private_key", c->tls_private_key},   {"store.sqlite_path", c->sqlite_path},
      {"spool.path", c->spool_path},             {"arc.key_file", c->arc.key_file},
      {"events.webhook_ca_file", c->events.webhook_ca_file}};
  for (const auto& [name, path] : kPaths)
    if (key == name) return path.lexically_normal().string();
  toml::table user = toml::parse_file(file.string());  // parsed by LoadConfig a moment ago
  const toml::table defaults = DefaultsTable();
  auto scalar = [](const toml::node& e) -> std::string {
    if (e.is_string()) return *e.value<std::string>();
    if (e.is_boolean()) return *e.value<bool>() ? "true" : "false";
    if (e.is_integer()) return std::to_string(*e.value<int64_t>());
    return "";
  };
  const toml::node& n = Lookup(user, defaults, k->name);
  auto* arr = n.as_array();
  if (!arr) return scalar(n);
  std::string out;
  for (size_t i = 0; i < arr->size(); ++i) out += (i ? "\n" : "") + scalar(*arr->get(i));
  return out;
}

}  // namespace kurier
