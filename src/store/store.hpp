// store.hpp - the storage interface for everything that is not a message body: accounts, sender
// domains, SMTP credentials, API keys, stored templates and the event log. Callers see only this
// interface; the SQLite backend (sqlite/) is the embedded default, the PostgreSQL backend (postgres/) the
// one several nodes share.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/audience.hpp"
#include "store/message_context.hpp"

namespace kurier::store {

struct Account {
  int64_t id = 0;
  std::string name;
  std::vector<std::string> sender_domains;
  int64_t created_at = 0;  ///< microseconds since the epoch
  bool send_dsn = true;    ///< return delivery status notifications to senders (RFC 3464)
  bool sandbox = true;     ///< sandbox: sender domains need not be verified
  std::vector<std::string> verified_domains;  ///< sending domains whose DKIM records checked out
  /// The account's defaults for mail that does not say, API sends and SMTP submissions alike
  /// (tracking.opens / tracking.clicks and "no List-Unsubscribe" when unset).
  std::optional<bool> track_opens, track_clicks, list_unsubscribe;
  /// SMTP (submission and relay): true refuses a suppressed recipient at RCPT (550 5.7.1); unset or
  /// false accepts it and records a `suppressed` event instead of sending, as the API does.
  std::optional<bool> refuse_suppressed;
  /// Test mode: the account's mail is validated, signed, tracked and recorded (events, statistics,
  /// webhooks) as usual, but never sent: delivery records `delivered` with mx "test-mode" (unset: off).
  std::optional<bool> test_mode;
};

struct SmtpCredential {
  int64_t id = 0;
  std::string username;
  std::string account;
  std::string password_hash;  ///< Argon2id, libsodium's crypto_pwhash_str format
  int64_t created_at = 0;
};

struct ApiKey {
  int64_t id = 0;
  std::string account;
  std::string name;
  std::string prefix;      ///< first characters of the key, shown in listings
  std::string key_hash;    ///< BLAKE2b-256 hex of the whole key
  std::string scopes;      ///< space-separated: send read admin
  int64_t created_at = 0;
  bool revoked = false;
};

/// A sending domain and one of its DKIM keys (the private key lives in a 0600 file).
struct DkimKey {
  int64_t id = 0;
  std::string domain;
  std::string account;
  std::string selector;
  std::string algorithm;  ///< "rsa" or "ed25519"
  std::string key_path;
  int64_t created_at = 0;
  bool active = true;  ///< state == "active"
  /// DKIM rotation: "pending" (published, not yet seen in DNS, not signing), "active" (signing),
  /// "retiring" (replaced; its record must stay published until retire_at), "retired" (may be unpublished).
  std::string state = "active";
  int64_t retire_at = 0;  ///< microseconds; for "retiring"
};

/// One version of a stored template: Mustache sources for the subject, text and html. Versions are
/// numbered 1, 2, 3, ... per template and never change once written, so a message can pin one.
struct TemplateVersion {
  int version = 0;
  std::string subject, text, html;
  int64_t created_at = 0;  ///< microseconds since the epoch
};

/// A stored template of one account. `versions` holds every version's number and time (contents empty)
/// where a method says so.
struct StoredTemplate {
  std::string id;  ///< "tmpl_" + a queue-id-like token; stable for the template's life
  std::string account;
  std::string name;  ///< unique per account, case-insensitive
  int64_t created_at = 0, updated_at = 0;
  int published_version = 0;  ///< 0: none published
  int latest_version = 0;
  std::vector<TemplateVersion> versions;
};

/// A change to a template, applied in one transaction by Store::UpdateTemplate.
struct TemplateUpdate {
  std::optional<std::string> name;         ///< rename
  std::optional<TemplateVersion> content;  ///< a new version (its number is assigned)
  bool publish = false;                    ///< publish the new version
};

struct Event {
  int64_t id = 0;
  int64_t time = 0;  ///< microseconds since the epoch
  std::string type;  ///< accepted, auth_failed, ...
  std::string message_id;
  std::string account;
  std::string data;  ///< JSON object text
};

struct EventFilter {
  std::string type;
  std::string message_id;
  std::size_t limit = 1000;
  std::string account;       ///< "" for all
  int64_t since = 0, until = 0;  ///< microseconds, inclusive/exclusive; 0: unbounded
  int64_t after_id = 0;      ///< cursor: only ids above (oldest first) ...
  int64_t before_id = 0;     ///< ... or below (newest first)
  bool newest_first = false;
  // On the JSON data of `accepted` events:
  std::string sender;     ///< data.mail_from, case-insensitive
  std::string recipient;  ///< one of data.recipients, case-insensitive
  std::string tag;        ///< one of data.tags
};

/// An address that kurier does not send to, for one account ("" = every account).
struct Suppression {
  std::string account;  ///< "" for the global list
  std::string address;  ///< stored lower-cased
  std::string reason;   ///< hard_bounce, soft_bounce_limit, complaint, unsubscribe, manual
  std::string detail;   ///< the bounce reason, remote reply and the rule that decided, or a note
  std::string message_id;  ///< the message that caused it, if any
  int64_t created_at = 0;  ///< microseconds
};

/// A webhook endpoint of one account. Secrets are Standard Webhooks secrets ("whsec_..."); the
/// previous secret stays live (signatures carry both) until previous_secret_expires. The store keeps
/// them encrypted with the server key (StoreOptions::server_secret, common/secret_box.hpp) and hands
/// them out decrypted.
struct Webhook {
  std::string id;  ///< "wh_" + a random token
  std::string account;
  std::string url;
  std::vector<std::string> event_types;  ///< empty: every type
  std::string description;
  std::string secret;
  std::string previous_secret;
  int64_t previous_secret_expires = 0;
  /// Set, with secret and previous_secret empty, when the stored secrets could not be decrypted (a
  /// damaged row, another server.secret_file, no key loaded): what happened and what to do. Nothing is
  /// signed then; UpdateWebhook leaves the stored secrets as they are unless new ones are given.
  std::string secret_error;
  bool enabled = true;
  std::string disabled_reason;
  int64_t created_at = 0;
  /// The secrets a signature is made with now (current first).
  std::vector<std::string> LiveSecrets(int64_t now) const {
    std::vector<std::string> out{secret};
    if (!previous_secret.empty() && previous_secret_expires > now) out.push_back(previous_secret);
    return out;
  }
};

/// One event waiting in the durable outbox for one webhook.
struct WebhookDelivery {
  int64_t id = 0;  ///< outbox row
  Webhook webhook;
  Event event;
  int attempts = 0;  ///< made so far
  int64_t created_at = 0;
};

/// How long a webhook delivery handed out by Store::DueWebhookDeliveries stays claimed (10 minutes, far
/// above events.webhook_timeout).
constexpr int64_t kWebhookClaimMicros = 10LL * 60 * 1000000;

/// The outcome of one attempt; next_attempt 0 with !delivered means give up.
struct WebhookAttempt {
  bool delivered = false;
  int status = 0;
  std::string error;
  int64_t next_attempt = 0;
};

/// Counts for GET /v1/stats: one row per (bucket, event type).
struct StatsRow {
  int64_t bucket = 0;  ///< start of the hour or day, microseconds
  std::string type;
  int64_t total = 0;
  int64_t unique = 0;  ///< distinct (message, recipient)
  std::string classification;  ///< for bounced: hard or soft
};

struct StatsQuery {
  std::string account;
  int64_t from = 0, to = 0;  ///< microseconds, [from, to)
  int64_t bucket = 3600LL * 1000000;  ///< hour or day, microseconds
  std::string tag;
  std::string domain;  ///< the sending domain (the sender's)
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<Account> CreateAccount(const std::string& name) = 0;
  virtual Result<std::optional<Account>> FindAccount(const std::string& name) = 0;
  virtual Result<std::vector<Account>> ListAccounts() = 0;
  virtual Result<void> RemoveAccount(const std::string& name) = 0;
  virtual Result<void> SetSendDsn(const std::string& account, bool on) = 0;
  virtual Result<void> SetSandbox(const std::string& account, bool on) = 0;
  /// Sets (or with nullopt clears, back to the server's default) one of the account's send defaults:
  /// "track_opens", "track_clicks", "list_unsubscribe", "refuse_suppressed" or "test_mode".
  virtual Result<void> SetAccountDefault(const std::string& account, const std::string& setting, std::optional<bool> value) = 0;
  virtual Result<void> SetDomainVerified(const std::string& domain, bool verified) = 0;
  virtual Result<void> AddSenderDomain(const std::string& account, const std::string& domain) = 0;
  virtual Result<void> RemoveSenderDomain(const std::string& account, const std::string& domain) = 0;

  virtual Result<SmtpCredential> AddSmtpCredential(const std::string& account, const std::string& username,
                                                   const std::string& password_hash) = 0;
  virtual Result<std::optional<SmtpCredential>> FindSmtpCredential(const std::string& username) = 0;
  virtual Result<std::vector<SmtpCredential>> ListSmtpCredentials(const std::string& account) = 0;
  virtual Result<void> RemoveSmtpCredential(const std::string& username) = 0;

  virtual Result<ApiKey> CreateApiKey(const ApiKey& key) = 0;
  virtual Result<std::vector<ApiKey>> ListApiKeys(const std::string& account) = 0;
  virtual Result<void> RevokeApiKey(int64_t id) = 0;
  /// The live (not revoked) key whose BLAKE2b-256 hex is `key_hash`, if any.
  virtual Result<std::optional<ApiKey>> FindApiKeyByHash(const std::string& key_hash) = 0;

  /// Sending domains: AddDomain fails when the domain belongs to another account.
  virtual Result<void> AddDomain(const std::string& account, const std::string& domain) = 0;
  virtual Result<DkimKey> AddDkimKey(const DkimKey& key) = 0;
  /// Active keys of `domain` (all domains when empty).
  /// Every key of `domain` ("" for all domains), whatever its state, oldest first.
  virtual Result<std::vector<DkimKey>> ListDkimKeys(const std::string& domain) = 0;
  virtual Result<void> SetDkimKeyState(int64_t id, const std::string& state, int64_t retire_at) = 0;

  /// HTTP API Idempotency-Key records (kept 24 h): the stored response for (account, key), if any.
  struct IdempotentResponse {
    std::string request_hash;
    int status = 0;
    std::string body;
  };
  virtual Result<std::optional<IdempotentResponse>> FindIdempotent(const std::string& account, const std::string& key,
                                                                   int64_t not_before) = 0;
  virtual Result<void> SaveIdempotent(const std::string& account, const std::string& key,
                                      const IdempotentResponse& response, int64_t expire_before) = 0;

  /// Templates (HTTP API). Every call is scoped to `account`: another account's template is not found.
  /// CreateTemplate writes version 1 (published when `publish`); kAlreadyExists when the name is taken.
  virtual Result<StoredTemplate> CreateTemplate(const std::string& account, const std::string& name,
                                                const TemplateVersion& first, bool publish) = 0;
  /// The account's templates by name, without `versions`.
  virtual Result<std::vector<StoredTemplate>> ListTemplates(const std::string& account) = 0;
  /// By id, else by name (case-insensitive); with `versions` (numbers and times only).
  virtual Result<std::optional<StoredTemplate>> FindTemplate(const std::string& account, const std::string& id_or_name) = 0;
  /// One version's content; nullopt when the template or the version does not exist.
  virtual Result<std::optional<TemplateVersion>> FindTemplateVersion(const std::string& account, const std::string& id,
                                                                     int version) = 0;
  /// Renames and/or adds a version (optionally published); returns the template as FindTemplate does.
  /// kNotFound, or kAlreadyExists when the new name is taken.
  virtual Result<StoredTemplate> UpdateTemplate(const std::string& account, const std::string& id,
                                                const TemplateUpdate& update) = 0;
  /// kNotFound when the template or the version does not exist.
  virtual Result<void> PublishTemplateVersion(const std::string& account, const std::string& id, int version) = 0;
  /// Removes the template and all its versions; kNotFound when there is none.
  virtual Result<void> DeleteTemplate(const std::string& account, const std::string& id) = 0;

  /// Appends events in one transaction. In the same transaction: each event of an account is queued
  /// for that account's webhooks that want its type (the durable outbox), and a hard `bounced`, a
  /// `complained` or an `unsubscribed` event puts its recipient on the account's suppression list
  /// (the rules of event_rules.hpp, which backends apply through store::WriteEvents).
  virtual Result<void> AppendEvents(const std::vector<Event>& events) = 0;
  /// Records one frequent, small event (an open, a click, a message accepted or delivered) at the cost
  /// of a copy into a mapped file: once this returns it survives a crash of the process, and it is in
  /// the event log a few milliseconds later and before any read of the event log by this process
  /// (ListEvents, Stats). Without an event journal (OpenEventJournal), the same as AppendEvents({event}).
  virtual Result<void> RecordEvent(const Event& event) { return AppendEvents({event}); }
  /// Opens the event journal at `path` for RecordEvent (the server does; tools reading the store do
  /// not) and imports what an earlier run left in it.
  virtual Result<void> OpenEventJournal(const std::filesystem::path& path, int delay_ms = 10) {
    return MakeError(ErrorCode::kInvalidArgument, "this store has no event journal (" + path.string() + ")");
  }
  virtual Result<std::vector<Event>> ListEvents(const EventFilter& filter) = 0;
  /// Message `id` as its events tell it (MessageContext: account, sender, recipients, tags, metadata,
  /// deliveries); nullopt when the event log has no readable `accepted` event of it. Written once over
  /// ListEvents (store.cpp); a backend may answer it more directly.
  virtual Result<std::optional<MessageContext>> FindMessageContext(const std::string& id);
  /// Deletes events older than `before` (retention) and finished outbox rows; returns how many events.
  virtual Result<int64_t> PurgeEvents(int64_t before) = 0;
  virtual Result<std::vector<StatsRow>> Stats(const StatsQuery& query) = 0;

  /// Suppressions. AddSuppression returns false when the address was already suppressed (kept as is).
  virtual Result<bool> AddSuppression(const Suppression& s) = 0;
  virtual Result<bool> RemoveSuppression(const std::string& account, const std::string& address) = 0;
  /// The account's list ("" for the global one) ordered by address, after `after_address`.
  virtual Result<std::vector<Suppression>> ListSuppressions(const std::string& account, const std::string& after_address,
                                                            std::size_t limit) = 0;
  /// Which of `addresses` are suppressed for `account`, by the account's list or the global one.
  virtual Result<std::vector<Suppression>> FindSuppressions(const std::string& account,
                                                            const std::vector<std::string>& addresses) = 0;

  /// Webhooks; every call but the dispatcher's is scoped to `account`.
  virtual Result<Webhook> CreateWebhook(const Webhook& w) = 0;
  virtual Result<std::vector<Webhook>> ListWebhooks(const std::string& account) = 0;
  virtual Result<std::optional<Webhook>> FindWebhook(const std::string& account, const std::string& id) = 0;
  /// Writes url, event_types, description, enabled (and clears disabled_reason when enabled), and the secrets.
  virtual Result<void> UpdateWebhook(const Webhook& w) = 0;
  virtual Result<void> DeleteWebhook(const std::string& account, const std::string& id) = 0;
  virtual Result<void> DisableWebhook(const std::string& id, const std::string& reason) = 0;
  /// Outbox rows due at `now` (oldest first) with their webhook and event, claimed for the caller: their
  /// next attempt moves to now + kWebhookClaimMicros, so no caller (of this node or another sharing the
  /// database) gets them again until FinishWebhookAttempt or the claim lapses (the sender stopped).
  virtual Result<std::vector<WebhookDelivery>> DueWebhookDeliveries(int64_t now, std::size_t limit) = 0;
  /// The earliest next_attempt of a pending row, 0 when none.
  virtual Result<int64_t> NextWebhookDue() = 0;
  virtual Result<void> FinishWebhookAttempt(int64_t outbox_id, const WebhookAttempt& attempt) = 0;
  /// Outbox rows of one webhook (newest first), for GET /v1/webhooks/{id}/deliveries.
  struct OutboxRow {
    int64_t id = 0, event_id = 0;
    std::string event_type, state;
    int attempts = 0, last_status = 0;
    std::string last_error;
    int64_t created_at = 0, next_attempt = 0;
  };
  virtual Result<std::vector<OutboxRow>> ListWebhookDeliveries(const std::string& webhook_id, std::size_t limit) = 0;
  /// How many outbox rows wait to be sent or retried (the webhook backlog of /metrics).
  virtual Result<int64_t> WebhookBacklog() = 0;

  /// Contacts and lists (store/audience.hpp); every call is scoped to `account`. SaveContacts writes a batch
  /// in one transaction; kNotFound when options.list_id is not one of the account's lists.
  virtual Result<ContactSaveCounts> SaveContacts(const std::string& account, const std::vector<ContactWrite>& contacts,
                                                 const ContactSaveOptions& options) = 0;
  /// By id (its decimal text) or by normalised address; with `lists`.
  virtual Result<std::optional<Contact>> FindContact(const std::string& account, const std::string& id_or_address) = 0;
  virtual Result<std::vector<Contact>> ListContacts(const ContactQuery& query) = 0;
  /// How many contacts the query matches (its cursor and limit ignored).
  virtual Result<int64_t> CountContacts(const ContactQuery& query) = 0;
  /// Removes the contact and its memberships; false when there was none.
  virtual Result<bool> DeleteContact(const std::string& account, int64_t id) = 0;
  /// kAlreadyExists when the account has a list of that name.
  virtual Result<ContactList> CreateList(const ContactList& list) = 0;
  /// The account's lists by name, with their member counts.
  virtual Result<std::vector<ContactList>> ListLists(const std::string& account) = 0;
  /// By id, else by name (case-insensitive); with its member counts.
  virtual Result<std::optional<ContactList>> FindList(const std::string& account, const std::string& id_or_name) = 0;
  /// Removes the list and its memberships (not the contacts); false when there was none.
  virtual Result<bool> DeleteList(const std::string& account, const std::string& id) = 0;
  /// Puts the contact on the list with `status` (consent "" keeps a membership's record), or with status ""
  /// takes it off; false when the contact or the list is not the account's.
  virtual Result<bool> SetMembership(const std::string& account, const std::string& list_id, int64_t contact_id,
                                     const std::string& status, const std::string& consent) = 0;

  /// Campaigns (store/audience.hpp). CreateCampaign assigns the id and times; kAlreadyExists when the name
  /// is taken. UpdateCampaign writes name, state, spec, start_at, cursor, targeted, sent, started_at and
  /// finished_at (kNotFound when there is none); with `if_state`, only while the stored state is that one
  /// (false when it was not: another writer changed it, e.g. a pause during the runner's batch).
  virtual Result<Campaign> CreateCampaign(const Campaign& campaign) = 0;
  virtual Result<std::optional<Campaign>> FindCampaign(const std::string& account, const std::string& id_or_name) = 0;
  virtual Result<std::vector<Campaign>> ListCampaigns(const std::string& account) = 0;
  virtual Result<bool> UpdateCampaign(const Campaign& campaign, const std::string& if_state = "") = 0;
  /// Every account's campaigns the runner has work for at `now`: running, and scheduled to start by now.
  virtual Result<std::vector<Campaign>> DueCampaigns(int64_t now) = 0;
  /// The events of a campaign's messages (data.metadata.campaign = `campaign_id`) by type: total and unique
  /// (distinct recipient; for `accepted`, distinct message). Rows with bucket 0.
  virtual Result<std::vector<StatsRow>> CampaignCounts(const std::string& account, const std::string& campaign_id) = 0;

  /// Whether the store answers now (GET /readyz): one trivial statement for a database server.
  virtual Result<void> Ping() { return {}; }
  /// The connection pool of a database server (/metrics); nullopt for the embedded store.
  struct PoolUse {
    std::size_t open = 0, in_use = 0, size = 0;
    unsigned long long waited = 0;  ///< acquisitions that had to wait
  };
  virtual std::optional<PoolUse> ConnectionUse() { return std::nullopt; }

  /// Called (from the appending thread) after AppendEvents queued outbox rows.
  void SetWebhookListener(std::function<void()> f) { webhook_listener_ = std::move(f); }

 protected:
  std::function<void()> webhook_listener_;
};

/// bounces.soft_limit and bounces.soft_window_days: an address of an account that soft-bounces `limit`
/// times (distinct messages) within `window_days`, with no delivery to it since the first of them, is
/// suppressed with reason "soft_bounce_limit", as large senders do. limit 0 turns it off.
struct SoftBouncePolicy {
  int limit = 5;
  int window_days = 15;
};

struct StoreOptions {
  /// The node's secret (server.secret_file). Webhook secrets are encrypted with a key derived from it
  /// (SecretBox), and plaintext ones left by an older kurier are encrypted when the store opens. Empty:
  /// webhooks cannot be created or given new secrets, and stored secrets are not decrypted.
  std::string server_secret;
  SoftBouncePolicy soft_bounces;  ///< applied as `bounced` events are appended (event_rules.hpp)
  /// PostgreSQL: apply the schema's migrations at open (`kurier init`, `kurier db migrate`, tests); false
  /// refuses a schema this kurier does not know instead (`kurier serve`). SQLite always migrates.
  bool migrate = true;
  std::size_t pool_size = 8;  ///< PostgreSQL: connections this process opens at most (store.pool_size)
  /// PostgreSQL: this node's name (cluster.node_name), which keys what is the node's own in the shared
  /// database (its event journal's position). "" for a single node.
  std::string node_name;
};

/// Opens (creating and migrating as needed) the store with the given backend: "sqlite" at the file
/// `location`, "postgresql" at the connection URL `location` (postgresql://user@host:port/db?sslmode=...).
Result<std::unique_ptr<Store>> OpenStore(const std::string& backend, const std::string& location,
                                         const StoreOptions& options = {});

}  // namespace kurier::store
