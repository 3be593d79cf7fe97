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

}  // namespace kurier::store
