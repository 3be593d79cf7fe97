// audience.hpp - what the store keeps of an account's audience (issue 17): contacts, lists and each
// contact's membership of a list with its consent record. A contact's status is not stored beside its
// suppression: it is read from the suppression list (the account's or the global one) every time, so the
// two cannot disagree (a hard bounce, a complaint or an unsubscribe suppresses the address, and the
// contact reads as bounced, complained or unsubscribed from then on).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kurier::store {

/// One list a contact is on, as FindContact gives it.
struct Membership {
  std::string list_id;
  std::string list_name;
  std::string status;   ///< subscribed, unconfirmed (double opt-in not confirmed yet), unsubscribed
  std::string consent;  ///< JSON object text: time, ip, user_agent, source, form version (may be "{}")
  int64_t updated_at = 0;
};

struct Contact {
  int64_t id = 0;
  std::string account;
  std::string address;  ///< normalised: lower-cased, the domain as its A-label (audience/contact_row.hpp)
  std::string name;
  std::string attributes = "{}";  ///< JSON object text
  /// active, or from the suppression list: unsubscribed, complained, bounced, suppressed (any other reason)
  std::string status = "active";
  int64_t created_at = 0, updated_at = 0;  ///< microseconds
  std::vector<Membership> lists;           ///< FindContact only
};

/// A contact to create or change (SaveContacts). `address` must be normalised already.
struct ContactWrite {
  std::string address;
  std::string name;               ///< "" keeps the stored name (kMerge)
  std::string attributes = "{}";  ///< JSON object text of flat values
};

struct ContactSaveOptions {
  enum class Mode {
    kMerge,    ///< create, or update: a non-empty name replaces, attributes merge key by key (import's upsert)
    kSkip,     ///< create; an existing contact is left as it is (import's skip; still added to the list)
    kReplace,  ///< create, or update: name and attributes replace the stored ones (PUT, PATCH after merging)
  };
  Mode mode = Mode::kMerge;
  std::string list_id;          ///< "" or a list every saved contact is put on
  std::string member_status = "subscribed";  ///< for list_id: a membership already there keeps its status
  std::string consent = "{}";   ///< for list_id: the consent record of new memberships (JSON object text)
};

struct ContactSaveCounts {
  int64_t created = 0, updated = 0, skipped = 0;
  int64_t added_to_list = 0;  ///< new memberships of options.list_id
};

struct ContactQuery {
  std::string account;
  std::string search;   ///< "" or a piece of the address or the name (case-insensitive)
  std::string list_id;  ///< "" or only the contacts on this list (any membership status)
  std::string status;   ///< "" or one Contact::status value
  /// Only contacts subscribed (membership status subscribed) to any of these lists (ids); empty: no filter.
  std::vector<std::string> subscribed_to;
  /// A further condition (a compiled segment): SQL over the contact row `c` in $n placeholders numbered from
  /// 1, with its parameters (typed: SQLite compares a text parameter with a JSON number as unequal).
  struct Condition {
    std::string sql;
    struct Param {
      enum Kind { kText, kInt, kReal } kind = kText;
      std::string text;
      int64_t i = 0;
      double d = 0;
    };
    std::vector<Param> params;
  };
  std::optional<Condition> where;
  int64_t after_id = 0; ///< cursor: ids above this one, in id order
  std::size_t limit = 100;
};

struct ContactList {
  std::string id;  ///< "list_" + a token
  std::string account;
  std::string name;  ///< unique per account, case-insensitive
  std::string description;
  bool double_opt_in = false;
  int64_t created_at = 0;
  int64_t subscribed = 0, unconfirmed = 0, unsubscribed = 0;  ///< member counts, when read
};

/// A campaign (issue 17): one designed message to an audience, sent over time. What it sends (`spec`) is a
/// JSON object the campaign layer reads and checks (campaigns/campaign.hpp); the store keeps it with the
/// fields the runner queries and changes.
struct Campaign {
  std::string id;  ///< "cmp_" + a token
  std::string account;
  std::string name;   ///< unique per account, case-insensitive
  std::string state = "draft";  ///< draft, scheduled, running, paused, finished, cancelled
  std::string spec = "{}";      ///< JSON object text: from, template, audience, tags, tracking, spread
  int64_t start_at = 0;         ///< microseconds; 0: when scheduled
  int64_t cursor = 0;           ///< the last contact id the runner went past
  int64_t targeted = 0;         ///< contacts in the audience when it started
  int64_t sent = 0;             ///< messages spooled
  int64_t created_at = 0, updated_at = 0, started_at = 0, finished_at = 0;
};

/// The contact status a suppression reason reads as ("" : not suppressed, "active").
std::string ContactStatusOf(const std::string& suppression_reason);

}  // namespace kurier::store
