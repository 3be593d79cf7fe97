// pg_store.hpp - the PostgreSQL backend of store::Store (issue 16): the same accounts, credentials, keys,
// domains, templates, events, statistics, suppressions and webhooks as the SQLite backend, in one database
// that several kurier nodes share. Every call leases a connection from a bounded pool, so calls from the
// listeners, delivery and the API run side by side; multi-statement changes run in one transaction.
// Events recorded through the node's event journal (RecordEvent) are imported with the journal's position
// in the same transaction, under a position row of this node (StoreOptions::node_name).
// STANDARDS: PostgreSQL 15 (json operators, ON CONFLICT, identity columns, SELECT ... FOR UPDATE).
// SECURITY: every value is a statement parameter; webhook secrets are stored sealed (store_shared.hpp).
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/secret_box.hpp"
#include "store/event_journal.hpp"
#include "store/postgres/pg_args.hpp"
#include "store/postgres/pg_migrate.hpp"
#include "store/postgres/pg_pool.hpp"
#include "store/store.hpp"

namespace kurier::store::postgres {

using pg::Arg;
using pg::Args;
using pg::Bool;
using pg::Connection;
using pg::MigrationSet;
using pg::Param;
using pg::PgError;
using pg::Pool;
using pg::Transaction;

class PgStore final : public Store {
 public:
  /// The store's schema history ("store" in kurier_schema), for `kurier db migrate` and the check at start.
  static MigrationSet Migrations();
  /// Connects to `url`. With options.migrate the schema is brought up to date first; without, a schema
  /// this kurier does not know (older or newer) is refused with what to run.
  static Result<std::unique_ptr<PgStore>> Open(const std::string& url, const StoreOptions& options = {});
  ~PgStore() override;

  Result<Account> CreateAccount(const std::string& name) override;
  Result<std::optional<Account>> FindAccount(const std::string& name) override;
  Result<std::vector<Account>> ListAccounts() override;
  Result<void> RemoveAccount(const std::string& name) override;
  Result<void> SetSendDsn(const std::string& account, bool on) override;
  Result<void> SetSandbox(const std::string& account, bool on) override;
  Result<void> SetAccountDefault(const std::string& account, const std::string& setting, std::optional<bool> value) override;
  Result<void> SetDomainVerified(const std::string& domain, bool verified) override;
  Result<void> AddSenderDomain(const std::string& account, const std::string& domain) override;
  Result<void> RemoveSenderDomain(const std::string& account, const std::string& domain) override;
  Result<SmtpCredential> AddSmtpCredential(const std::string& account, const std::string& username,
                                           const std::string& password_hash) override;
  Result<std::optional<SmtpCredential>> FindSmtpCredential(const std::string& username) override;
  Result<std::vector<SmtpCredential>> ListSmtpCredentials(const std::string& account) override;
  Result<void> RemoveSmtpCredential(const std::string& username) override;
  Result<ApiKey> CreateApiKey(const ApiKey& key) override;
  Result<std::vector<ApiKey>> ListApiKeys(const std::string& account) override;
  Result<void> RevokeApiKey(int64_t id) override;
  Result<std::optional<ApiKey>> FindApiKeyByHash(const std::string& key_hash) override;
  Result<std::optional<IdempotentResponse>> FindIdempotent(const std::string& account, const std::string& key,
                                                           int64_t not_before) override;
  Result<void> SaveIdempotent(const std::string& account, const std::string& key, const IdempotentResponse& response,
                              int64_t expire_before) override;
  Result<void> AddDomain(const std::string& account, const std::string& domain) override;
  Result<DkimKey> AddDkimKey(const DkimKey& key) override;
  Result<std::vector<DkimKey>> ListDkimKeys(const std::string& domain) override;
  Result<void> SetDkimKeyState(int64_t id, const std::string& state, int64_t retire_at) override;
  Result<StoredTemplate> CreateTemplate(const std::string& account, const std::string& name,
                                        const TemplateVersion& first, bool publish) override;
  Result<std::vector<StoredTemplate>> ListTemplates(const std::string& account) override;
  Result<std::optional<StoredTemplate>> FindTemplate(const std::string& account, const std::string& id_or_name) override;
  Result<std::optional<TemplateVersion>> FindTemplateVersion(const std::string& account, const std::string& id,
                                                             int version) override;
  Result<StoredTemplate> UpdateTemplate(const std::string& account, const std::string& id,
                                        const TemplateUpdate& update) override;
  Result<void> PublishTemplateVersion(const std::string& account, const std::string& id, int version) override;
  Result<void> DeleteTemplate(const std::string& account, const std::string& id) override;
  // pg_audience.cpp
  Result<ContactSaveCounts> SaveContacts(const std::string& account, const std::vector<ContactWrite>& contacts,
                                         const ContactSaveOptions& options) override;
  Result<std::optional<Contact>> FindContact(const std::string& account, const std::string& id_or_address) override;
  Result<std::vector<Contact>> ListContacts(const ContactQuery& query) override;
  Result<int64_t> CountContacts(const ContactQuery& query) override;
  Result<bool> DeleteContact(const std::string& account, int64_t id) override;
  Result<ContactList> CreateList(const ContactList& list) override;
  Result<std::vector<ContactList>> ListLists(const std::string& account) override;
  Result<std::optional<ContactList>> FindList(const std::string& account, const std::string& id_or_name) override;
  Result<bool> DeleteList(const std::string& account, const std::string& id) override;
  Result<bool> SetMembership(const std::string& account, const std::string& list_id, int64_t contact_id,
                             const std::string& status, const std::string& consent) override;
  Result<Campaign> CreateCampaign(const Campaign& campaign) override;
  Result<std::optional<Campaign>> FindCampaign(const std::string& account, const std::string& id_or_name) override;
  Result<std::vector<Campaign>> ListCampaigns(const std::string& account) override;
  Result<bool> UpdateCampaign(const Campaign& campaign, const std::string& if_state = "") override;
  Result<std::vector<Campaign>> DueCampaigns(int64_t now) override;
  Result<std::vector<StatsRow>> CampaignCounts(const std::string& account, const std::string& campaign_id) override;
  // pg_events.cpp
  Result<void> AppendEvents(const std::vector<Event>& events) override;
  /// Writes `events` (with the suppressions and webhook deliveries they cause) inside the transaction the
  /// caller holds on `c`, a connection to this store's database: the spool records its events in the
  /// commit of the messages and results they tell of. Returns the webhook deliveries queued; after the
  /// caller's commit, EventsCommitted(that number) wakes the webhook dispatcher.
  Result<int> WriteEventsOn(Connection& c, const std::vector<Event>& events);
  void EventsCommitted(int queued);
  Result<void> RecordEvent(const Event& event) override;
  Result<void> OpenEventJournal(const std::filesystem::path& path, int delay_ms = 10) override;
  Result<std::vector<Event>> ListEvents(const EventFilter& filter) override;
  Result<int64_t> PurgeEvents(int64_t before) override;
  Result<std::vector<StatsRow>> Stats(const StatsQuery& query) override;
  Result<bool> AddSuppression(const Suppression& s) override;
  Result<bool> RemoveSuppression(const std::string& account, const std::string& address) override;
  Result<std::vector<Suppression>> ListSuppressions(const std::string& account, const std::string& after_address,
                                                    std::size_t limit) override;
  Result<std::vector<Suppression>> FindSuppressions(const std::string& account,
                                                    const std::vector<std::string>& addresses) override;
  // pg_webhooks.cpp
  Result<Webhook> CreateWebhook(const Webhook& w) override;
  Result<std::vector<Webhook>> ListWebhooks(const std::string& account) override;
  Result<std::optional<Webhook>> FindWebhook(const std::string& account, const std::string& id) override;
  Result<void> UpdateWebhook(const Webhook& w) override;
  Result<void> DeleteWebhook(const std::string& account, const std::string& id) override;
  Result<void> DisableWebhook(const std::string& id, const std::string& reason) override;
  Result<std::vector<WebhookDelivery>> DueWebhookDeliveries(int64_t now, std::size_t limit) override;
  Result<int64_t> NextWebhookDue() override;
  Result<void> FinishWebhookAttempt(int64_t outbox_id, const WebhookAttempt& attempt) override;
  Result<std::vector<OutboxRow>> ListWebhookDeliveries(const std::string& webhook_id, std::size_t limit) override;
  Result<int64_t> WebhookBacklog() override;
  Result<void> Ping() override;
  std::optional<PoolUse> ConnectionUse() override;

  /// Runs `f` with a leased connection; a PgError becomes an error naming `what` (kTemporary when the
  /// server cannot be reached). A connection found dead on first use is replaced and `f` tried once more.
  template <class F>
  auto Run(const std::string& what, F&& f) -> decltype(f(std::declval<Connection&>()));

 private:
  PgStore(const std::string& url, const StoreOptions& options);
  Result<std::optional<Account>> FindAccountOn(Connection& c, const std::string& name);
  Result<std::optional<StoredTemplate>> FindTemplateOn(Connection& c, const std::string& account,
                                                      const std::string& id_or_name);
  Result<void> SetAccountFlag(const std::string& column, const std::string& account, std::optional<bool> on);
  /// Appends `events` in one transaction on `c`; with `reached`, records the journal's position in it.
  Result<void> AppendOn(Connection& c, const std::vector<Event>& events, const JournalPosition* reached);
  void DrainJournal();
  Webhook ReadWebhook(const pg::Result& r, int row, int at) const;

  Pool pool_;
  std::optional<SecretBox> box_;
  SoftBouncePolicy soft_bounces_;
  std::string journal_name_;  ///< this node's row of journal_positions
  std::unique_ptr<EventJournal> journal_;  // last: imports its remaining lines while the pool is open
};

/// A PgError as a kurier error: "what: the server's message"; kTemporary when the connection failed.
Error FromPgError(const std::string& what, const PgError& e);
/// Whether the server refused a row because a unique key has it already (SQLSTATE 23505).
inline bool UniqueViolation(const PgError& e) { return e.sqlstate() == "23505"; }
/// kNotFound for an account name that has no row.
Error NoAccount(const std::string& name);

template <class F>
auto PgStore::Run(const std::string& what, F&& f) -> decltype(f(std::declval<Connection&>())) {
  for (int attempt = 0;; ++attempt) {
    try {
      auto c = pool_.Acquire();
      try {
        return f(*c);
      } catch (const PgError&) {
        if (attempt == 0 && !c->Healthy()) continue;  // a connection the server dropped while it sat idle
        throw;
      }
    } catch (const PgError& e) {
      return FromPgError(what, e);
    }
  }
}

}  // namespace kurier::store::postgres
