// sqlite_audience.cpp - contacts, lists and memberships in the embedded SQLite store (audience.hpp). A
// batch of contacts is one transaction: each row one cached INSERT ... ON CONFLICT DO NOTHING, then an
// UPDATE when it existed (kMerge merges attributes with json_patch, RFC 7396), then one statement puts
// the whole batch on the list. A contact's status is read from the suppression list (ContactStatusSql).
#include "common/ids.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store_shared.hpp"

namespace kurier::store::sqlite {

namespace {

Error Storage(const std::string& what, const std::string& detail) {
  return MakeError(ErrorCode::kStorage, what + ": " + detail);
}

Contact ContactRow(const Stmt& q) {
  Contact c;
  c.id = q.Int(0);
  c.account = q.Text(1);
  c.address = q.Text(2);
  c.name = q.Text(3);
  c.attributes = q.Text(4);
  c.created_at = q.Int(5);
  c.updated_at = q.Int(6);
  c.status = q.Text(7);
  return c;
}

ContactList ListRow(const Stmt& q) {
  ContactList l;
  l.id = q.Text(0);
  l.account = q.Text(1);
  l.name = q.Text(2);
  l.description = q.Text(3);
  l.double_opt_in = q.Int(4) != 0;
  l.created_at = q.Int(5);
  l.subscribed = q.Int(6);
  l.unconfirmed = q.Int(7);
  l.unsubscribed = q.Int(8);
  return l;
}

// Binds `args` (all text) to a statement prepared from ToSqlitePlaceholders(sql).
Result<Stmt> QueryWith(Db& db, const SqlWithArgs& s) {
  auto q = db.Prepare(ToSqlitePlaceholders(s.sql));
  if (!q) return q.error();
  using K = ContactQuery::Condition::Param::Kind;
  for (std::size_t i = 0; i < s.args.size(); ++i) {
    const auto& a = s.args[i];
    const int at = static_cast<int>(i + 1);
    if (a.kind == K::kText) q->Bind(at, std::string_view(a.text));
    else if (a.kind == K::kInt) q->Bind(at, a.i);
    else q->BindReal(at, a.d);
  }
  return q;
}

}  // namespace

Result<ContactSaveCounts> SqliteStore::SaveContacts(const std::string& account, const std::vector<ContactWrite>& contacts,
                                                    const ContactSaveOptions& options) {
  const std::string what = "cannot save contacts";
  if (!options.list_id.empty())
    if (auto st = CheckMemberStatus(options.member_status); !st) return st.error();
  const std::string batch = ContactBatchJson(contacts);
  std::lock_guard lock(mu_);
  Transaction tx(*db_);
  if (!tx.started()) return Storage(what, db_->LastError());
  if (!options.list_id.empty()) {
    auto found = First(db_->Query("SELECT 1 FROM lists WHERE id = ? AND account = ?", options.list_id, account),
                       [](const Stmt& q) { return q.Int(0); }, what);
    if (!found) return found.error();
    if (!*found) return ListNotFound(account, options.list_id);
  }
  const int64_t now = NowMicros();
  auto rows = db_->Query("SELECT value->>'address', value->>'name', value->'attributes' FROM json_each(?)", batch);
  if (!rows) return Storage(what, rows.error().message);
  const char* update =
      options.mode == ContactSaveOptions::Mode::kReplace
          ? "UPDATE contacts SET name = ?3, attributes = ?4, updated_at = ?5 WHERE account = ?1 AND address = ?2"
          : "UPDATE contacts SET name = CASE WHEN ?3 <> '' THEN ?3 ELSE name END, "
            "attributes = json_patch(attributes, ?4), updated_at = ?5 WHERE account = ?1 AND address = ?2";
  ContactSaveCounts counts;
  while (rows->Step()) {
    const std::string address = rows->Text(0), name = rows->Text(1), attributes = rows->Text(2);
    auto ins = db_->Execute("INSERT INTO contacts(account, address, name, attributes, created_at, updated_at) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(account, address) DO NOTHING",
                            account, address, name, attributes, now);
    if (!ins) return Storage(what, ins.error().message);
    if (*ins == 1) {
      ++counts.created;
    } else if (options.mode == ContactSaveOptions::Mode::kSkip) {
      ++counts.skipped;
    } else {
      auto up = db_->Execute(update, account, address, name, attributes, now);
      if (!up) return Storage(what, up.error().message);
      ++counts.updated;
    }
  }
  if (!rows->ok()) return Storage(what, rows->error());
  if (!options.list_id.empty()) {
    auto added = db_->Execute(
        "INSERT INTO list_members(list_id, contact_id, status, consent, created_at, updated_at) "
        "SELECT ?1, c.id, ?2, ?3, ?4, ?4 FROM contacts c WHERE c.account = ?5 AND "
        "c.address IN (SELECT value->>'address' FROM json_each(?6)) ON CONFLICT(list_id, contact_id) DO NOTHING",
        options.list_id, options.member_status, options.consent.empty() ? "{}" : options.consent, now, account, batch);
    if (!added) return Storage(what, added.error().message);
    counts.added_to_list = *added;
  }
  if (auto r = tx.Commit(); !r) return Storage(what, r.error().message);
  return counts;
}

Result<std::optional<Contact>> SqliteStore::FindContact(const std::string& account, const std::string& id_or_address) {
  const std::string what = "cannot read contact";
  std::lock_guard lock(mu_);
  auto c = First(db_->Query("SELECT " + ContactColumnsSql(false) +
                                " FROM contacts c WHERE c.account = ?1 AND (c.address = ?2 OR CAST(c.id AS TEXT) = ?2)",
                            account, id_or_address),
                 ContactRow, what);
  if (!c || !*c) return c;
  auto lists = Rows(db_->Query("SELECT m.list_id, l.name, m.status, m.consent, m.updated_at FROM list_members m "
                               "JOIN lists l ON l.id = m.list_id WHERE m.contact_id = ? ORDER BY l.name",
                               (*c)->id),
                    [](const Stmt& q) { return Membership{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4)}; }, what);
  if (!lists) return lists.error();
  (*c)->lists = std::move(*lists);
  return c;
}

Result<std::vector<Contact>> SqliteStore::ListContacts(const ContactQuery& query) {
  std::lock_guard lock(mu_);
  return Rows(QueryWith(*db_, ContactQuerySql(query, false, false)), ContactRow, "cannot list contacts");
}

Result<int64_t> SqliteStore::CountContacts(const ContactQuery& query) {
  std::lock_guard lock(mu_);
  auto n = First(QueryWith(*db_, ContactQuerySql(query, true, false)), [](const Stmt& q) { return q.Int(0); },
                 "cannot count contacts");
  if (!n) return n.error();
  return n->value_or(0);
}

Result<bool> SqliteStore::DeleteContact(const std::string& account, int64_t id) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute("DELETE FROM contacts WHERE account = ? AND id = ?", account, id);
  if (!n) return Storage("cannot delete contact", n.error().message);
  return *n > 0;
}

Result<ContactList> SqliteStore::CreateList(const ContactList& list) {
  ContactList l = list;
  l.id = "list_" + NewQueueId();
  l.created_at = NowMicros();
  std::lock_guard lock(mu_);
  auto r = db_->Execute("INSERT INTO lists(id, account, name, description, double_opt_in, created_at) VALUES(?,?,?,?,?,?)",
                        l.id, l.account, l.name, l.description, l.double_opt_in, l.created_at);
  if (!r) {
    if (r.error().message.find("UNIQUE") != std::string::npos) return ListNameTaken(l.name);
    return Storage("cannot create list", r.error().message);
  }
  return l;
}

Result<std::vector<ContactList>> SqliteStore::ListLists(const std::string& account) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(std::string(kListColumns) + "WHERE l.account = ? ORDER BY l.name, l.id", account), ListRow,
              "cannot list lists");
}

Result<std::optional<ContactList>> SqliteStore::FindList(const std::string& account, const std::string& id_or_name) {
  std::lock_guard lock(mu_);
  return First(db_->Query(std::string(kListColumns) +
                              "WHERE l.account = ?1 AND (l.id = ?2 OR l.name = ?2) ORDER BY l.id = ?2 DESC LIMIT 1",
                          account, id_or_name),
               ListRow, "cannot read list");
}

Result<bool> SqliteStore::DeleteList(const std::string& account, const std::string& id) {
  std::lock_guard lock(mu_);
  auto n = db_->Execute("DELETE FROM lists WHERE account = ? AND id = ?", account, id);
  if (!n) return Storage("cannot delete list", n.error().message);
  return *n > 0;
}

Result<bool> SqliteStore::SetMembership(const std::string& account, const std::string& list_id, int64_t contact_id,
                                        const std::string& status, const std::string& consent) {
  const std::string what = "cannot change a list membership";
  if (!status.empty())
    if (auto st = CheckMemberStatus(status); !st) return st.error();
  std::lock_guard lock(mu_);
  const int64_t now = NowMicros();
  auto n = status.empty()
               ? db_->Execute("DELETE FROM list_members WHERE list_id = ?1 AND contact_id = ?2 AND "
                              "EXISTS (SELECT 1 FROM lists WHERE id = ?1 AND account = ?3)",
                              list_id, contact_id, account)
               : db_->Execute(
                     "INSERT INTO list_members(list_id, contact_id, status, consent, created_at, updated_at) "
                     "SELECT l.id, c.id, ?3, CASE WHEN ?4 = '' THEN '{}' ELSE ?4 END, ?5, ?5 FROM lists l, contacts c "
                     "WHERE l.id = ?1 AND l.account = ?6 AND c.id = ?2 AND c.account = ?6 "
                     "ON CONFLICT(list_id, contact_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, "
                     "consent = CASE WHEN ?4 = '' THEN consent ELSE excluded.consent END",
                     list_id, contact_id, status, consent, now, account);
  if (!n) return Storage(what, n.error().message);
  return *n > 0;
}

}  // namespace kurier::store::sqlite

namespace kurier::store::sqlite {

namespace {

Campaign CampaignRow(const Stmt& q) {
  Campaign k;
  k.id = q.Text(0);
  k.account = q.Text(1);
  k.name = q.Text(2);
  k.state = q.Text(3);
  k.spec = q.Text(4);
  k.start_at = q.Int(5);
  k.cursor = q.Int(6);
  k.targeted = q.Int(7);
  k.sent = q.Int(8);
  k.created_at = q.Int(9);
  k.updated_at = q.Int(10);
  k.started_at = q.Int(11);
  k.finished_at = q.Int(12);
  return k;
}

}  // namespace

Result<Campaign> SqliteStore::CreateCampaign(const Campaign& campaign) {
  Campaign k = campaign;
  k.id = "cmp_" + NewQueueId();
  k.created_at = k.updated_at = NowMicros();
  std::lock_guard lock(mu_);
  auto r = db_->Execute("INSERT INTO campaigns(id, account, name, state, spec, start_at, created_at, updated_at) "
                        "VALUES(?,?,?,?,?,?,?,?)",
                        k.id, k.account, k.name, k.state, k.spec, k.start_at, k.created_at, k.updated_at);
  if (!r) {
    if (r.error().message.find("UNIQUE") != std::string::npos) return CampaignNameTaken(k.name);
    return MakeError(ErrorCode::kStorage, "cannot create campaign: " + r.error().message);
  }
  return k;
}

Result<std::optional<Campaign>> SqliteStore::FindCampaign(const std::string& account, const std::string& id_or_name) {
  std::lock_guard lock(mu_);
  return First(db_->Query(std::string("SELECT ") + kCampaignColumns +
                              " FROM campaigns k WHERE k.account = ?1 AND (k.id = ?2 OR k.name = ?2) "
                              "ORDER BY k.id = ?2 DESC LIMIT 1",
                          account, id_or_name),
               CampaignRow, "cannot read campaign");
}

Result<std::vector<Campaign>> SqliteStore::ListCampaigns(const std::string& account) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(std::string("SELECT ") + kCampaignColumns +
                             " FROM campaigns k WHERE k.account = ? ORDER BY k.created_at DESC, k.id",
                         account),
              CampaignRow, "cannot list campaigns");
}

Result<bool> SqliteStore::UpdateCampaign(const Campaign& k, const std::string& if_state) {
  std::lock_guard lock(mu_);
  auto r = db_->Execute(
      "UPDATE campaigns SET name = ?, state = ?, spec = ?, start_at = ?, cursor = ?, targeted = ?, sent = ?, "
      "updated_at = ?, started_at = ?, finished_at = ? WHERE account = ? AND id = ? AND (? = '' OR state = ?)",
      k.name, k.state, k.spec, k.start_at, k.cursor, k.targeted, k.sent, NowMicros(), k.started_at, k.finished_at,
      k.account, k.id, if_state, if_state);
  if (!r) {
    if (r.error().message.find("UNIQUE") != std::string::npos) return CampaignNameTaken(k.name);
    return MakeError(ErrorCode::kStorage, "cannot update campaign: " + r.error().message);
  }
  if (*r > 0) return true;
  auto found = First(db_->Query("SELECT 1 FROM campaigns WHERE account = ? AND id = ?", k.account, k.id),
                     [](const Stmt& q) { return q.Int(0); }, "cannot read campaign");
  if (!found) return found.error();
  if (!*found) return MakeError(ErrorCode::kNotFound, "account " + k.account + " has no campaign " + k.id);
  return false;
}

Result<std::vector<Campaign>> SqliteStore::DueCampaigns(int64_t now) {
  std::lock_guard lock(mu_);
  return Rows(db_->Query(std::string("SELECT ") + kCampaignColumns +
                             " FROM campaigns k WHERE k.state = 'running' OR (k.state = 'scheduled' AND k.start_at <= ?) "
                             "ORDER BY k.start_at, k.id",
                         now),
              CampaignRow, "cannot read the campaigns due");
}

Result<std::vector<StatsRow>> SqliteStore::CampaignCounts(const std::string& account, const std::string& campaign_id) {
  DrainJournal();
  std::lock_guard lock(mu_);
  return Rows(db_->Query("SELECT type, count(*), count(DISTINCT CASE WHEN type = 'accepted' THEN message_id ELSE recipient END), "
                         "COALESCE(json_extract(data, '$.classification'), '') FROM events WHERE account = ? AND "
                         "json_extract(data, '$.metadata.campaign') = ? GROUP BY 1, 4 ORDER BY 1, 4",
                         account, campaign_id),
              [](const Stmt& q) { return StatsRow{0, q.Text(0), q.Int(1), q.Int(2), q.Text(3)}; },
              "cannot count the campaign's events");
}

}  // namespace kurier::store::sqlite
