// sqlite_store.cpp - accounts, credentials, API keys, templates and events in SQLite.
// SECURITY: holds password hashes (Argon2id) and API key hashes (BLAKE2b), never secrets in clear;
// webhook secrets, which must stay usable for signing, are encrypted (sqlite_feedback.cpp).
// Every statement is prepared with bound parameters.
#include "store/sqlite/sqlite_store.hpp"

#include <map>
#include <optional>
#include <variant>

#include <spdlog/spdlog.h>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/store_shared.hpp"

namespace kurier::store::sqlite {

namespace {

const std::vector<std::string> kMigrations = {
    // 1: accounts, credentials, keys, events
    R"(CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
       CREATE TABLE sender_domains(account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                                   domain TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY(account_id, domain));
       CREATE TABLE smtp_credentials(id INTEGER PRIMARY KEY,
                                     account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                                     username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
                                     created_at INTEGER NOT NULL);
       CREATE TABLE api_keys(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                             name TEXT NOT NULL, prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
                             scopes TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
       CREATE TABLE events(id INTEGER PRIMARY KEY, time INTEGER NOT NULL, type TEXT NOT NULL, message_id TEXT,
                           account TEXT, data TEXT NOT NULL);
       CREATE INDEX events_message ON events(message_id);
       CREATE INDEX events_type_time ON events(type, time))",
    // 2: per-account delivery status notifications
    "ALTER TABLE accounts ADD COLUMN send_dsn INTEGER NOT NULL DEFAULT 1",
    // 3: sending domains and their DKIM keys
    R"(CREATE TABLE domains(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                            name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at INTEGER NOT NULL, verified_at INTEGER);
       ALTER TABLE accounts ADD COLUMN sandbox INTEGER NOT NULL DEFAULT 1;
       CREATE TABLE dkim_keys(id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
                              selector TEXT NOT NULL, algorithm TEXT NOT NULL, key_path TEXT NOT NULL,
                              created_at INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1, UNIQUE(domain_id, selector)))",
    // 4: DKIM key rotation states
    R"(ALTER TABLE dkim_keys ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
       ALTER TABLE dkim_keys ADD COLUMN retire_at INTEGER NOT NULL DEFAULT 0;
       UPDATE dkim_keys SET state = 'retired' WHERE active = 0)",
    // 5: the HTTP API: message listings by account, idempotency keys
    R"(CREATE INDEX events_account_type ON events(account, type, id);
       CREATE TABLE idempotency(account TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
                                status INTEGER NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL,
                                PRIMARY KEY(account, key)))",
    // 6: stored templates (HTTP API) and their numbered, immutable versions
    R"(CREATE TABLE templates(id TEXT PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                              name TEXT NOT NULL COLLATE NOCASE, created_at INTEGER NOT NULL,
                              updated_at INTEGER NOT NULL, published_version INTEGER NOT NULL DEFAULT 0,
                              UNIQUE(account_id, name));
       CREATE TABLE template_versions(template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
                                      version INTEGER NOT NULL, subject TEXT NOT NULL, text TEXT NOT NULL,
                                      html TEXT NOT NULL, created_at INTEGER NOT NULL,
                                      PRIMARY KEY(template_id, version)))",
    // 7: per-recipient event queries and stats, suppressions, webhooks and their durable outbox
    R"(ALTER TABLE events ADD COLUMN recipient TEXT GENERATED ALWAYS AS (lower(json_extract(data, '$.recipient'))) VIRTUAL;
       CREATE INDEX events_recipient ON events(recipient);
       CREATE INDEX events_account_time ON events(account, time);
       CREATE INDEX events_time ON events(time);
       CREATE TABLE suppressions(account TEXT NOT NULL, address TEXT NOT NULL, reason TEXT NOT NULL,
                                 detail TEXT NOT NULL DEFAULT '', message_id TEXT NOT NULL DEFAULT '',
                                 created_at INTEGER NOT NULL, PRIMARY KEY(account, address));
       CREATE INDEX suppressions_address ON suppressions(address);
       CREATE TABLE webhooks(id TEXT PRIMARY KEY, account TEXT NOT NULL, url TEXT NOT NULL,
                             event_types TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
                             secret TEXT NOT NULL, previous_secret TEXT NOT NULL DEFAULT '',
                             previous_secret_expires INTEGER NOT NULL DEFAULT 0, enabled INTEGER NOT NULL DEFAULT 1,
                             disabled_reason TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
       CREATE INDEX webhooks_account ON webhooks(account);
       CREATE TABLE webhook_outbox(id INTEGER PRIMARY KEY, webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
                                   event_id INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
                                   attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL,
                                   last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
                                   created_at INTEGER NOT NULL);
       CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_attempt);
       CREATE INDEX webhook_outbox_webhook ON webhook_outbox(webhook_id, id);
       CREATE TRIGGER events_suppress AFTER INSERT ON events
         WHEN NEW.type IN ('complained', 'unsubscribed', 'bounced') AND NEW.account IS NOT NULL AND NEW.account != ''
              AND json_extract(NEW.data, '$.recipient') IS NOT NULL
              AND (NEW.type != 'bounced' OR json_extract(NEW.data, '$.classification') = 'hard')
       BEGIN
         INSERT OR IGNORE INTO suppressions(account, address, reason, detail, message_id, created_at)
         VALUES(NEW.account, lower(json_extract(NEW.data, '$.recipient')),
                CASE NEW.type WHEN 'bounced' THEN 'hard_bounce' WHEN 'complained' THEN 'complaint' ELSE 'unsubscribe' END,
                COALESCE(json_extract(NEW.data, '$.reason') || ': ' || json_extract(NEW.data, '$.reply'),
                         json_extract(NEW.data, '$.reply'), json_extract(NEW.data, '$.reason'), ''),
                COALESCE(NEW.message_id, ''), NEW.time);
       END)",
    // 8: a leaner event insert (the click endpoint appends tens of thousands a second). The suppression
    // trigger made every insert materialise its row for the trigger; AppendEvents now adds suppressions
    // itself, for the three event types that make one. Purging walks the rowid (ids grow with time), so
    // the time-only indexes go; per-account time ranges keep events_account_time.
    R"(DROP TRIGGER events_suppress;
       DROP INDEX events_type_time;
       DROP INDEX events_time)",
    // 9: per-account defaults for API sends (NULL: the server's tracking.* configuration)
    R"(ALTER TABLE accounts ADD COLUMN track_opens INTEGER;
       ALTER TABLE accounts ADD COLUMN track_clicks INTEGER;
       ALTER TABLE accounts ADD COLUMN list_unsubscribe INTEGER)",
    // 10: how far the event journal (store/event_journal.hpp) has been imported, written in the same
    // transaction as the events it imported
    R"(CREATE TABLE journal_positions(name TEXT PRIMARY KEY, generation INTEGER NOT NULL, position INTEGER NOT NULL))",
    // 11: SMTP refuses suppressed recipients at RCPT (NULL: accepts them and records `suppressed`)
    "ALTER TABLE accounts ADD COLUMN refuse_suppressed INTEGER",
    // 12: test mode (NULL: off): mail is accepted, signed and recorded but not sent
    "ALTER TABLE accounts ADD COLUMN test_mode INTEGER",
    // 13: contacts, lists and memberships with their consent records (audience.hpp)
    R"(CREATE TABLE contacts(id INTEGER PRIMARY KEY, account TEXT NOT NULL, address TEXT NOT NULL,
                             name TEXT NOT NULL DEFAULT '', attributes TEXT NOT NULL DEFAULT '{}',
                             created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE(account, address));
       CREATE TABLE lists(id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE,
                          description TEXT NOT NULL DEFAULT '', double_opt_in INTEGER NOT NULL DEFAULT 0,
                          created_at INTEGER NOT NULL, UNIQUE(account, name));
       CREATE TABLE list_members(list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
                                 contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
                                 status TEXT NOT NULL, consent TEXT NOT NULL DEFAULT '{}',
                                 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                                 PRIMARY KEY(list_id, contact_id));
       CREATE INDEX list_members_contact ON list_members(contact_id))",
    // 14: campaigns (audience.hpp); what each one sends is its spec, checked by campaigns/campaign.cpp
    R"(CREATE TABLE campaigns(id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE,
                              state TEXT NOT NULL, spec TEXT NOT NULL, start_at INTEGER NOT NULL DEFAULT 0,
                              cursor INTEGER NOT NULL DEFAULT 0, targeted INTEGER NOT NULL DEFAULT 0,
                              sent INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                              started_at INTEGER NOT NULL DEFAULT 0, finished_at INTEGER NOT NULL DEFAULT 0,
                              UNIQUE(account, name));
       CREATE INDEX campaigns_state ON campaigns(state, start_at))",
};

Error Storage(const std::string& what, const std::string& detail) {
  return MakeError(ErrorCode::kStorage, what + ": " + detail);
}

bool IsUniqueViolation(const Error& e) { return e.message.find("UNIQUE") != std::string::npos; }

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::filesystem::path& path, const StoreOptions& options) {
  // Events are appended by the spool's committer right after its own fsync'ed commit; NORMAL keeps
  // them across a process crash without a second fsync per batch.
  auto db = Db::Open(path, Durability::kNormal);
  if (!db) return db.error();
  if (auto r = db.value()->Migrate(kMigrations); !r) return r.error();
  // Event appends are many small commits (the click endpoint); checkpoints run beside them.
  auto checkpointer = BackgroundCheckpointer::Start(*db.value(), path, Durability::kNormal);
  if (!checkpointer) return checkpointer.error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(db.value()), std::move(checkpointer.value())));
  auto reader = Db::Open(path, Durability::kNormal);
  if (!reader) return reader.error();
  store->reader_ = std::move(reader.value());
  store->soft_bounces_ = options.soft_bounces;
  if (!options.server_secret.empty()) {
    store->box_.emplace(options.server_secret);
    // Webhook secrets written in plaintext by a kurier before encryption at rest (or by an older binary
    // since) are encrypted now; idempotent, so it needs no schema version (and could not have one: the
    // numbered migrations are SQL and do not have the key).
    auto sealed = store->SealPlaintextWebhookSecrets();
    if (!sealed) return sealed.error();
    if (sealed.value() > 0)
      spdlog::info("store: encrypted the secrets of {} webhook(s) at rest with the server key", sealed.value());
  }
  return std::move(store);
}

Result<int64_t> SqliteStore::AccountId(const std::string& name) {
  auto q = db_->Query("SELECT id FROM accounts WHERE name = ?", name);
  if (!q) return q.error();
  auto id = q->First([](const Stmt& r) { return r.Int(0); }, "cannot read accounts");
  if (!id) return id.error();
  if (!*id) return MakeError(ErrorCode::kNotFound, "no account named '" + name + "'; list them with 'kurier account list'");
  return **id;
}

Result<Account> SqliteStore::CreateAccount(const std::string& name) {
  if (auto ok = CheckAccountName(name); !ok) return ok.error();
  std::lock_guard lock(mu_);
  Account a;
  a.name = name;
  a.created_at = NowMicros();
  if (auto r = db_->Execute("INSERT INTO accounts(name, created_at) VALUES(?, ?)", name, a.created_at); !r) {
    if (IsUniqueViolation(r.error())) return MakeError(ErrorCode::kAlreadyExists, "account '" + name + "' already exists");
    return Storage("cannot create account", r.error().message);
  }
  a.id = db_->LastInsertId();
  return a;
}

Result<std::optional<Account>> SqliteStore::FindAccountLocked(const std::string& name) {
  auto q = db_->Query(
      "SELECT id, name, created_at, send_dsn, sandbox, track_opens, track_clicks, list_unsubscribe, refuse_suppressed, "
      "test_mode FROM accounts WHERE name = ?",
      name);
  if (!q) return q.error();
  auto found = q->First(
      [](const Stmt& r) {
        Account a{r.Int(0), r.Text(1), {}, r.Int(2), r.Int(3) != 0, r.Int(4) != 0, {}, {}, {}, {}};
        auto flag = [&](int col) { return r.IsNull(col) ? std::optional<bool>() : std::optional<bool>(r.Int(col) != 0); };
        a.track_opens = flag(5), a.track_clicks = flag(6), a.list_unsubscribe = flag(7), a.refuse_suppressed = flag(8);
        a.test_mode = flag(9);
        return a;
      },
      "cannot read accounts");
  if (!found || !*found) return found;
  Account& a = **found;
  auto text = [](const Stmt& r) { return r.Text(0); };
  auto v = db_->Query("SELECT name FROM domains WHERE account_id = ? AND verified_at IS NOT NULL ORDER BY name", a.id);
  if (!v) return v.error();
  auto verified = v->Rows(text, "cannot read sending domains");
  if (verified) a.verified_domains = std::move(verified.value());
  auto d = db_->Query("SELECT domain FROM sender_domains WHERE account_id = ? ORDER BY domain", a.id);
  if (!d) return d.error();
  auto senders = d->Rows(text, "cannot read sender domains");
  if (!senders) return senders.error();
  a.sender_domains = std::move(senders.value());
  return found;
}

Result<std::optional<Account>> SqliteStore::FindAccount(const std::string& name) {
  std::lock_guard lock(mu_);
  return FindAccountLocked(name);
}

Result<std::vector<Account>> SqliteStore::ListAccounts() {
  std::lock_guard lock(mu_);
  auto q = db_->Query("SELECT name FROM accounts ORDER BY name");
  if (!q) return q.error();
  auto names = q->Rows([](const Stmt& r) { return r.Text(0); }, "cannot list accounts");
  if (!names) return names.error();
  std::vector<Account> out;
  for (const auto& n : names.value()) {
    auto a = FindAccountLocked(n);
    if (!a) return a.error();
    if (*a) out.push_back(std::move(**a));
  }
  return out;
}

Result<void> SqliteStore::RemoveAccount(const std::string& name) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute("DELETE FROM accounts WHERE name = ?", name);
  if (!n) return Storage("cannot remove account", n.error().message);
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "no account named '" + name + "'");
  return {};
}

Result<void> SqliteStore::SetAccountFlag(const std::string& update_sql, const std::string& account,
                                         std::optional<bool> on) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute(update_sql, on, account);
  if (!n) return n.error();
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "no account named '" + account + "'");
  return {};
}

Result<void> SqliteStore::SetSandbox(const std::string& account, bool on) {
  return SetAccountFlag("UPDATE accounts SET sandbox = ? WHERE name = ?", account, on);
}

Result<void> SqliteStore::SetAccountDefault(const std::string& account, const std::string& setting,
                                            std::optional<bool> value) {
  if (auto ok = CheckAccountDefault(setting); !ok) return ok;
  return SetAccountFlag("UPDATE accounts SET " + setting + " = ? WHERE name = ?", account, value);  // one of five names
}

Result<void> SqliteStore::SetDomainVerified(const std::string& domain, bool verified) {
  std::lock_guard lock(mu_);
  // A domain keeps the time it was first verified while it stays verified.
  auto n = db_->Execute("UPDATE domains SET verified_at = CASE WHEN ?1 THEN COALESCE(verified_at, ?2) END WHERE name = ?3",
                        verified, NowMicros(), domain);
  if (!n) return n.error();
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "no sending domain " + domain);
  return {};
}

Result<void> SqliteStore::SetSendDsn(const std::string& account, bool on) {
  return SetAccountFlag("UPDATE accounts SET send_dsn = ? WHERE name = ?", account, on);
}

Result<void> SqliteStore::AddSenderDomain(const std::string& account, const std::string& domain) {
  std::lock_guard lock(mu_);
  auto id = AccountId(account);
  if (!id) return id.error();
  auto n = db_->Execute("INSERT OR IGNORE INTO sender_domains(account_id, domain) VALUES(?, ?)", *id, ToLowerAscii(domain));
  if (!n) return n.error();
  return {};
}

Result<void> SqliteStore::RemoveSenderDomain(const std::string& account, const std::string& domain) {
  std::lock_guard lock(mu_);
  auto id = AccountId(account);
  if (!id) return id.error();
  auto n = db_->Execute("DELETE FROM sender_domains WHERE account_id = ? AND domain = ?", *id, domain);
  if (!n) return n.error();
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "account '" + account + "' has no sender domain '" + domain + "'");
  return {};
}

Result<SmtpCredential> SqliteStore::AddSmtpCredential(const std::string& account, const std::string& username,
                                                       const std::string& password_hash) {
  std::lock_guard lock(mu_);
  auto id = AccountId(account);
  if (!id) return id.error();
  SmtpCredential c{0, username, account, password_hash, NowMicros()};
  if (auto r = db_->Execute("INSERT INTO smtp_credentials(account_id, username, password_hash, created_at) VALUES(?,?,?,?)",
                            *id, username, password_hash, c.created_at);
      !r) {
    if (IsUniqueViolation(r.error()))
      return MakeError(ErrorCode::kAlreadyExists, "SMTP username '" + username + "' is taken; choose another with --username");
    return Storage("cannot add SMTP credential", r.error().message);
  }
  c.id = db_->LastInsertId();
  return c;
}

Result<std::optional<SmtpCredential>> SqliteStore::FindSmtpCredential(const std::string& username) {
  std::lock_guard lock(mu_);
  return First(db_->Query(
      "SELECT c.id, c.username, a.name, c.password_hash, c.created_at FROM smtp_credentials c "
      "JOIN accounts a ON a.id = c.account_id WHERE c.username = ?",
      username),
      [](const Stmt& r) { return SmtpCredential{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)}; },
      "cannot read SMTP credentials");
}

Result<std::vector<SmtpCredential>> SqliteStore::ListSmtpCredentials(const std::string& account) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(
      "SELECT c.id, c.username, a.name, c.created_at FROM smtp_credentials c JOIN accounts a ON a.id = c.account_id "
      "WHERE ?1 = '' OR a.name = ?1 ORDER BY c.username",
      account),
      [](const Stmt& r) { return SmtpCredential{r.Int(0), r.Text(1), r.Text(2), "", r.Int(3)}; },
      "cannot list SMTP credentials");
}

Result<void> SqliteStore::RemoveSmtpCredential(const std::string& username) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute("DELETE FROM smtp_credentials WHERE username = ?", username);
  if (!n) return n.error();
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "no SMTP username '" + username + "'");
  return {};
}

Result<ApiKey> SqliteStore::CreateApiKey(const ApiKey& key) {
  std::lock_guard lock(mu_);
  auto id = AccountId(key.account);
  if (!id) return id.error();
  ApiKey k = key;
  k.created_at = NowMicros();
  if (auto r = db_->Execute("INSERT INTO api_keys(account_id, name, prefix, key_hash, scopes, created_at) VALUES(?,?,?,?,?,?)",
                            *id, k.name, k.prefix, k.key_hash, k.scopes, k.created_at);
      !r)
    return Storage("cannot create API key", r.error().message);
  k.id = db_->LastInsertId();
  return k;
}

Result<std::vector<ApiKey>> SqliteStore::ListApiKeys(const std::string& account) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(
      "SELECT k.id, a.name, k.name, k.prefix, k.scopes, k.created_at, k.revoked_at IS NOT NULL FROM api_keys k "
      "JOIN accounts a ON a.id = k.account_id WHERE ?1 = '' OR a.name = ?1 ORDER BY k.id",
      account),
      [](const Stmt& r) { return ApiKey{r.Int(0), r.Text(1), r.Text(2), r.Text(3), "", r.Text(4), r.Int(5), r.Int(6) != 0}; },
      "cannot list API keys");
}

Result<std::optional<ApiKey>> SqliteStore::FindApiKeyByHash(const std::string& key_hash) {
  std::lock_guard lock(mu_);
  return First(db_->Query(
      "SELECT k.id, a.name, k.name, k.prefix, k.scopes, k.created_at FROM api_keys k "
      "JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ? AND k.revoked_at IS NULL",
      key_hash),
      [&](const Stmt& r) { return ApiKey{r.Int(0), r.Text(1), r.Text(2), r.Text(3), key_hash, r.Text(4), r.Int(5), false}; },
      "cannot read API keys");
}

Result<std::optional<Store::IdempotentResponse>> SqliteStore::FindIdempotent(const std::string& account,
                                                                            const std::string& key, int64_t not_before) {
  std::lock_guard lock(mu_);
  return First(db_->Query("SELECT request_hash, status, body FROM idempotency WHERE account = ? AND key = ? AND created_at >= ?",
      account, key, not_before),
      [](const Stmt& r) { return IdempotentResponse{r.Text(0), static_cast<int>(r.Int(1)), r.Text(2)}; },
      "cannot read idempotency keys");
}

Result<void> SqliteStore::SaveIdempotent(const std::string& account, const std::string& key,
                                         const IdempotentResponse& response, int64_t expire_before) {
  std::lock_guard lock(mu_);
  if (auto r = db_->Execute("DELETE FROM idempotency WHERE created_at < ?", expire_before); !r) return r.error();
  auto r = db_->Execute(
      "INSERT OR REPLACE INTO idempotency(account, key, request_hash, status, body, created_at) VALUES(?,?,?,?,?,?)", account,
      key, response.request_hash, response.status, response.body, NowMicros());
  if (!r) return r.error();
  return {};
}

Result<void> SqliteStore::RevokeApiKey(int64_t id) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", NowMicros(), id);
  if (!n) return n.error();
  if (*n == 0)
    return MakeError(ErrorCode::kNotFound, "no active API key with id " + std::to_string(id) + "; see 'kurier api-key list'");
  return {};
}

Result<void> SqliteStore::AddDomain(const std::string& account, const std::string& domain) {
  std::lock_guard lock(mu_);
  auto id = AccountId(account);
  if (!id) return id.error();
  auto q = db_->Query("SELECT a.name FROM domains d JOIN accounts a ON a.id = d.account_id WHERE d.name = ?", domain);
  if (!q) return q.error();
  if (q->Step()) {
    if (q->Text(0) != account)
      return MakeError(ErrorCode::kAlreadyExists, "domain " + domain + " belongs to account '" + q->Text(0) + "'");
    return MakeError(ErrorCode::kAlreadyExists, "domain " + domain + " already exists; see 'kurier domain list'");
  }
  auto n = db_->Execute("INSERT INTO domains(account_id, name, created_at) VALUES(?, ?, ?)", *id, ToLowerAscii(domain),
                        NowMicros());
  if (!n) return n.error();
  return {};
}

Result<DkimKey> SqliteStore::AddDkimKey(const DkimKey& key) {
  std::lock_guard lock(mu_);
  DkimKey k = key;
  k.created_at = NowMicros();
  k.active = k.state == "active";
  auto n = db_->Execute("INSERT INTO dkim_keys(domain_id, selector, algorithm, key_path, created_at, active, state) "
                        "SELECT id, ?, ?, ?, ?, ?, ? FROM domains WHERE name = ?",
                        k.selector, k.algorithm, k.key_path, k.created_at, k.active, k.state, k.domain);
  if (!n) return Storage("cannot add DKIM key", n.error().message);
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "no domain " + k.domain + "; add it with 'kurier domain add'");
  k.id = db_->LastInsertId();
  return k;
}

Result<std::vector<DkimKey>> SqliteStore::ListDkimKeys(const std::string& domain) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(
      "SELECT k.id, d.name, a.name, k.selector, k.algorithm, k.key_path, k.created_at, k.state, k.retire_at "
      "FROM dkim_keys k JOIN domains d ON d.id = k.domain_id JOIN accounts a ON a.id = d.account_id "
      "WHERE (?1 = '' OR d.name = ?1) ORDER BY d.name, k.id",
      domain),
      [](const Stmt& r) {
        DkimKey k{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5), r.Int(6), false, r.Text(7), r.Int(8)};
        k.active = k.state == "active";
        return k;
      },
      "cannot list DKIM keys");
}

Result<void> SqliteStore::SetDkimKeyState(int64_t id, const std::string& state, int64_t retire_at) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute("UPDATE dkim_keys SET state = ?, active = ?, retire_at = ? WHERE id = ?", state, state == "active",
                        retire_at, id);
  if (!n) return Storage("cannot update DKIM key", n.error().message);
  if (*n == 0) return MakeError(ErrorCode::kNotFound, "no DKIM key " + std::to_string(id));
  return {};
}

namespace {

// Columns of a template row, with its account's name and its newest version.
constexpr const char* kTemplateColumns =
    "SELECT t.id, a.name, t.name, t.created_at, t.updated_at, t.published_version, "
    "(SELECT COALESCE(MAX(v.version), 0) FROM template_versions v WHERE v.template_id = t.id) "
    "FROM templates t JOIN accounts a ON a.id = t.account_id ";

StoredTemplate TemplateRow(const Stmt& q) {
  StoredTemplate t;
  t.id = q.Text(0);
  t.account = q.Text(1);
  t.name = q.Text(2);
  t.created_at = q.Int(3);
  t.updated_at = q.Int(4);
  t.published_version = static_cast<int>(q.Int(5));
  t.latest_version = static_cast<int>(q.Int(6));
  return t;
}

}  // namespace

Result<int> SqliteStore::AddTemplateVersionLocked(const std::string& id, const TemplateVersion& v, int64_t now) {
  auto next = db_->Query("SELECT COALESCE(MAX(version), 0) + 1 FROM template_versions WHERE template_id = ?", id);
  if (!next) return next.error();
  if (!next->Step()) return Storage("cannot read template versions", next->error());
  const int version = static_cast<int>(next->Int(0));
  if (auto r = db_->Execute(
          "INSERT INTO template_versions(template_id, version, subject, text, html, created_at) VALUES(?,?,?,?,?,?)", id,
          version, v.subject, v.text, v.html, now);
      !r)
    return Storage("cannot add template version", r.error().message);
  return version;
}

Result<StoredTemplate> SqliteStore::CreateTemplate(const std::string& account, const std::string& name,
                                                   const TemplateVersion& first, bool publish) {
  std::lock_guard lock(mu_);
  auto account_id = AccountId(account);
  if (!account_id) return account_id.error();
  Transaction tx(*db_);
  if (!tx.started()) return Storage("cannot create template", db_->LastError());
  const int64_t now = NowMicros();
  StoredTemplate t;
  t.id = "tmpl_" + NewQueueId();
  t.account = account;
  t.name = name;
  t.created_at = t.updated_at = now;
  if (auto r = db_->Execute(
          "INSERT INTO templates(id, account_id, name, created_at, updated_at, published_version) VALUES(?,?,?,?,?,?)", t.id,
          *account_id, name, now, now, publish);
      !r) {
    if (IsUniqueViolation(r.error())) return TemplateNameTaken(name);
    return Storage("cannot create template", r.error().message);
  }
  auto v = AddTemplateVersionLocked(t.id, first, now);
  if (!v) return v.error();
  if (auto r = tx.Commit(); !r) return Storage("cannot create template", r.error().message);
  t.published_version = publish ? 1 : 0;
  t.latest_version = 1;
  t.versions.push_back(TemplateVersion{1, "", "", "", now});
  return t;
}

Result<std::vector<StoredTemplate>> SqliteStore::ListTemplates(const std::string& account) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(std::string(kTemplateColumns) + "WHERE a.name = ? ORDER BY t.name, t.id", account),
      TemplateRow, "cannot list templates");
}

Result<std::optional<StoredTemplate>> SqliteStore::FindTemplateLocked(const std::string& account,
                                                                      const std::string& id_or_name) {
  // Ids start with "tmpl_", which names may not, so at most one row matches either way; the id wins.
  auto q = db_->Query(std::string(kTemplateColumns) +
                          "WHERE a.name = ?1 AND (t.id = ?2 OR t.name = ?2) ORDER BY t.id = ?2 DESC LIMIT 1",
                      account, id_or_name);
  if (!q) return q.error();
  auto t = q->First(TemplateRow, "cannot read templates");
  if (!t || !*t) return t;
  auto v = db_->Query("SELECT version, created_at FROM template_versions WHERE template_id = ? ORDER BY version", (*t)->id);
  if (!v) return v.error();
  auto versions =
      v->Rows([](const Stmt& r) { return TemplateVersion{static_cast<int>(r.Int(0)), "", "", "", r.Int(1)}; },
              "cannot read template versions");
  if (!versions) return versions.error();
  (*t)->versions = std::move(versions.value());
  return t;
}

Result<std::optional<StoredTemplate>> SqliteStore::FindTemplate(const std::string& account, const std::string& id_or_name) {
  std::lock_guard lock(mu_);
  return FindTemplateLocked(account, id_or_name);
}

Result<std::optional<TemplateVersion>> SqliteStore::FindTemplateVersion(const std::string& account, const std::string& id,
                                                                        int version) {
  std::lock_guard lock(mu_);
  return First(db_->Query(
      "SELECT v.version, v.subject, v.text, v.html, v.created_at FROM template_versions v "
      "JOIN templates t ON t.id = v.template_id JOIN accounts a ON a.id = t.account_id "
      "WHERE a.name = ? AND t.id = ? AND v.version = ?",
      account, id, version),
      [](const Stmt& r) { return TemplateVersion{static_cast<int>(r.Int(0)), r.Text(1), r.Text(2), r.Text(3), r.Int(4)}; },
      "cannot read template version");
}

Result<StoredTemplate> SqliteStore::UpdateTemplate(const std::string& account, const std::string& id,
                                                   const TemplateUpdate& update) {
  std::lock_guard lock(mu_);
  Transaction tx(*db_);
  if (!tx.started()) return Storage("cannot update template", db_->LastError());
  auto found = FindTemplateLocked(account, id);
  if (!found) return found.error();
  if (!*found || found.value()->id != id) return TemplateNotFound(account, id);
  const int64_t now = NowMicros();
  if (update.name) {
    if (auto r = db_->Execute("UPDATE templates SET name = ? WHERE id = ?", *update.name, id); !r) {
      if (IsUniqueViolation(r.error())) return TemplateNameTaken(*update.name);
      return Storage("cannot rename template", r.error().message);
    }
  }
  int version = 0;
  if (update.content) {
    auto v = AddTemplateVersionLocked(id, *update.content, now);
    if (!v) return v.error();
    version = *v;
  }
  const int64_t publish = update.publish ? version : 0;
  if (auto r = db_->Execute(
          "UPDATE templates SET updated_at = ?1, published_version = CASE WHEN ?2 > 0 THEN ?2 ELSE published_version END "
          "WHERE id = ?3",
          now, publish, id);
      !r)
    return Storage("cannot update template", r.error().message);
  auto after = FindTemplateLocked(account, id);
  if (!after) return after.error();
  if (!*after) return TemplateNotFound(account, id);
  if (auto r = tx.Commit(); !r) return Storage("cannot update template", r.error().message);
  return std::move(**after);
}

Result<void> SqliteStore::PublishTemplateVersion(const std::string& account, const std::string& id, int version) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute(
      "UPDATE templates SET published_version = ?1, updated_at = ?2 "
      "WHERE id = ?3 AND account_id = (SELECT id FROM accounts WHERE name = ?4) "
      "AND EXISTS(SELECT 1 FROM template_versions WHERE template_id = ?3 AND version = ?1)",
      version, NowMicros(), id, account);
  if (!n) return Storage("cannot publish template version", n.error().message);
  if (*n == 0)
    return MakeError(ErrorCode::kNotFound, "template '" + id + "' has no version " + std::to_string(version));
  return {};
}

Result<void> SqliteStore::DeleteTemplate(const std::string& account, const std::string& id) {
  std::lock_guard lock(mu_);
  // Versions go with the template (ON DELETE CASCADE; foreign keys are on for every connection).
  auto n = db_->Execute("DELETE FROM templates WHERE id = ? AND account_id = (SELECT id FROM accounts WHERE name = ?)", id,
                        account);
  if (!n) return Storage("cannot delete template", n.error().message);
  if (*n == 0) return TemplateNotFound(account, id);
  return {};
}

Result<void> SqliteStore::AppendEvents(const std::vector<Event>& events) {
  if (events.empty()) return {};
  std::lock_guard lock(mu_);
  return AppendLocked(events, nullptr);
}

Result<void> SqliteStore::RecordEvent(const Event& event) {
  return RecordThroughJournal(journal_.get(), event, [&] { return AppendEvents({event}); });
}

Result<void> SqliteStore::OpenEventJournal(const std::filesystem::path& path, int delay_ms) {
  if (journal_) return MakeError(ErrorCode::kInvalidArgument, "the event journal is open already");
  JournalPosition stored;
  {
    std::lock_guard lock(mu_);
    auto q = db_->Query("SELECT generation, position FROM journal_positions WHERE name = 'events'");
    if (!q) return q.error();
    auto found = q->First([](const Stmt& r) { return JournalPosition{r.Int(0), r.Int(1)}; },
                          "cannot read the event journal's position");
    if (!found) return found.error();
    if (*found) stored = **found;
  }
  EventJournal::Options o;
  o.path = path;
  o.delay_ms = delay_ms;
  auto j = EventJournal::Open(o, stored, [this](const std::vector<Event>& events, const JournalPosition& reached) {
    std::lock_guard lock(mu_);
    return AppendLocked(events, &reached);
  });
  if (!j) return j.error();
  journal_ = std::move(j.value());
  return {};
}

void SqliteStore::DrainJournal() {
  if (!journal_) return;
  if (auto r = journal_->Drain(); !r) spdlog::error("cannot import the event journal: {}", r.error().message);
}

Result<std::vector<Event>> SqliteStore::ListEvents(const EventFilter& f) {
  DrainJournal();  // what the journal holds is part of the log
  std::lock_guard lock(mu_);
  // Only the filters given become conditions, so that SQLite can pick the index that fits them
  // (message, recipient, account and type, account and time); a constant "(? = '' OR ...)" form
  // would make every query a full scan.
  std::string sql = "SELECT id, time, type, COALESCE(message_id, ''), COALESCE(account, ''), data FROM events WHERE 1";
  std::vector<std::variant<int64_t, std::string>> binds;
  auto add = [&](const char* condition, auto value) {
    sql += " AND ";
    sql += condition;
    binds.emplace_back(std::move(value));
  };
  if (!f.type.empty()) add("type = ?", f.type);
  if (!f.message_id.empty()) add("message_id = ?", f.message_id);
  if (!f.account.empty()) add("account = ?", f.account);
  if (f.since) add("time >= ?", f.since);
  if (f.until) add("time < ?", f.until);
  if (f.after_id) add("id > ?", f.after_id);
  if (f.before_id) add("id < ?", f.before_id);
  if (!f.sender.empty()) add("json_extract(data, '$.mail_from') = ? COLLATE NOCASE", f.sender);
  if (!f.recipient.empty()) {
    sql += " AND (recipient = lower(?) OR (type = 'accepted' AND EXISTS(SELECT 1 FROM json_each(data, '$.recipients') "
           "WHERE value = ? COLLATE NOCASE)))";
    binds.emplace_back(f.recipient);
    binds.emplace_back(f.recipient);
  }
  if (!f.tag.empty()) add("EXISTS(SELECT 1 FROM json_each(data, '$.tags') WHERE value = ?)", f.tag);
  sql += f.newest_first ? " ORDER BY id DESC LIMIT ?" : " ORDER BY id LIMIT ?";
  binds.emplace_back(static_cast<int64_t>(f.limit));
  auto q = db_->Prepare(sql);
  if (!q) return q.error();
  for (size_t i = 0; i < binds.size(); ++i)
    std::visit([&](const auto& v) { q->Bind(static_cast<int>(i + 1), v); }, binds[i]);
  return q->Rows([](const Stmt& r) { return Event{r.Int(0), r.Int(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5)}; },
                 "cannot list events");
}

}  // namespace kurier::store::sqlite
