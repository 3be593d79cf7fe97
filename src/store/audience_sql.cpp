// audience_sql.cpp - the contact statements both store backends run (store_shared.hpp), and the status a
// suppression reason reads as (audience.hpp). Written once in PostgreSQL's $n placeholders; SQLite reads
// the same text with ?n (ToSqlitePlaceholders). User text only ever travels as a parameter.
#include <cctype>
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "store/store_shared.hpp"

namespace kurier::store {

std::string ContactStatusOf(const std::string& reason) {
  if (reason.empty()) return "active";
  if (reason == "unsubscribe") return "unsubscribed";
  if (reason == "complaint") return "complained";
  if (reason == "hard_bounce" || reason == "soft_bounce_limit") return "bounced";
  return "suppressed";
}

std::string ContactStatusSql() {
  // The account's own suppression first ('' sorts before any account name, hence DESC).
  return "CASE COALESCE((SELECT s.reason FROM suppressions s WHERE s.address = c.address AND "
         "(s.account = c.account OR s.account = '') ORDER BY s.account DESC LIMIT 1), '') "
         "WHEN '' THEN 'active' WHEN 'unsubscribe' THEN 'unsubscribed' WHEN 'complaint' THEN 'complained' "
         "WHEN 'hard_bounce' THEN 'bounced' WHEN 'soft_bounce_limit' THEN 'bounced' ELSE 'suppressed' END";
}

std::string ContactColumnsSql(bool postgres) {
  return std::string("c.id, c.account, c.address, c.name, ") + (postgres ? "c.attributes::text" : "c.attributes") +
         ", c.created_at, c.updated_at, " + ContactStatusSql() + " AS status";
}

namespace {

// A LIKE pattern matching `text` anywhere, its own % _ and \ taken literally (ESCAPE '\').
std::string ContainsPattern(const std::string& text) {
  std::string out = "%";
  for (char ch : text) {
    if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "%";
}

}  // namespace

std::vector<std::string> SqlWithArgs::Texts() const {
  std::vector<std::string> out;
  for (const auto& a : args) {
    using K = ContactQuery::Condition::Param::Kind;
    if (a.kind == K::kText) out.push_back(a.text);
    else if (a.kind == K::kInt) out.push_back(std::to_string(a.i));
    else {
      std::ostringstream s;
      s.precision(17);
      s << a.d;
      out.push_back(s.str());
    }
  }
  return out;
}

namespace {

// `sql` with its placeholders $1, $2, ... moved up by `offset`.
std::string Renumbered(const std::string& sql, std::size_t offset) {
  std::string out;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '$' || i + 1 >= sql.size() || !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      out += sql[i];
      continue;
    }
    std::size_t j = i + 1;
    while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
    out += "$" + std::to_string(std::stoul(sql.substr(i + 1, j - i - 1)) + offset);
    i = j - 1;
  }
  return out;
}

}  // namespace

SqlWithArgs ContactQuerySql(const ContactQuery& q, bool count, bool postgres) {
  SqlWithArgs out;
  auto param = [&](const std::string& value) {
    out.args.push_back({ContactQuery::Condition::Param::kText, value});
    return "$" + std::to_string(out.args.size());
  };
  std::string where = "c.account = " + param(q.account);
  if (!count && q.after_id > 0) where += " AND c.id > " + std::to_string(q.after_id);
  if (!q.search.empty()) {
    const std::string like = postgres ? " ILIKE " : " LIKE ";
    const std::string p = param(ContainsPattern(q.search));
    where += " AND (c.address" + like + p + " ESCAPE '\\' OR c.name" + like + p + " ESCAPE '\\')";
  }
  if (!q.list_id.empty())
    where += " AND EXISTS (SELECT 1 FROM list_members m WHERE m.contact_id = c.id AND m.list_id = " + param(q.list_id) + ")";
  if (!q.subscribed_to.empty()) {
    std::string ids;
    for (const auto& id : q.subscribed_to) ids += (ids.empty() ? "" : ", ") + param(id);
    where += " AND EXISTS (SELECT 1 FROM list_members m WHERE m.contact_id = c.id AND m.status = 'subscribed' AND "
             "m.list_id IN (" + ids + "))";
  }
  if (q.where) {
    where += " AND (" + Renumbered(q.where->sql, out.args.size()) + ")";
    out.args.insert(out.args.end(), q.where->params.begin(), q.where->params.end());
  }
  std::string inner = "SELECT " + ContactColumnsSql(postgres) + " FROM contacts c WHERE " + where;
  std::string status_filter = q.status.empty() ? "" : " WHERE x.status = " + param(q.status);
  if (count) {
    out.sql = q.status.empty() ? "SELECT count(*) FROM contacts c WHERE " + where
                               : "SELECT count(*) FROM (" + inner + ") x" + status_filter;
    return out;
  }
  out.sql = "SELECT * FROM (" + inner + ") x" + status_filter + " ORDER BY x.id LIMIT " + std::to_string(q.limit);
  return out;
}

std::string ContactBatchJson(const std::vector<ContactWrite>& contacts, std::size_t* distinct) {
  boost::json::array rows;
  std::map<std::string, std::size_t> at;  // address -> index in rows
  for (const auto& c : contacts) {
    boost::json::value attributes = boost::json::parse(c.attributes.empty() ? "{}" : c.attributes);
    if (!attributes.is_object()) attributes = boost::json::object{};
    auto [it, fresh] = at.emplace(c.address, rows.size());
    if (fresh) {
      rows.push_back(boost::json::object{{"address", c.address}, {"name", c.name}, {"attributes", attributes}});
      continue;
    }
    auto& row = rows[it->second].as_object();
    if (!c.name.empty()) row["name"] = c.name;
    for (const auto& [k, v] : attributes.as_object()) row["attributes"].as_object()[k] = v;
  }
  if (distinct) *distinct = rows.size();
  return boost::json::serialize(rows);
}

std::string ToSqlitePlaceholders(const std::string& sql) {
  std::string out = sql;
  bool quoted = false;
  for (char& ch : out) {
    if (ch == '\'') quoted = !quoted;
    if (ch == '$' && !quoted) ch = '?';
  }
  return out;
}

Result<void> CheckMemberStatus(const std::string& status) {
  if (status == "subscribed" || status == "unconfirmed" || status == "unsubscribed") return {};
  return MakeError(ErrorCode::kInvalidArgument,
                   "membership status '" + status + "' is not known; use subscribed, unconfirmed or unsubscribed");
}

Error ListNotFound(const std::string& account, const std::string& id) {
  return MakeError(ErrorCode::kNotFound, "account " + account + " has no list '" + id +
                                             "'; GET /v1/lists (or `kurier lists list`) shows its lists");
}

Error CampaignNameTaken(const std::string& name) {
  return MakeError(ErrorCode::kAlreadyExists,
                   "a campaign named '" + name + "' already exists in this account; choose another name");
}

Error ListNameTaken(const std::string& name) {
  return MakeError(ErrorCode::kAlreadyExists,
                   "a list named '" + name + "' already exists in this account; choose another name or use that list");
}

}  // namespace kurier::store
