// pg_templates.cpp - stored templates and their numbered, immutable versions in PostgreSQL (pg_store.hpp).
// A change that adds a version locks the template's row first (SELECT ... FOR UPDATE), so two nodes
// changing one template at once number their versions one after the other.
#include "common/ids.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/store_shared.hpp"

namespace kurier::store::postgres {

namespace {

// Columns of a template row, with its account's name and its newest version.
constexpr const char* kTemplateColumns =
    "SELECT t.id, a.name, t.name, t.created_at, t.updated_at, t.published_version, "
    "(SELECT COALESCE(MAX(v.version), 0) FROM template_versions v WHERE v.template_id = t.id) "
    "FROM templates t JOIN accounts a ON a.id = t.account_id ";

StoredTemplate TemplateRow(const pg::Result& r, int i) {
  StoredTemplate t;
  t.id = r.Text(i, 0);
  t.account = r.Text(i, 1);
  t.name = r.Text(i, 2);
  t.created_at = r.Int(i, 3);
  t.updated_at = r.Int(i, 4);
  t.published_version = static_cast<int>(r.Int(i, 5));
  t.latest_version = static_cast<int>(r.Int(i, 6));
  return t;
}

/// Inserts the next version of template `id` (its row locked by the caller's transaction); returns its number.
int AddVersion(Connection& c, const std::string& id, const TemplateVersion& v, int64_t now) {
  return static_cast<int>(
      c.Exec("INSERT INTO template_versions(template_id, version, subject, text, html, created_at) "
             "SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 FROM template_versions WHERE template_id = $1 "
             "RETURNING version",
             Args(id, v.subject, v.text, v.html, now))
          .Int(0, 0));
}

}  // namespace

Result<StoredTemplate> PgStore::CreateTemplate(const std::string& account, const std::string& name,
                                               const TemplateVersion& first, bool publish) {
  return Run("cannot create template", [&](Connection& c) -> Result<StoredTemplate> {
    const int64_t now = NowMicros();
    StoredTemplate t;
    t.id = "tmpl_" + NewQueueId();
    t.account = account;
    t.name = name;
    t.created_at = t.updated_at = now;
    Transaction tx(c);
    try {
      auto r = c.Exec("INSERT INTO templates(id, account_id, name, created_at, updated_at, published_version) "
                      "SELECT $1, id, $2, $3, $3, $4 FROM accounts WHERE name = $5 RETURNING id",
                      Args(t.id, name, now, publish ? 1 : 0, account));
      if (r.Rows() == 0) return NoAccount(account);
    } catch (const PgError& e) {
      if (UniqueViolation(e)) return TemplateNameTaken(name);
      throw;
    }
    AddVersion(c, t.id, first, now);
    tx.Commit();
    t.published_version = publish ? 1 : 0;
    t.latest_version = 1;
    t.versions.push_back(TemplateVersion{1, "", "", "", now});
    return t;
  });
}

Result<std::vector<StoredTemplate>> PgStore::ListTemplates(const std::string& account) {
  return Run("cannot list templates", [&](Connection& c) -> Result<std::vector<StoredTemplate>> {
    auto r = c.Exec(std::string(kTemplateColumns) + "WHERE a.name = $1 ORDER BY t.name COLLATE \"C\", t.id COLLATE \"C\"", Args(account));
    std::vector<StoredTemplate> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(TemplateRow(r, i));
    return out;
  });
}

Result<std::optional<StoredTemplate>> PgStore::FindTemplateOn(Connection& c, const std::string& account,
                                                             const std::string& id_or_name) {
  // Ids start with "tmpl_", which names may not, so at most one row matches either way; the id wins.
  auto r = c.Exec(std::string(kTemplateColumns) +
                      "WHERE a.name = $1 AND (t.id = $2 OR lower(t.name) = lower($2)) ORDER BY t.id = $2 DESC LIMIT 1",
                  Args(account, id_or_name));
  if (r.Rows() == 0) return std::optional<StoredTemplate>();
  StoredTemplate t = TemplateRow(r, 0);
  auto v = c.Exec("SELECT version, created_at FROM template_versions WHERE template_id = $1 ORDER BY version", Args(t.id));
  for (int i = 0; i < v.Rows(); ++i) t.versions.push_back(TemplateVersion{static_cast<int>(v.Int(i, 0)), "", "", "", v.Int(i, 1)});
  return std::optional<StoredTemplate>(std::move(t));
}

Result<std::optional<StoredTemplate>> PgStore::FindTemplate(const std::string& account, const std::string& id_or_name) {
  return Run("cannot read templates", [&](Connection& c) { return FindTemplateOn(c, account, id_or_name); });
}

Result<std::optional<TemplateVersion>> PgStore::FindTemplateVersion(const std::string& account, const std::string& id,
                                                                    int version) {
  return Run("cannot read template version", [&](Connection& c) -> Result<std::optional<TemplateVersion>> {
    auto r = c.Exec("SELECT v.version, v.subject, v.text, v.html, v.created_at FROM template_versions v "
                    "JOIN templates t ON t.id = v.template_id JOIN accounts a ON a.id = t.account_id "
                    "WHERE a.name = $1 AND t.id = $2 AND v.version = $3",
                    Args(account, id, version));
    if (r.Rows() == 0) return std::optional<TemplateVersion>();
    return std::optional<TemplateVersion>(TemplateVersion{static_cast<int>(r.Int(0, 0)), std::string(r.Text(0, 1)),
                                                          std::string(r.Text(0, 2)), std::string(r.Text(0, 3)), r.Int(0, 4)});
  });
}

Result<StoredTemplate> PgStore::UpdateTemplate(const std::string& account, const std::string& id,
                                               const TemplateUpdate& update) {
  return Run("cannot update template", [&](Connection& c) -> Result<StoredTemplate> {
    Transaction tx(c);
    if (c.Exec("SELECT 1 FROM templates t JOIN accounts a ON a.id = t.account_id WHERE a.name = $1 AND t.id = $2 "
               "FOR UPDATE OF t",
               Args(account, id))
            .Rows() == 0)
      return TemplateNotFound(account, id);
    const int64_t now = NowMicros();
    if (update.name) {
      try {
        c.Exec("UPDATE templates SET name = $1 WHERE id = $2", Args(*update.name, id));
      } catch (const PgError& e) {
        if (UniqueViolation(e)) return TemplateNameTaken(*update.name);
        throw;
      }
    }
    const int version = update.content ? AddVersion(c, id, *update.content, now) : 0;
    c.Exec("UPDATE templates SET updated_at = $1, published_version = CASE WHEN $2::integer > 0 THEN $2::integer "
           "ELSE published_version END WHERE id = $3",
           Args(now, update.publish ? version : 0, id));
    auto after = FindTemplateOn(c, account, id);
    if (!after) return after.error();
    if (!*after) return TemplateNotFound(account, id);
    tx.Commit();
    return std::move(**after);
  });
}

Result<void> PgStore::PublishTemplateVersion(const std::string& account, const std::string& id, int version) {
  return Run("cannot publish template version", [&](Connection& c) -> Result<void> {
    if (c.Exec("UPDATE templates SET published_version = $1, updated_at = $2 "
               "WHERE id = $3 AND account_id = (SELECT id FROM accounts WHERE name = $4) "
               "AND EXISTS(SELECT 1 FROM template_versions WHERE template_id = $3 AND version = $1)",
               Args(version, NowMicros(), id, account))
            .Affected() == 0)
      return MakeError(ErrorCode::kNotFound, "template '" + id + "' has no version " + std::to_string(version));
    return {};
  });
}

Result<void> PgStore::DeleteTemplate(const std::string& account, const std::string& id) {
  return Run("cannot delete template", [&](Connection& c) -> Result<void> {
    // Versions go with the template (ON DELETE CASCADE).
    if (c.Exec("DELETE FROM templates WHERE id = $1 AND account_id = (SELECT id FROM accounts WHERE name = $2)",
               Args(id, account))
            .Affected() == 0)
      return TemplateNotFound(account, id);
    return {};
  });
}

}  // namespace kurier::store::postgres
