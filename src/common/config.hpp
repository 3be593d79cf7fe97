// config.hpp - kurier.toml: one schema table drives the defaults, the commented file `init` writes,
// loading, and `kurier config check`, so that every key is documented in exactly one place.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cidr.hpp"
#include "common/relay_url.hpp"
#include "common/result.hpp"

namespace kurier {

struct ListenerConfig {
  bool enabled = false;
  std::string listen;  ///< "host:port" or "[v6]:port"
};

struct SmtpLimits {
  std::size_t max_command_line = 512;
  std::size_t max_auth_line = 12288;
  std::size_t max_data_line = 2048;
  std::size_t max_message_size = 26214400;
  std::size_t max_recipients = 1000;
  std::size_t max_commands = 10000;
  std::size_t max_errors = 20;
  int command_timeout = 300;    ///< from the start of a command line to its CRLF; per read in message data
  int session_timeout = 1800;
  std::size_t data_min_rate = 1024;  ///< octets per second DATA/BDAT must keep up, 0: no minimum
  int data_rate_window = 30;         ///< seconds over which data_min_rate is measured (also the grace period)
  int tls_handshake_timeout = 30;
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 50;
};

/// AUTH throttling (see smtp/server/auth_service.hpp): per address and per (address, username).
struct AuthPolicy {
  int max_failures = 20;   ///< failures from one address before it is blocked
  int failure_window = 600;
  int cooldown = 600;      ///< seconds an address stays blocked
  int cache_ttl = 600;
  int free_failures = 2;   ///< a pair's failures answered without delay
  int max_delay = 30;      ///< cap of the pair's growing delay (1 s, 2 s, 4 s ...)
  int user_delay = 1;      ///< added for a username with max_failures failures from all addresses
};

/// ARC sealing of relayed mail (RFC 8617), see src/dkim/arc.hpp.
struct ArcConfig {
  bool enabled = false;
  std::string domain, selector;
  std::filesystem::path key_file;
  std::string authserv_id;  ///< server.hostname when unset
};

/// Per-destination overrides: [delivery.domain."example.com"] tables; unset fields use the defaults.
struct DomainPolicy {
  std::optional<int> max_connections, messages_per_connection, rate_per_minute;
  std::optional<std::string> tls;
  std::optional<bool> verify_certificates;
};

struct DeliveryConfig {
  bool enabled = true;
  uint16_t port = 25;
  std::string helo_name;
  std::string tls = "opportunistic";
  bool verify_certificates = false;
  int connect_timeout = 30, command_timeout = 300, data_timeout = 600;
  int greeting_timeout = 30;  ///< until a server is ready for mail; silent that long: unreachable
  int max_connections_per_domain = 10;
  int max_messages_per_connection = 100;
  int connection_idle_ms = 2000;  ///< how long a connection waits for the next message to its destination
  bool direct = true;
  std::vector<Relay> backup_relays;
  int backup_check_interval = 60;
  std::map<std::string, DomainPolicy> domains;  ///< keyed by lower-case domain
};

struct FailoverPolicy {
  int test_interval = 0;
  std::string probe_sender, probe_recipient;
};

struct QueuePolicy {
  int retry_initial = 60;
  int retry_max = 3600;
  int max_lifetime = 432000;
};

/// The HTTP JSON API (src/api/).
struct ApiConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:8025";
  std::size_t max_body = 41943040, max_recipients = 1000, max_attachment_bytes = 26214400, max_headers = 50;
  std::size_t max_public_body = 65536;           ///< bodies of routes without a key (tracking, unsubscribe)
  std::size_t max_body_in_flight = 268435456;    ///< octets of bodies over all connections at once
  int rate_per_second = 0, burst = 0;
  int request_timeout = 30, idle_timeout = 60, idle_timeout_under_pressure = 5;
  std::size_t max_connections = 1000, max_connections_per_ip = 64;
  std::vector<Cidr> connection_limit_exempt;
  std::string public_listen;  ///< public.listen: the public endpoints' own listener; "": api.listen
};

/// Sending-domain records and checks (`kurier domain records|check|rotate-dkim`).
struct DomainsConfig {
  std::vector<std::string> egress_addresses;
  std::string spf_include;
  std::string return_path_prefix = "bounces", tracking_prefix = "track", tracking_target;
  bool verp = true;  ///< signed VERP return paths for mail from sending domains
  std::string dmarc_rua;
  int64_t dkim_grace = 604800;
  int check_interval = 3600;
};

/// Open and click tracking, unsubscribe links (src/tracking/, src/api/tracking_api.cpp).
struct TrackingConfig {
  std::string base_url;  ///< "https://track.{domain}" or ""; see the key's description
  bool opens = false, clicks = false;  ///< defaults for API sends
};

/// The event log and webhooks (the store; sent by src/webhooks/).
struct EventsConfig {
  int64_t retention = 2592000;  ///< seconds events are kept (30 days)
  std::string webhook_ca_file;  ///< extra trusted CAs for https webhook endpoints
  int webhook_timeout = 15;     ///< seconds for one attempt
  int webhook_max_in_flight = 32;
  /// Seconds between attempts after the first: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (~28 h in all).
  std::vector<int> webhook_retry_schedule = {5, 300, 1800, 7200, 18000, 36000, 36000};
  bool webhook_allow_private_addresses = true;
};

/// Suppressing addresses that keep soft-bouncing (the store applies it: store::SoftBouncePolicy).
struct BouncesConfig {
  int soft_limit = 5;         ///< bounces.soft_limit; 0: off
  int soft_window_days = 15;  ///< bounces.soft_window_days
};

struct Config {
  std::filesystem::path file;
  std::string hostname;
  std::filesystem::path data_dir;
  int threads = 0;
  std::filesystem::path control_socket;
  std::filesystem::path secret_file;  ///< signs VERP addresses and tracking links
  std::filesystem::path tls_certificate, tls_private_key;
  std::string tls_min_version;
  std::string tls_ciphers = "modern";  ///< tls.ciphers: "modern" or "intermediate" (src/net/tls_policy.hpp)
  int tls_reload_interval = 5;  ///< tls.reload_interval: seconds between checks of the certificate files, 0: SIGHUP only
  std::string store_backend;  ///< "sqlite" or "postgresql" (store.url given)
  std::string store_url;      ///< store.url: PostgreSQL connection URL ("" for SQLite)
  std::filesystem::path store_password_file;  ///< store.password_file ("" when unset)
  int store_pool_size = 8;    ///< store.pool_size
  std::string node_name;      ///< cluster.node_name, else server.hostname
  int drain_delay = 0;        ///< cluster.drain_delay, seconds
  int lease_timeout = 30;     ///< cluster.lease_timeout, seconds
  std::filesystem::path sqlite_path;
  int event_journal_delay_ms = 10;  ///< store.event_journal_delay_ms
  std::filesystem::path spool_path;
  bool spool_fsync = true;
  int spool_max_batch = 512;
  ListenerConfig submission, submissions, relay, inbound;
  std::vector<Cidr> relay_networks;
  std::string relay_account;
  ArcConfig arc;  ///< sealing of mail received on the relay listener
  SmtpLimits limits;
  AuthPolicy auth;
  std::string dns_forward;
  DeliveryConfig delivery;
  FailoverPolicy failover;
  QueuePolicy queue;
  DomainsConfig domains;
  ApiConfig api;
  EventsConfig events;
  BouncesConfig bounces;
  TrackingConfig tracking;
  std::string log_level;
  std::string log_format;  ///< "text" or "json" (log.format)
};

/// Loads and validates FILE. On failure the error message lists every problem, one per line,
/// each starting with the key it is about.
Result<Config> LoadConfig(const std::filesystem::path& file);

/// Every problem found in FILE (empty when it is valid).
std::vector<std::string> CheckConfig(const std::filesystem::path& file);

/// The commented kurier.toml with every default written out; `overrides` maps a dotted key to a TOML
/// value literal. Fails when a key is unknown or a value has the wrong type.
Result<std::string> RenderConfigTemplate(const std::map<std::string, std::string>& overrides);

/// The effective value of one key of FILE (`kurier config get`): the file's value or the default; paths
/// resolved as kurier uses them (relative to server.data_dir), arrays one entry per line. Fails when FILE
/// is not valid (with its errors) or when KEY is not a key (naming it, with the closest key).
Result<std::string> ConfigValue(const std::filesystem::path& file, const std::string& key);

/// Turns a command-line value into a TOML literal: kept when it parses as a TOML value, quoted otherwise.
std::string ToTomlLiteral(const std::string& value);

/// Splits "host:port" / "[v6]:port"; false when malformed.
bool SplitHostPort(const std::string& listen, std::string& host, uint16_t& port);

}  // namespace kurier
