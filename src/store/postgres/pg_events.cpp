// pg_events.cpp - the event log in PostgreSQL (pg_store.hpp): appends with the rules of event_rules.cpp
// (suppressions, the soft-bounce limit, webhook fan-out) in the append's transaction, the node's event
// journal, listings, retention, statistics and suppressions.
// STANDARDS: PostgreSQL 15 json operators (->, ->>, json_array_elements_text, json_typeof).
#include <spdlog/spdlog.h>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/event_rules.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/store_shared.hpp"

namespace kurier::store::postgres {

namespace {

// A JSON array member of data as a set of texts ('[]' when it is missing or not an array).
std::string JsonArray(const char* key) {
  return std::string("json_array_elements_text(CASE WHEN json_typeof(data->'") + key + "') = 'array' THEN data->'" + key +
         "' ELSE '[]'::json END)";
}

// The PostgreSQL side of store::WriteEvents, inside AppendOn's transaction.
class PgEventSink final : public EventSink {
 public:
  explicit PgEventSink(Connection& c) : c_(c) {}
  Result<int64_t> InsertEvent(const Event& e, int64_t time, const std::string& data) override {
    return c_.Exec("INSERT INTO events(time, type, message_id, account, data) VALUES($1, $2, $3, $4, $5) RETURNING id",
                   Args(time, e.type, e.message_id.empty() ? std::optional<std::string>() : e.message_id, e.account, data))
        .Int(0, 0);
  }
  Result<void> InsertSuppression(const Suppression& s) override {
    c_.Exec("INSERT INTO suppressions(account, address, reason, detail, message_id, created_at) VALUES($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT DO NOTHING",
            Args(s.account, s.address, s.reason, s.detail, s.message_id, s.created_at));
    return {};
  }
  Result<std::vector<WebhookTarget>> EnabledWebhooks(const std::string& account) override {
    auto r = c_.Exec("SELECT id, event_types FROM webhooks WHERE account = $1 AND enabled ORDER BY created_at, id",
                     Args(account));
    std::vector<WebhookTarget> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(WebhookTarget{std::string(r.Text(i, 0)), SplitEventTypes(std::string(r.Text(i, 1)))});
    return out;
  }
  Result<void> QueueWebhookDelivery(const std::string& webhook_id, int64_t event_id, int64_t now) override {
    c_.Exec("INSERT INTO webhook_outbox(webhook_id, event_id, next_attempt, created_at) VALUES($1, $2, $3, $3)",
            Args(webhook_id, event_id, now));
    return {};
  }
  Result<int> CountSoftBounces(const std::string& account, const std::string& address, int64_t since) override {
    // "After the last delivery" by id, the order events were recorded in.
    return static_cast<int>(
        c_.Exec("SELECT COUNT(DISTINCT COALESCE(message_id, 'event ' || id)) FROM events "
                "WHERE recipient = $1 AND account = $2 AND type = 'bounced' AND data->>'classification' = 'soft' "
                "AND time >= $3 AND id > COALESCE((SELECT MAX(id) FROM events WHERE recipient = $1 AND account = $2 "
                "AND type = 'delivered'), 0)",
                Args(address, account, since))
            .Int(0, 0));
  }

 private:
  Connection& c_;
};

Suppression SuppressionRow(const pg::Result& r, int i) {
  return Suppression{std::string(r.Text(i, 0)), std::string(r.Text(i, 1)), std::string(r.Text(i, 2)),
                     std::string(r.Text(i, 3)), std::string(r.Text(i, 4)), r.Int(i, 5)};
}

}  // namespace

Result<void> PgStore::AppendOn(Connection& c, const std::vector<Event>& events, const JournalPosition* reached) {
  Transaction tx(c);
  PgEventSink sink(c);
  auto queued = WriteEvents(sink, events, NowMicros(), soft_bounces_);
  if (!queued) return queued.error();
  if (reached)
    c.Exec("INSERT INTO journal_positions(name, generation, position) VALUES($1, $2, $3) "
           "ON CONFLICT(name) DO UPDATE SET generation = excluded.generation, position = excluded.position",
           Args(journal_name_, reached->generation, reached->offset));
  tx.Commit();
  if (*queued > 0 && webhook_listener_) webhook_listener_();
  return {};
}

Result<int> PgStore::WriteEventsOn(Connection& c, const std::vector<Event>& events) {
  PgEventSink sink(c);
  return WriteEvents(sink, events, NowMicros(), soft_bounces_);
}

void PgStore::EventsCommitted(int queued) {
  if (queued > 0 && webhook_listener_) webhook_listener_();
}

Result<void> PgStore::AppendEvents(const std::vector<Event>& events) {
  if (events.empty()) return {};
  return Run("cannot append events", [&](Connection& c) { return AppendOn(c, events, nullptr); });
}

Result<void> PgStore::RecordEvent(const Event& event) {
  return RecordThroughJournal(journal_.get(), event, [&] { return AppendEvents({event}); });
}

Result<void> PgStore::OpenEventJournal(const std::filesystem::path& path, int delay_ms) {
  if (journal_) return MakeError(ErrorCode::kInvalidArgument, "the event journal is open already");
  auto stored = Run("cannot read the event journal's position", [&](Connection& c) -> Result<JournalPosition> {
    auto r = c.Exec("SELECT generation, position FROM journal_positions WHERE name = $1", Args(journal_name_));
    if (r.Rows() == 0) return JournalPosition{};
    return JournalPosition{r.Int(0, 0), r.Int(0, 1)};
  });
  if (!stored) return stored.error();
  EventJournal::Options o;
  o.path = path;
  o.delay_ms = delay_ms;
  auto j = EventJournal::Open(o, stored.value(), [this](const std::vector<Event>& events, const JournalPosition& reached) {
    return Run("cannot import the event journal", [&](Connection& c) { return AppendOn(c, events, &reached); });
  });
  if (!j) return j.error();
  journal_ = std::move(j.value());
  return {};
}

void PgStore::DrainJournal() {
  if (!journal_) return;
  if (auto r = journal_->Drain(); !r) spdlog::error("cannot import the event journal: {}", r.error().message);
}

Result<std::vector<Event>> PgStore::ListEvents(const EventFilter& f) {
  DrainJournal();  // what this node's journal holds is part of the log
  // Only the filters given become conditions, so that the planner picks the index that fits them.
  std::string sql = "SELECT id, time, type, COALESCE(message_id, ''), COALESCE(account, ''), data FROM events WHERE true";
  std::vector<Param> params;
  auto add = [&](const std::string& condition, Param value) {
    params.push_back(std::move(value));
    const std::string n = "$" + std::to_string(params.size());
    std::string c = condition;
    for (std::size_t at; (at = c.find('?')) != std::string::npos;) c.replace(at, 1, n);
    sql += " AND " + c;
  };
  if (!f.type.empty()) add("type = ?", f.type);
  if (!f.message_id.empty()) add("message_id = ?", f.message_id);
  if (!f.account.empty()) add("account = ?", f.account);
  if (f.since) add("time >= ?", Arg(f.since));
  if (f.until) add("time < ?", Arg(f.until));
  if (f.after_id) add("id > ?", Arg(f.after_id));
  if (f.before_id) add("id < ?", Arg(f.before_id));
  if (!f.sender.empty()) add("lower(data->>'mail_from') = lower(?)", f.sender);
  if (!f.recipient.empty())
    add("(recipient = lower(?) OR (type = 'accepted' AND EXISTS(SELECT 1 FROM " + JsonArray("recipients") +
            " v WHERE lower(v) = lower(?))))",
        f.recipient);
  if (!f.tag.empty()) add("EXISTS(SELECT 1 FROM " + JsonArray("tags") + " v WHERE v = ?)", f.tag);
  params.push_back(Arg(f.limit));
  sql += std::string(f.newest_first ? " ORDER BY id DESC" : " ORDER BY id") + " LIMIT $" + std::to_string(params.size());
  return Run("cannot list events", [&](Connection& c) -> Result<std::vector<Event>> {
    auto r = c.Exec(sql, params);
    std::vector<Event> out;
    out.reserve(r.Rows());
    for (int i = 0; i < r.Rows(); ++i)
      out.push_back(Event{r.Int(i, 0), r.Int(i, 1), std::string(r.Text(i, 2)), std::string(r.Text(i, 3)),
                          std::string(r.Text(i, 4)), std::string(r.Text(i, 5))});
    return out;
  });
}

Result<int64_t> PgStore::PurgeEvents(int64_t before) {
  return Run("cannot purge events", [&](Connection& c) -> Result<int64_t> {
    // Outbox rows that are finished go with their age; pending ones keep their event alive.
    c.Exec("DELETE FROM webhook_outbox WHERE state <> 'pending' AND created_at < $1", Args(before));
    return static_cast<int64_t>(
        c.Exec("DELETE FROM events e WHERE time < $1 AND NOT EXISTS(SELECT 1 FROM webhook_outbox o "
               "WHERE o.event_id = e.id AND o.state = 'pending')",
               Args(before))
            .Affected());
  });
}

Result<std::vector<StatsRow>> PgStore::Stats(const StatsQuery& s) {
  DrainJournal();
  // As the SQLite backend counts them: "total" counts recipients (an accepted message counts each of its
  // recipients); "unique" counts each (message, recipient) once.
  return Run("cannot compute statistics", [&](Connection& c) -> Result<std::vector<StatsRow>> {
    auto r = c.Exec(
        "SELECT (time / $1) * $1 AS bucket, type, COALESCE(data->>'classification', '') AS classification, "
        "SUM(CASE WHEN type = 'accepted' AND json_typeof(data->'recipients') = 'array' "
        "THEN json_array_length(data->'recipients') ELSE 1 END), "
        "COUNT(DISTINCT COALESCE(message_id, '') || ' ' || COALESCE(recipient, '')) FROM events "
        "WHERE account = $2 AND time >= $3 AND time < $4 "
        "AND ($5 = '' OR EXISTS(SELECT 1 FROM " + JsonArray("tags") + " v WHERE v = $5)) "
        "AND ($6 = '' OR lower(data->>'mail_from') LIKE '%@' || lower($6)) "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2",
        Args(s.bucket, s.account, s.from, s.to, s.tag, s.domain));
    std::vector<StatsRow> out;
    for (int i = 0; i < r.Rows(); ++i)
      out.push_back(StatsRow{r.Int(i, 0), std::string(r.Text(i, 1)), r.Int(i, 3), r.Int(i, 4), std::string(r.Text(i, 2))});
    return out;
  });
}

Result<bool> PgStore::AddSuppression(const Suppression& s) {
  return Run("cannot add a suppression", [&](Connection& c) -> Result<bool> {
    return c.Exec("INSERT INTO suppressions(account, address, reason, detail, message_id, created_at) "
                  "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                  Args(s.account, ToLowerAscii(s.address), s.reason, s.detail, s.message_id,
                       s.created_at ? s.created_at : NowMicros()))
               .Affected() > 0;
  });
}

Result<bool> PgStore::RemoveSuppression(const std::string& account, const std::string& address) {
  return Run("cannot remove a suppression", [&](Connection& c) -> Result<bool> {
    return c.Exec("DELETE FROM suppressions WHERE account = $1 AND address = $2", Args(account, ToLowerAscii(address)))
               .Affected() > 0;
  });
}

Result<std::vector<Suppression>> PgStore::ListSuppressions(const std::string& account, const std::string& after,
                                                          std::size_t limit) {
  return Run("cannot list suppressions", [&](Connection& c) -> Result<std::vector<Suppression>> {
    auto r = c.Exec("SELECT account, address, reason, detail, message_id, created_at FROM suppressions "
                    "WHERE account = $1 AND address > $2 ORDER BY address LIMIT $3",
                    Args(account, ToLowerAscii(after), limit));
    std::vector<Suppression> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(SuppressionRow(r, i));
    return out;
  });
}

Result<std::vector<Suppression>> PgStore::FindSuppressions(const std::string& account,
                                                          const std::vector<std::string>& addresses) {
  std::vector<Suppression> out;
  if (addresses.empty()) return out;
  // One address (most SMTP messages) is a plain index lookup; a list (a batch send) is one statement with
  // the addresses as a JSON array. An address on both lists is reported with the account's entry.
  const bool one = addresses.size() == 1;
  return Run("cannot read suppressions", [&](Connection& c) -> Result<std::vector<Suppression>> {
    auto r = c.Exec(one ? "SELECT account, address, reason, detail, message_id, created_at FROM suppressions "
                          "WHERE address = $1 AND (account = $2 OR account = '') ORDER BY account DESC"
                        : "SELECT account, address, reason, detail, message_id, created_at FROM suppressions "
                          "WHERE address IN (SELECT json_array_elements_text($1::json)) AND (account = $2 OR account = '') "
                          "ORDER BY address, account DESC",
                    Args(one ? ToLowerAscii(addresses.front()) : AddressesAsJson(addresses), account));
    for (int i = 0; i < r.Rows(); ++i)
      if (out.empty() || out.back().address != r.Text(i, 1)) out.push_back(SuppressionRow(r, i));
    return out;
  });
}

}  // namespace kurier::store::postgres
