// config_schema.cpp - the schema of kurier.toml (config_schema.hpp): keys, types, defaults, comments.
#include "common/config_schema.hpp"

namespace kurier::config_schema {

namespace {

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
     "Where accounts, credentials, keys, events and the message spool live: \"sqlite\" (embedded, one node) or "
     "\"postgresql\" (several nodes share one database; set store.url). A store.url of postgresql:// chooses it by itself."},
    {"store.url", Type::kString, R"("")",
     "PostgreSQL connection URL, e.g. \"postgresql://kurier@db.internal:5432/kurier?sslmode=verify-full\" "
     "(libpq's URI: sslmode, sslrootcert and the other parameters are honoured). Empty: the embedded SQLite store. "
     "Run 'kurier db migrate' once before the first 'kurier serve' and after each upgrade."},
    {"store.password_file", Type::kString, R"("")",
     "File holding the PostgreSQL password (one line; keep it 0600), relative to data_dir. Empty: the password "
     "comes from the URL, PGPASSWORD or ~/.pgpass, as libpq reads them."},
    {"store.pool_size", Type::kInt, "8",
     "PostgreSQL connections of each of this node's two pools (the store's and the spool's reads; listeners, "
     "delivery and the API share them); the spool's committer and the housekeeping lock hold one more each, so a "
     "node opens at most twice this plus two. Keep the sum over the nodes below the server's max_connections."},
    {"store.sqlite_path", Type::kString, R"("kurier.db")", "SQLite database file (relative to data_dir)."},
    {"store.event_journal_delay_ms", Type::kInt, "10",
     "Opens and clicks are appended to events.journal beside the database (on disk before the answer) and moved "
     "into the event log in one transaction after this many milliseconds; reading the event log moves them at once."},
    {"spool.path", Type::kString, R"("spool/spool.db")",
     "The durable message spool of the embedded SQLite store (relative to data_dir); with store.url the spool is "
     "in the PostgreSQL database."},
    {"spool.fsync", Type::kBool, "true",
     "fsync before acknowledging a message (250). Turning this off risks losing acknowledged mail on power loss."},
    {"spool.max_batch", Type::kInt, "512", "Most messages committed together by one group commit (one fsync)."},
    {"cluster.node_name", Type::kString, R"("")",
     "This node's name among the nodes sharing one PostgreSQL database (unique per node; its messages and its "
     "event journal's position are kept under it). Empty: server.hostname and the data directory, "
     "\"mail1.example.com:/var/lib/kurier\"."},
    {"cluster.lease_timeout", Type::kInt, "30",
     "Seconds without a heartbeat after which a node counts as stopped: another node takes over its queued "
     "messages and the housekeeping. Nodes heartbeat every third of it."},
    {"cluster.drain_delay", Type::kInt, "0",
     "Seconds between SIGTERM (or 'kurier serve --drain') and closing the listeners, while GET /readyz answers 503 "
     "so that a load balancer stops sending new connections first; behind one, set it above the health check's "
     "interval times its fall count (HAProxy: inter 2s, fall 3 -> 6 or more)."},
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

}  // namespace

std::span<const Key> Schema() { return kSchema; }
std::span<const Key> DomainKeys() { return kDomainKeys; }

}  // namespace kurier::config_schema
