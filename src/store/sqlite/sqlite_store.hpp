// sqlite_store.hpp - the embedded SQLite backend of store::Store (WAL; one connection, serialised).
#pragma once
#include <mutex>
#include <optional>

#include "common/secret_box.hpp"

#include "store/event_journal.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/store.hpp"

namespace kurier::store::sqlite {

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& path, const StoreOptions& options = {});

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
  Result<void> AppendEvents(const std::vector<Event>& events) override;
  Result<void> RecordEvent(const Event& event) override;
  Result<void> OpenEventJournal(const std::filesystem::path& path, int delay_ms = 10) override;
  Result<std::vector<Event>> ListEvents(const EventFilter& filter) override;
  // sqlite_feedback.cpp
  Result<int64_t> PurgeEvents(int64_t before) override;
  Result<std::vector<StatsRow>> Stats(const StatsQuery& query) override;
  Result<bool> AddSuppression(const Suppression& s) override;
  Result<bool> RemoveSuppression(const std::string& account, const std::string& address) override;
  Result<std::vector<Suppression>> ListSuppressions(const std::string& account, const std::string& after_address,
                                                    std::size_t limit) override;
  Result<std::vector<Suppression>> FindSuppressions(const std::string& account,
                                                    const std::vector<std::string>& addresses) override;
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
  // sqlite_audience.cpp
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

 private:
  SqliteStore(std::unique_ptr<Db> db, std::unique_ptr<BackgroundCheckpointer> checkpointer)
      : db_(std::move(db)), checkpointer_(std::move(checkpointer)) {}
  Result<int64_t> AccountId(const std::string& name);
  /// Appends `events` in one transaction (mu_ held); with `reached`, records the journal's position in it.
  Result<void> AppendLocked(const std::vector<Event>& events, const JournalPosition* reached);
  /// Imports what the event journal holds (before reading the event log).
  void DrainJournal();
  /// Runs `update_sql` ("UPDATE accounts SET <flag> = ? WHERE name = ?") for one account; nullopt binds NULL.
  Result<void> SetAccountFlag(const std::string& update_sql, const std::string& account, std::optional<bool> on);
  Result<std::optional<Account>> FindAccountLocked(const std::string& name);
  Result<std::optional<StoredTemplate>> FindTemplateLocked(const std::string& account, const std::string& id_or_name);
  /// Inserts the next version of template `id`; returns its number.
  Result<int> AddTemplateVersionLocked(const std::string& id, const TemplateVersion& v, int64_t now);
  // sqlite_feedback.cpp: webhook secrets at rest (SecretBox)
  /// A webhooks row (kWebhookColumns from column `at`) with its secrets decrypted, or secret_error set.
  Webhook ReadWebhook(const Stmt& q, int at = 0) const;
  /// The stored (encrypted) forms of w.secret and w.previous_secret.
  Result<std::pair<std::string, std::string>> SealSecrets(const Webhook& w) const;
  /// Encrypts the plaintext secrets an older kurier stored; returns how many rows it changed.
  Result<int> SealPlaintextWebhookSecrets();
  std::mutex mu_;
  std::optional<SecretBox> box_;  ///< webhook secrets' key, from StoreOptions::server_secret
  SoftBouncePolicy soft_bounces_;  ///< StoreOptions::soft_bounces, applied by AppendLocked
  std::unique_ptr<Db> db_;
  /// A second connection for reads on the acceptance path (suppressions, checked for every message
  /// SMTP and the API take in): WAL readers never wait for the writer, so a long journal import holding
  /// mu_ does not stall the listeners.
  std::mutex reader_mu_;
  std::unique_ptr<Db> reader_;
  std::unique_ptr<BackgroundCheckpointer> checkpointer_;  // after db_: stops before the connection closes
  std::unique_ptr<EventJournal> journal_;  // last: imports its remaining lines while the connection is open
};

}  // namespace kurier::store::sqlite
