// config.cpp - the configuration schema, the file template, loading and checking (toml++).
#include "common/config.hpp"

#include "common/encoding.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace kurier {

namespace {

enum class Type { kString, kInt, kBool, kStringList, kIntList };

struct Key {
  const char* name;
  Type type;
  const char* value;  // default, as a TOML literal
  const char* comment;
};

// The schema. Order is the order of the generated file; tables are emitted when their prefix changes.
constexpr Key kSchema[] = {
    {"server.hostname", Type::kString, R"("localhost")",
     "Name this node gives in SMTP greetings, EHLO replies and Received: headers."},
    {"server.data_dir", Type::kString, R"(".")",
     "Directory holding the database, spool and TLS files; relative to this file's directory."},
    {"server.threads", Type::kInt, "0", "I/O threads; 0 means one per CPU core."},
    {"server.secret_file", Type::kString, R"("secret.key")",
     "32 random bytes (made at the first start, mode 0600) that sign bounce addresses and tracking links; "
     "keep it across restarts and copy it to every node (relative to data_dir)."},
    {"server.control_socket", Type::kString, R"("control.sock")",
     "UNIX socket for 'kurier queue retry|delete|suspend|resume' (relative to data_dir; mode 0600)."},
    {"tls.certificate", Type::kString, R"("tls/cert.pem")", "PEM certificate chain (relative to data_dir)."},
    {"tls.private_key", Type::kString, R"("tls/key.pem")", "PEM private key (relative to data_dir)."},
    {"tls.min_version", Type::kString, R"("TLSv1.2")", "Lowest TLS version accepted: \"TLSv1.2\" or \"TLSv1.3\"."},
    {"tls.ciphers", Type::kString, R"("modern")",
     "TLS policy of the SMTP listeners (submission, submissions, relay, inbound) and the webhook client: "
     "\"modern\" allows TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305 (forward secrecy, no CBC, no "
     "static RSA), in the server's order; \"intermediate\" is Mozilla's intermediate profile (adds DHE-RSA with "
     "AES-GCM or ChaCha20-Poly1305, in the client's order). TLS 1.3 is offered in both; TLS 1.0 and 1.1 never. "
     "Outbound delivery to other mail servers is not restricted by it (opportunistic STARTTLS, RFC 7435)."},
    {"tls.reload_interval", Type::kInt, "5",
     "Seconds between checks of tls.certificate and tls.private_key for new files (as certbot renews them): a "
     "changed pair is loaded for new connections; one that does not load is logged and the old one kept. "
     "SIGHUP reloads at once. 0: only on SIGHUP."},
    {"store.backend", Type::kString, R"("sqlite")",
     "Where accounts, credentials, keys and events live: \"sqlite\" (embedded)."},
    {"store.sqlite_path", Type::kString, R"("kurier.db")", "SQLite database file (relative to data_dir)."},
    {"store.event_journal_delay_ms", Type::kInt, "10",
     "Opens and clicks are appended to events.journal beside the database (on disk before the answer) and moved "
     "into the event log in one transaction after this many milliseconds; reading the event log moves them at once."},
    {"spool.path", Type::kString, R"("spool/spool.db")",
     "Node-local durable message spool (relative to data_dir)."},
    {"spool.fsync", Type::kBool, "true",
     "fsync before acknowledging a message (250). Turning this off risks losing acknowledged mail on power loss."},
    {"spool.max_batch", Type::kInt, "512", "Most messages committed together by one group commit (one fsync)."},
    {"smtp.submission.enabled", Type::kBool, "true", "Message submission with STARTTLS (RFC 6409, RFC 3207)."},
    {"smtp.submission.listen", Type::kString, R"("127.0.0.1:2587")", "Address and port; use 0.0.0.0:587 in production."},
    {"smtp.submissions.enabled", Type::kBool, "true", "Submission over implicit TLS (RFC 8314)."},
    {"smtp.submissions.listen", Type::kString, R"("127.0.0.1:2465")", "Address and port; use 0.0.0.0:465 in production."},
    {"smtp.relay.enabled", Type::kBool, "false",
     "Relay listener for trusted networks: no AUTH, clients are allowed by address only."},
    {"smtp.relay.listen", Type::kString, R"("127.0.0.1:2025")", "Address and port of the relay listener."},
    {"smtp.relay.networks", Type::kStringList, R"(["127.0.0.0/8", "::1/128"])",
     "Client networks (CIDR) allowed to use the relay listener."},
    {"smtp.relay.account", Type::kString, R"("default")", "Account that mail received on the relay listener belongs to."},
    {"smtp.inbound.enabled", Type::kBool, "false",
     "The bounce listener: takes DSNs, feedback (ARF) reports and auto-replies addressed to the sending domains' "
     "return-path domains (domains.return_path_prefix), and nothing else. Point their MX records here."},
    {"smtp.inbound.listen", Type::kString, R"("127.0.0.1:2526")", "Address and port of the bounce listener; use 0.0.0.0:25 in production."},
    {"smtp.limits.max_command_line", Type::kInt, "512", "Longest command line in octets, CRLF included (RFC 5321 4.5.3.1.4)."},
    {"smtp.limits.max_auth_line", Type::kInt, "12288", "Longest AUTH exchange line (RFC 4954 4)."},
    {"smtp.limits.max_data_line", Type::kInt, "2048", "Longest message line in octets; longer lines refuse the message."},
    {"smtp.limits.max_message_size", Type::kInt, "26214400", "Largest message in octets, advertised with SIZE (RFC 1870)."},
    {"smtp.limits.max_recipients", Type::kInt, "1000", "Most recipients per message (RFC 5321 4.5.3.1.8)."},
    {"smtp.limits.max_commands", Type::kInt, "10000", "Most commands per connection."},
    {"smtp.limits.max_errors", Type::kInt, "20", "Most error replies per connection before it is closed."},
    {"smtp.limits.command_timeout", Type::kInt, "300",
     "Seconds a whole command line may take, counted from the end of the previous reply to its CRLF (a line "
     "dripped byte by byte is cut, RFC 5321 4.5.3.2.7); in message data, seconds to wait for the next octets."},
    {"smtp.limits.session_timeout", Type::kInt, "1800", "Seconds a connection may last in total."},
    {"smtp.limits.data_min_rate", Type::kInt, "1024",
     "Slowest message transfer (DATA or BDAT) accepted, in octets per second, measured over "
     "smtp.limits.data_rate_window; a slower client is answered 421 4.4.2 and disconnected. 0 turns it off."},
    {"smtp.limits.data_rate_window", Type::kInt, "30",
     "Seconds over which smtp.limits.data_min_rate is measured; also the grace period at the start of the data."},
    {"smtp.limits.tls_handshake_timeout", Type::kInt, "30", "Seconds allowed for a TLS handshake."},
    {"smtp.limits.max_connections", Type::kInt, "1000", "Most simultaneous connections over all listeners."},
    {"smtp.limits.max_connections_per_ip", Type::kInt, "50", "Most simultaneous connections from one client address."},
    {"api.enabled", Type::kBool, "true", "The HTTP JSON API (send, templates, management); see /v1/openapi.json."},
    {"api.listen", Type::kString, R"("127.0.0.1:8025")", "Address and port of the HTTP API."},
    {"api.max_body", Type::kInt, "41943040", "Largest request body in octets of the routes that need an API key (413 above it)."},
    {"api.max_public_body", Type::kInt, "65536",
     "Largest request body in octets of the routes anyone may call without a key (tracking, unsubscribe); 413 above it."},
    {"api.max_body_in_flight", Type::kInt, "268435456",
     "Octets of request bodies received or handled at once, over all HTTP connections; a request whose body "
     "(its Content-Length, or for a chunked body its limit) does not fit is answered 503 with Retry-After."},
    {"api.max_recipients", Type::kInt, "1000", "Most recipients in one send request (to, cc, bcc and recipients[] together)."},
    {"api.max_attachment_bytes", Type::kInt, "26214400", "Most attachment octets (decoded) in one message."},
    {"api.max_headers", Type::kInt, "50", "Most extra header fields in one message."},
    {"api.rate_per_second", Type::kInt, "0", "Requests per second allowed to one API key (429 with Retry-After above it); 0: unlimited."},
    {"api.burst", Type::kInt, "0", "Requests one API key may make at once before the rate applies; 0: one second's worth."},
    {"api.request_timeout", Type::kInt, "30",
     "Seconds allowed for a request's header from its first octet (408 after), and again for its body."},
    {"api.idle_timeout", Type::kInt, "60", "Seconds a connection may wait for the first octet of its next request."},
    {"api.idle_timeout_under_pressure", Type::kInt, "5",
     "The same while more than 3/4 of api.max_connections are open, so that idle connections make room."},
    {"api.max_connections", Type::kInt, "1000", "Most simultaneous HTTP connections (on each HTTP listener)."},
    {"api.max_connections_per_ip", Type::kInt, "64",
     "Most simultaneous HTTP connections from one client address (503 above it); 0: no per-address limit."},
    {"api.connection_limit_exempt", Type::kStringList, "[]",
     "Client networks api.max_connections_per_ip does not apply to, e.g. [\"127.0.0.1/32\"] for a reverse proxy "
     "or an application pool on this host (every client behind a proxy shares its address)."},
    {"public.listen", Type::kString, R"("")",
     "Address and port of a listener of its own for the public endpoints that recipients reach (tracking /t/o, "
     "/t/c, unsubscribe /t/u); the API listener then stops serving them. \"\": api.listen serves them too."},
    {"tracking.base_url", Type::kString, R"("")",
     "Where open, click and unsubscribe links point: \"https://track.{domain}\" uses each sending domain's "
     "tracking CNAME (domains.tracking_prefix); \"\" means http://<public.listen>, or http://<api.listen> without it (for trying it out)."},
    {"tracking.opens", Type::kBool, "false", "Add an open pixel to HTML mail (API sends that do not say, and SMTP submissions) unless the account sets its own default."},
    {"tracking.clicks", Type::kBool, "false", "Rewrite http(s) links of HTML mail (API sends that do not say, and SMTP submissions) unless the account sets its own default."},
    {"events.retention", Type::kInt, "2592000", "Seconds the event log keeps events (30 days); older ones are purged hourly."},
    {"events.webhook_ca_file", Type::kString, R"("")",
     "PEM file of CA certificates trusted for https webhook endpoints beside the system's; \"\" for the system's only."},
    {"events.webhook_timeout", Type::kInt, "15", "Seconds allowed for one webhook POST (connect, TLS, request and answer)."},
    {"events.webhook_max_in_flight", Type::kInt, "32", "Most webhook POSTs under way at once."},
    {"events.webhook_retry_schedule", Type::kIntList, "[5, 300, 1800, 7200, 18000, 36000, 36000]",
     "Seconds between a failed webhook attempt and the next; after the last the event is dropped for that endpoint."},
    {"events.webhook_allow_private_addresses", Type::kBool, "true",
     "Allow webhook endpoints on loopback and private networks (refuse them in a multi-tenant setup)."},
    {"bounces.soft_limit", Type::kInt, "5",
     "An address that soft-bounces this many times (distinct messages) within bounces.soft_window_days, with no "
     "delivery to it in between, is suppressed with reason soft_bounce_limit; 0 never suppresses for soft bounces."},
    {"bounces.soft_window_days", Type::kInt, "15", "Days over which bounces.soft_limit counts soft bounces."},
    {"auth.max_failures", Type::kInt, "20",
     "Failed logins from one client address (all usernames together) within auth.failure_window before that "
     "address is blocked for auth.cooldown. A username is never blocked: one that fails this often from all "
     "addresses together only gets auth.user_delay added to its answers."},
    {"auth.failure_window", Type::kInt, "600", "Seconds over which failed logins are counted."},
    {"auth.cooldown", Type::kInt, "600",
     "Seconds during which AUTH from a blocked address is refused (454), even with the right password; "
     "'kurier auth unblock --ip A' ends it early."},
    {"auth.free_failures", Type::kInt, "2",
     "Failed logins of one (address, username) pair answered without delay; after them each answer waits 1 s, "
     "2 s, 4 s ... up to auth.max_delay. A success resets the pair."},
    {"auth.max_delay", Type::kInt, "30", "Longest wait in seconds before answering an AUTH from a failing (address, username) pair."},
    {"auth.user_delay", Type::kInt, "1",
     "Seconds added before every answer for a username that failed auth.max_failures times from all addresses "
     "(0: none); never a refusal."},
    {"auth.cache_ttl", Type::kInt, "600",
     "Seconds a verified password is remembered (keyed hash, memory only) to spare repeated Argon2id work; 0 disables."},
    {"delivery.enabled", Type::kBool, "true", "Deliver queued mail to the recipients' mail servers."},
    {"delivery.port", Type::kInt, "25",
     "TCP port of the recipients' MX hosts (25; tests use a high port). Backup relays take theirs from their URLs."},
    {"delivery.helo_name", Type::kString, R"("")", "Name given in EHLO to remote servers; empty: server.hostname."},
    {"delivery.tls", Type::kString, R"("opportunistic")",
     "STARTTLS to remote servers: \"opportunistic\" (when offered), \"required\" (defer otherwise) or \"none\"."},
    {"delivery.verify_certificates", Type::kBool, "false",
     "Verify remote servers' certificates (opportunistic TLS usually does not; MTA-STS/DANE will)."},
    {"delivery.connect_timeout", Type::kInt, "30", "Seconds to wait for a TCP connection to a remote server."},
    {"delivery.command_timeout", Type::kInt, "300", "Seconds to wait for a reply to a command (RFC 5321 4.5.3.2)."},
    {"delivery.data_timeout", Type::kInt, "600", "Seconds to wait for the reply to the end of data (RFC 5321 4.5.3.2.6)."},
    {"delivery.greeting_timeout", Type::kInt, "30",
     "Seconds to wait for a connected server's greeting and for each reply until it is ready for mail (EHLO, "
     "STARTTLS, TLS, AUTH; delivery.command_timeout when shorter). A server silent that long counts as unreachable, like a refused connection: the "
     "next MX host, then a backup relay, is tried in the same attempt. Also bounds 'kurier failover test' and the "
     "relays' health checks."},
    {"delivery.max_connections_per_domain", Type::kInt, "10", "Most simultaneous connections to one recipient domain."},
    {"delivery.max_messages_per_connection", Type::kInt, "100", "Messages sent over one connection before it is closed."},
    {"delivery.connection_idle_ms", Type::kInt, "2000",
     "Milliseconds a connection whose destination has nothing more to send stays open for the next message "
     "(like Postfix's smtp_connection_cache_time_limit); 0 closes it at once."},
    {"delivery.direct", Type::kBool, "true",
     "Deliver to the recipients' MX hosts; false sends everything through delivery.backup_relays."},
    {"delivery.backup_relays", Type::kStringList, "[]",
     "Fail-over relays, tried in order when a domain's MX hosts cannot be reached: \"smtp://host:25\", "
     "\"smtp+starttls://user:password@host:587\" or \"smtps://user:password@host:465\". A URL without a port "
     "uses its scheme's default (25, 587, 465), not delivery.port."},
    {"delivery.backup_check_interval", Type::kInt, "60",
     "Seconds between health checks of the backup relays and of the MX hosts of each domain that failed over: "
     "one whose MX takes a connection again fails back, and relay connections stop taking its mail after their "
     "current message. 0 disables both (a domain then fails back only when a new connection finds its MX)."},
    {"arc.enabled", Type::kBool, "false",
     "ARC-seal (RFC 8617) mail received on the relay listener: ARC-Seal, ARC-Message-Signature and "
     "ARC-Authentication-Results (i=1, cv=none, the client's address) signed with arc.key_file, so that receivers "
     "can tell kurier relayed it. Mail that already carries ARC fields is sent unsealed: kurier does not validate "
     "incoming chains, so it does not extend them."},
    {"arc.domain", Type::kString, R"("")",
     "Domain the seals are made for (d=), e.g. the operator's own domain; its key record goes at "
     "SELECTOR._domainkey.DOMAIN. Required when arc.enabled is true."},
    {"arc.selector", Type::kString, R"("arc")", "Selector (s=) of the sealing key."},
    {"arc.key_file", Type::kString, R"("arc.pem")",
     "PEM private key of the seals (relative to data_dir), one key for all relayed mail, not the sending domains' "
     "DKIM keys; create it with 'kurier dkim keygen --algorithm rsa --out FILE', which prints the TXT record to "
     "publish. It must be RSA: ARC verifiers accept rsa-sha256 only."},
    {"arc.authserv_id", Type::kString, R"("")",
     "authserv-id of the ARC-Authentication-Results (RFC 8601); empty: server.hostname."},
    {"failover.test_interval", Type::kInt, "0",
     "Seconds between scheduled fail-over drills (a probe through every backup relay); 0 disables."},
    {"failover.probe_sender", Type::kString, R"("")", "MAIL FROM of drill probes; empty: postmaster@server.hostname."},
    {"failover.probe_recipient", Type::kString, R"("")",
     "Where drill probes are sent; empty: the drill stops after the relay accepts MAIL FROM (no mail is sent)."},
    {"queue.retry_initial", Type::kInt, "60", "Seconds before the first retry of a deferred recipient; doubled each time."},
    {"queue.retry_max", Type::kInt, "3600", "Longest wait between two attempts, in seconds."},
    {"queue.max_lifetime", Type::kInt, "432000", "Seconds a recipient may stay deferred before it bounces (5 days)."},
    {"domains.egress_addresses", Type::kStringList, "[]",
     "Public IPv4/IPv6 addresses this node sends from. SPF records name them, and 'kurier domain check' checks "
     "that each domain's SPF covers them and that each has a PTR name that resolves back."},
    {"domains.spf_include", Type::kString, R"("")",
     "Recommend \"include:NAME\" in customers' SPF records instead of listing egress_addresses (publish NAME's "
     "own SPF record with the addresses); empty: list the addresses."},
    {"domains.verp", Type::kBool, "true",
     "Send mail from a sending domain with a signed VERP return path, bounces+ID-TAG@<return_path_prefix>.<domain>, "
     "so that bounces and complaints are matched to the message (needs the return-path MX record and smtp.inbound)."},
    {"domains.return_path_prefix", Type::kString, R"("bounces")",
     "Return-path (bounce) domain of each sending domain: PREFIX.DOMAIN, with an MX to server.hostname and SPF."},
    {"domains.tracking_prefix", Type::kString, R"("track")",
     "Open/click tracking domain of each sending domain: PREFIX.DOMAIN, a CNAME to domains.tracking_target."},
    {"domains.tracking_target", Type::kString, R"("")", "Host the tracking CNAME points to; empty: server.hostname."},
    {"domains.dmarc_rua", Type::kString, R"("")",
     "Where DMARC aggregate reports go (rua=); empty: mailto:dmarc-reports@DOMAIN."},
    {"domains.dkim_grace", Type::kInt, "604800",
     "Seconds a replaced DKIM key's record must stay published after the new key took over (7 days), so that "
     "mail it signed still verifies."},
    {"domains.check_interval", Type::kInt, "3600",
     "Seconds between serve's checks of domains in a DKIM rotation (switching to new keys once they are in DNS, "
     "retiring old ones); 0 disables (run 'kurier domain check' yourself)."},
    {"dns.forward", Type::kString, R"("")",
     "DNS servers to forward queries to, e.g. \"127.0.0.1@5353\" (comma-separated); empty: /etc/resolv.conf."},
    {"log.level", Type::kString, R"("info")", "One of trace, debug, info, warn, error."},
    {"log.format", Type::kString, R"("text")",
     "\"text\": one line per record, TIME LEVEL MESSAGE; \"json\": one JSON object per line, {\"time\" (RFC 3339, "
     "UTC), \"level\", \"message\"}, for journald or a log shipper. Logs go to stderr (journalctl -u kurier)."},
};

// Keys of a [delivery.domain."NAME"] table (per-destination overrides).
constexpr Key kDomainKeys[] = {
    {"max_connections", Type::kInt, "", "Most simultaneous connections to this domain."},
    {"messages_per_connection", Type::kInt, "", "Messages sent over one connection."},
    {"rate_per_minute", Type::kInt, "", "Most messages per minute to this domain; 0: unlimited."},
    {"tls", Type::kString, "", "\"opportunistic\", \"required\" or \"none\"."},
    {"verify_certificates", Type::kBool, "", "Verify this domain's certificates."},
};
constexpr std::string_view kDomainTable = "delivery.domain";

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
  if (c.store_backend != "sqlite")
    r.Error("store.backend: \"" + c.store_backend + "\" is not available; use \"sqlite\"");
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
