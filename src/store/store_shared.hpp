// store_shared.hpp - what every store backend checks and says the same way, written once: account names
// and defaults, the errors of templates, webhook event-type lists, webhook secrets at rest (sealed with
// SecretBox under the server key, bound to the webhook's id) and the address list of a suppression lookup.
// SECURITY: webhook secrets must stay usable for signing, so they cannot be hashed: backends store them
// only in the sealed form SealWebhookSecrets makes, so a copy of the database alone does not let anyone
// forge webhook signatures.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/secret_box.hpp"
#include "store/store.hpp"

namespace kurier::store {

/// kInvalidArgument unless `name` is 1-64 characters without spaces or '/'.
Result<void> CheckAccountName(const std::string& name);
/// kInvalidArgument unless `setting` is one of Store::SetAccountDefault's five names.
Result<void> CheckAccountDefault(const std::string& setting);

Error TemplateNotFound(const std::string& account, const std::string& id);
Error TemplateNameTaken(const std::string& name);

/// A webhook's event types as stored ("delivered bounced"; "" for every type) and back.
std::string JoinEventTypes(const std::vector<std::string>& types);
std::vector<std::string> SplitEventTypes(const std::string& s);

/// Opens w.secret and w.previous_secret as read from storage (sealed, or plaintext from an older kurier);
/// when they cannot be opened, both are cleared and w.secret_error says why and what to do.
void OpenWebhookSecrets(Webhook& w, const std::optional<SecretBox>& box);
/// The stored (sealed) forms of w.secret and w.previous_secret; kConfig without the server key.
Result<std::pair<std::string, std::string>> SealWebhookSecrets(const Webhook& w, const std::optional<SecretBox>& box);

/// `addresses` lower-cased as a JSON array of strings (one statement looks up a whole batch send).
std::string AddressesAsJson(const std::vector<std::string>& addresses);

// Contacts and lists (audience.hpp): the statements both backends run, in PostgreSQL's $n placeholders
// (the SQLite backend reads them as its ?NNN ones, ToSqlitePlaceholders).
/// A contact's status from the suppression list: a CASE over the reason of the account's (or the global)
/// suppression of contact `c`'s address, as ContactStatusOf maps it.
std::string ContactStatusSql();
/// The columns of a contact row (id, account, address, name, attributes, created_at, updated_at, status).
std::string ContactColumnsSql(bool postgres);
struct SqlWithArgs {
  std::string sql;
  std::vector<ContactQuery::Condition::Param> args;  ///< $1, $2, ...
  /// The arguments as PostgreSQL takes them (text).
  std::vector<std::string> Texts() const;
};
/// ListContacts' statement (count: CountContacts').
SqlWithArgs ContactQuerySql(const ContactQuery& q, bool count, bool postgres);
/// The batch with one entry per address (a later duplicate merges into the first: its non-empty name and
/// its attributes win), as a JSON array of {address, name, attributes} objects.
/// `distinct`: set to the number of entries.
std::string ContactBatchJson(const std::vector<ContactWrite>& contacts, std::size_t* distinct = nullptr);
/// "$1" -> "?1": a statement of the functions above for SQLite.
std::string ToSqlitePlaceholders(const std::string& sql);
/// kInvalidArgument unless `status` is a membership status (subscribed, unconfirmed, unsubscribed).
Result<void> CheckMemberStatus(const std::string& status);
Error ListNotFound(const std::string& account, const std::string& id);
Error CampaignNameTaken(const std::string& name);
/// A list with its member counts by status (id, account, name, description, double_opt_in, created_at,
/// subscribed, unconfirmed, unsubscribed): "SELECT ... FROM lists l ", for a WHERE to follow.
constexpr const char* kListColumns =
    "SELECT l.id, l.account, l.name, l.description, l.double_opt_in, l.created_at, "
    "(SELECT count(*) FROM list_members m WHERE m.list_id = l.id AND m.status = 'subscribed'), "
    "(SELECT count(*) FROM list_members m WHERE m.list_id = l.id AND m.status = 'unconfirmed'), "
    "(SELECT count(*) FROM list_members m WHERE m.list_id = l.id AND m.status = 'unsubscribed') FROM lists l ";
/// The columns of a campaign row (id, account, name, state, spec, start_at, cursor, targeted, sent, created_at,
/// updated_at, started_at, finished_at), aliased `k`.
constexpr const char* kCampaignColumns =
    "k.id, k.account, k.name, k.state, k.spec, k.start_at, k.cursor, k.targeted, k.sent, k.created_at, k.updated_at, "
    "k.started_at, k.finished_at";
Error ListNameTaken(const std::string& name);

}  // namespace kurier::store
