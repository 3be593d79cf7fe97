// pg_audience.cpp - contacts, lists and memberships in PostgreSQL (audience.hpp, pg_store.hpp). A batch of
// contacts is two statements in one transaction whatever its size: one INSERT ... ON CONFLICT over the
// batch as a JSON recordset (xmax = 0 tells a created row from an updated one; kMerge merges attributes
// with jsonb ||), and one that puts the batch on the list. Two nodes saving the same address at once meet
// in the unique index, never in two rows.
// STANDARDS: PostgreSQL 15 (json_to_recordset, jsonb, ON CONFLICT ... RETURNING).
#include "common/ids.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/store_shared.hpp"

namespace kurier::store::postgres {

namespace {

Contact ContactRow(const pg::Result& r, int i) {
  Contact c;
  c.id = r.Int(i, 0);
  c.account = r.Text(i, 1);
  c.address = r.Text(i, 2);
  c.name = r.Text(i, 3);
  c.attributes = r.Text(i, 4);
  c.created_at = r.Int(i, 5);
  c.updated_at = r.Int(i, 6);
  c.status = r.Text(i, 7);
  return c;
}

ContactList ListRow(const pg::Result& r, int i) {
  ContactList l;
  l.id = r.Text(i, 0);
  l.account = r.Text(i, 1);
  l.name = r.Text(i, 2);
  l.description = r.Text(i, 3);
  l.double_opt_in = Bool(r, i, 4);
  l.created_at = r.Int(i, 5);
  l.subscribed = r.Int(i, 6);
  l.unconfirmed = r.Int(i, 7);
  l.unsubscribed = r.Int(i, 8);
  return l;
}

std::vector<pg::Param> Params(const SqlWithArgs& s) {
  const auto texts = s.Texts();
  return std::vector<pg::Param>(texts.begin(), texts.end());
}

std::string UpsertSql(ContactSaveOptions::Mode mode) {
  std::string sql =
      "INSERT INTO contacts(account, address, name, attributes, created_at, updated_at) "
      "SELECT $1, t.address, COALESCE(t.name, ''), COALESCE(t.attributes, '{}'::jsonb), $3, $3 "
      "FROM json_to_recordset($2::json) AS t(address text, name text, attributes jsonb) ON CONFLICT (account, address) ";
  switch (mode) {
    case ContactSaveOptions::Mode::kSkip:
      return sql + "DO NOTHING RETURNING true";
    case ContactSaveOptions::Mode::kReplace:
      return sql + "DO UPDATE SET name = EXCLUDED.name, attributes = EXCLUDED.attributes, updated_at = EXCLUDED.updated_at "
                   "RETURNING xmax = 0";
    case ContactSaveOptions::Mode::kMerge:
      break;
  }
  return sql + "DO UPDATE SET name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE contacts.name END, "
               "attributes = contacts.attributes || EXCLUDED.attributes, updated_at = EXCLUDED.updated_at RETURNING xmax = 0";
}

}  // namespace

Result<ContactSaveCounts> PgStore::SaveContacts(const std::string& account, const std::vector<ContactWrite>& contacts,
                                                const ContactSaveOptions& options) {
  if (!options.list_id.empty())
    if (auto st = CheckMemberStatus(options.member_status); !st) return st.error();
  std::size_t distinct = 0;
  const std::string batch = ContactBatchJson(contacts, &distinct);
  return Run("cannot save contacts", [&](Connection& c) -> Result<ContactSaveCounts> {
    Transaction tx(c);
    if (!options.list_id.empty() &&
        c.Exec("SELECT 1 FROM lists WHERE id = $1 AND account = $2", Args(options.list_id, account)).Rows() == 0)
      return ListNotFound(account, options.list_id);
    const int64_t now = NowMicros();
    auto r = c.Exec(UpsertSql(options.mode), Args(account, batch, now));
    ContactSaveCounts counts;
    for (int i = 0; i < r.Rows(); ++i) (Bool(r, i, 0) ? counts.created : counts.updated)++;
    counts.skipped = static_cast<int64_t>(distinct) - r.Rows();
    if (!options.list_id.empty()) {
      auto added = c.Exec(
          "INSERT INTO list_members(list_id, contact_id, status, consent, created_at, updated_at) "
          "SELECT $1, c.id, $2, $3::jsonb, $4, $4 FROM contacts c WHERE c.account = $5 AND "
          "c.address IN (SELECT t.address FROM json_to_recordset($6::json) AS t(address text)) "
          "ON CONFLICT (list_id, contact_id) DO NOTHING",
          Args(options.list_id, options.member_status, options.consent.empty() ? "{}" : options.consent, now, account, batch));
      counts.added_to_list = added.Affected();
    }
    tx.Commit();
    return counts;
  });
}

Result<std::optional<Contact>> PgStore::FindContact(const std::string& account, const std::string& id_or_address) {
  return Run("cannot read contact", [&](Connection& c) -> Result<std::optional<Contact>> {
    auto r = c.Exec("SELECT " + ContactColumnsSql(true) +
                        " FROM contacts c WHERE c.account = $1 AND (c.address = $2 OR c.id::text = $2)",
                    Args(account, id_or_address));
    if (r.Rows() == 0) return std::optional<Contact>();
    Contact contact = ContactRow(r, 0);
    auto m = c.Exec("SELECT m.list_id, l.name, m.status, m.consent::text, m.updated_at FROM list_members m "
                    "JOIN lists l ON l.id = m.list_id WHERE m.contact_id = $1 ORDER BY l.name",
                    Args(contact.id));
    for (int i = 0; i < m.Rows(); ++i)
      contact.lists.push_back(Membership{std::string(m.Text(i, 0)), std::string(m.Text(i, 1)), std::string(m.Text(i, 2)),
                                         std::string(m.Text(i, 3)), m.Int(i, 4)});
    return std::optional<Contact>(std::move(contact));
  });
}

Result<std::vector<Contact>> PgStore::ListContacts(const ContactQuery& query) {
  return Run("cannot list contacts", [&](Connection& c) -> Result<std::vector<Contact>> {
    const SqlWithArgs s = ContactQuerySql(query, false, true);
    auto r = c.Exec(s.sql, Params(s));
    std::vector<Contact> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(ContactRow(r, i));
    return out;
  });
}

Result<int64_t> PgStore::CountContacts(const ContactQuery& query) {
  return Run("cannot count contacts", [&](Connection& c) -> Result<int64_t> {
    const SqlWithArgs s = ContactQuerySql(query, true, true);
    return static_cast<int64_t>(c.Exec(s.sql, Params(s)).Int(0, 0));
  });
}

Result<bool> PgStore::DeleteContact(const std::string& account, int64_t id) {
  return Run("cannot delete contact", [&](Connection& c) -> Result<bool> {
    return c.Exec("DELETE FROM contacts WHERE account = $1 AND id = $2", Args(account, id)).Affected() > 0;
  });
}

Result<ContactList> PgStore::CreateList(const ContactList& list) {
  return Run("cannot create list", [&](Connection& c) -> Result<ContactList> {
    ContactList l = list;
    l.id = "list_" + NewQueueId();
    l.created_at = NowMicros();
    try {
      c.Exec("INSERT INTO lists(id, account, name, description, double_opt_in, created_at) VALUES($1, $2, $3, $4, $5, $6)",
             Args(l.id, l.account, l.name, l.description, l.double_opt_in, l.created_at));
    } catch (const PgError& e) {
      if (UniqueViolation(e)) return ListNameTaken(l.name);
      throw;
    }
    return l;
  });
}

Result<std::vector<ContactList>> PgStore::ListLists(const std::string& account) {
  return Run("cannot list lists", [&](Connection& c) -> Result<std::vector<ContactList>> {
    auto r = c.Exec(std::string(kListColumns) + "WHERE l.account = $1 ORDER BY lower(l.name) COLLATE \"C\", l.id", Args(account));
    std::vector<ContactList> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(ListRow(r, i));
    return out;
  });
}

Result<std::optional<ContactList>> PgStore::FindList(const std::string& account, const std::string& id_or_name) {
  return Run("cannot read list", [&](Connection& c) -> Result<std::optional<ContactList>> {
    auto r = c.Exec(std::string(kListColumns) +
                        "WHERE l.account = $1 AND (l.id = $2 OR lower(l.name) = lower($2)) ORDER BY l.id = $2 DESC LIMIT 1",
                    Args(account, id_or_name));
    if (r.Rows() == 0) return std::optional<ContactList>();
    return std::optional<ContactList>(ListRow(r, 0));
  });
}

Result<bool> PgStore::DeleteList(const std::string& account, const std::string& id) {
  return Run("cannot delete list", [&](Connection& c) -> Result<bool> {
    return c.Exec("DELETE FROM lists WHERE account = $1 AND id = $2", Args(account, id)).Affected() > 0;
  });
}

Result<bool> PgStore::SetMembership(const std::string& account, const std::string& list_id, int64_t contact_id,
                                    const std::string& status, const std::string& consent) {
  if (!status.empty())
    if (auto st = CheckMemberStatus(status); !st) return st.error();
  return Run("cannot change a list membership", [&](Connection& c) -> Result<bool> {
    if (status.empty())
      return c.Exec("DELETE FROM list_members m USING lists l WHERE m.list_id = $1 AND m.contact_id = $2 AND "
                    "l.id = m.list_id AND l.account = $3",
                    Args(list_id, contact_id, account))
                 .Affected() > 0;
    return c.Exec("INSERT INTO list_members(list_id, contact_id, status, consent, created_at, updated_at) "
                  "SELECT l.id, c.id, $3, COALESCE(NULLIF($4, '')::jsonb, '{}'::jsonb), $5, $5 "
                  "FROM lists l, contacts c WHERE l.id = $1 AND l.account = $6 AND c.id = $2 AND c.account = $6 "
                  "ON CONFLICT (list_id, contact_id) DO UPDATE SET status = EXCLUDED.status, "
                  "updated_at = EXCLUDED.updated_at, "
                  "consent = COALESCE(NULLIF($4, '')::jsonb, list_members.consent)",
                  Args(list_id, contact_id, status, consent, NowMicros(), account))
               .Affected() > 0;
  });
}

}  // namespace kurier::store::postgres

namespace kurier::store::postgres {

namespace {

Campaign CampaignRow(const pg::Result& r, int i) {
  Campaign k;
  k.id = r.Text(i, 0);
  k.account = r.Text(i, 1);
  k.name = r.Text(i, 2);
  k.state = r.Text(i, 3);
  k.spec = r.Text(i, 4);
  k.start_at = r.Int(i, 5);
  k.cursor = r.Int(i, 6);
  k.targeted = r.Int(i, 7);
  k.sent = r.Int(i, 8);
  k.created_at = r.Int(i, 9);
  k.updated_at = r.Int(i, 10);
  k.started_at = r.Int(i, 11);
  k.finished_at = r.Int(i, 12);
  return k;
}

std::vector<Campaign> CampaignRows(const pg::Result& r) {
  std::vector<Campaign> out;
  for (int i = 0; i < r.Rows(); ++i) out.push_back(CampaignRow(r, i));
  return out;
}

}  // namespace

Result<Campaign> PgStore::CreateCampaign(const Campaign& campaign) {
  return Run("cannot create campaign", [&](Connection& c) -> Result<Campaign> {
    Campaign k = campaign;
    k.id = "cmp_" + NewQueueId();
    k.created_at = k.updated_at = NowMicros();
    try {
      c.Exec("INSERT INTO campaigns(id, account, name, state, spec, start_at, created_at, updated_at) "
             "VALUES($1, $2, $3, $4, $5, $6, $7, $7)",
             Args(k.id, k.account, k.name, k.state, k.spec, k.start_at, k.created_at));
    } catch (const PgError& e) {
      if (UniqueViolation(e)) return CampaignNameTaken(k.name);
      throw;
    }
    return k;
  });
}

Result<std::optional<Campaign>> PgStore::FindCampaign(const std::string& account, const std::string& id_or_name) {
  return Run("cannot read campaign", [&](Connection& c) -> Result<std::optional<Campaign>> {
    auto r = c.Exec(std::string("SELECT ") + kCampaignColumns +
                        " FROM campaigns k WHERE k.account = $1 AND (k.id = $2 OR lower(k.name) = lower($2)) "
                        "ORDER BY k.id = $2 DESC LIMIT 1",
                    Args(account, id_or_name));
    if (r.Rows() == 0) return std::optional<Campaign>();
    return std::optional<Campaign>(CampaignRow(r, 0));
  });
}

Result<std::vector<Campaign>> PgStore::ListCampaigns(const std::string& account) {
  return Run("cannot list campaigns", [&](Connection& c) -> Result<std::vector<Campaign>> {
    return CampaignRows(c.Exec(std::string("SELECT ") + kCampaignColumns +
                                   " FROM campaigns k WHERE k.account = $1 ORDER BY k.created_at DESC, k.id",
                               Args(account)));
  });
}

Result<bool> PgStore::UpdateCampaign(const Campaign& k, const std::string& if_state) {
  return Run("cannot update campaign", [&](Connection& c) -> Result<bool> {
    long long n = 0;
    try {
      n = c.Exec("UPDATE campaigns SET name = $1, state = $2, spec = $3, start_at = $4, cursor = $5, targeted = $6, "
                 "sent = $7, updated_at = $8, started_at = $9, finished_at = $10 WHERE account = $11 AND id = $12 "
                 "AND ($13 = '' OR state = $13)",
                 Args(k.name, k.state, k.spec, k.start_at, k.cursor, k.targeted, k.sent, NowMicros(), k.started_at,
                      k.finished_at, k.account, k.id, if_state))
              .Affected();
    } catch (const PgError& e) {
      if (UniqueViolation(e)) return CampaignNameTaken(k.name);
      throw;
    }
    if (n > 0) return true;
    if (c.Exec("SELECT 1 FROM campaigns WHERE account = $1 AND id = $2", Args(k.account, k.id)).Rows() == 0)
      return MakeError(ErrorCode::kNotFound, "account " + k.account + " has no campaign " + k.id);
    return false;
  });
}

Result<std::vector<Campaign>> PgStore::DueCampaigns(int64_t now) {
  return Run("cannot read the campaigns due", [&](Connection& c) -> Result<std::vector<Campaign>> {
    return CampaignRows(c.Exec(std::string("SELECT ") + kCampaignColumns +
                                   " FROM campaigns k WHERE k.state = 'running' OR (k.state = 'scheduled' AND "
                                   "k.start_at <= $1) ORDER BY k.start_at, k.id",
                               Args(now)));
  });
}

Result<std::vector<StatsRow>> PgStore::CampaignCounts(const std::string& account, const std::string& campaign_id) {
  DrainJournal();
  return Run("cannot count the campaign's events", [&](Connection& c) -> Result<std::vector<StatsRow>> {
    auto r = c.Exec("SELECT type, count(*), count(DISTINCT CASE WHEN type = 'accepted' THEN message_id ELSE recipient END), "
                    "COALESCE(data->>'classification', '') FROM events WHERE account = $1 AND "
                    "data->'metadata'->>'campaign' = $2 GROUP BY 1, 4 ORDER BY 1, 4",
                    Args(account, campaign_id));
    std::vector<StatsRow> out;
    for (int i = 0; i < r.Rows(); ++i)
      out.push_back(StatsRow{0, std::string(r.Text(i, 0)), r.Int(i, 1), r.Int(i, 2), std::string(r.Text(i, 3))});
    return out;
  });
}

}  // namespace kurier::store::postgres
