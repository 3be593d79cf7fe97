// pg_webhooks.cpp - webhook endpoints and their durable outbox in PostgreSQL (pg_store.hpp).
// SECURITY: secrets are stored sealed with the server key and opened when read (store_shared.hpp).
#include "common/ids.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/store_shared.hpp"

namespace kurier::store::postgres {

namespace {

constexpr const char* kWebhookColumns =
    "w.id, w.account, w.url, w.event_types, w.description, w.secret, w.previous_secret, w.previous_secret_expires, "
    "w.enabled, w.disabled_reason, w.created_at";

}  // namespace

Webhook PgStore::ReadWebhook(const pg::Result& r, int i, int at) const {
  Webhook w;
  w.id = r.Text(i, at + 0);
  w.account = r.Text(i, at + 1);
  w.url = r.Text(i, at + 2);
  w.event_types = SplitEventTypes(std::string(r.Text(i, at + 3)));
  w.description = r.Text(i, at + 4);
  w.secret = r.Text(i, at + 5);
  w.previous_secret = r.Text(i, at + 6);
  w.previous_secret_expires = r.Int(i, at + 7);
  w.enabled = Bool(r, i, at + 8);
  w.disabled_reason = r.Text(i, at + 9);
  w.created_at = r.Int(i, at + 10);
  OpenWebhookSecrets(w, box_);
  return w;
}

Result<Webhook> PgStore::CreateWebhook(const Webhook& in) {
  Webhook w = in;
  w.id = "wh_" + NewQueueId();
  w.created_at = NowMicros();
  auto sealed = SealWebhookSecrets(w, box_);
  if (!sealed) return sealed.error();
  return Run("cannot create a webhook", [&](Connection& c) -> Result<Webhook> {
    c.Exec("INSERT INTO webhooks(id, account, url, event_types, description, secret, previous_secret, "
           "previous_secret_expires, enabled, created_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
           Args(w.id, w.account, w.url, JoinEventTypes(w.event_types), w.description, sealed->first, sealed->second,
                w.previous_secret_expires, w.enabled, w.created_at));
    return w;
  });
}

Result<std::vector<Webhook>> PgStore::ListWebhooks(const std::string& account) {
  return Run("cannot list webhooks", [&](Connection& c) -> Result<std::vector<Webhook>> {
    auto r = c.Exec(std::string("SELECT ") + kWebhookColumns + " FROM webhooks w WHERE account = $1 ORDER BY id COLLATE \"C\"", Args(account));
    std::vector<Webhook> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(ReadWebhook(r, i, 0));
    return out;
  });
}

Result<std::optional<Webhook>> PgStore::FindWebhook(const std::string& account, const std::string& id) {
  return Run("cannot read webhooks", [&](Connection& c) -> Result<std::optional<Webhook>> {
    auto r = c.Exec(std::string("SELECT ") + kWebhookColumns + " FROM webhooks w WHERE account = $1 AND id = $2",
                    Args(account, id));
    if (r.Rows() == 0) return std::optional<Webhook>();
    return std::optional<Webhook>(ReadWebhook(r, 0, 0));
  });
}

Result<void> PgStore::UpdateWebhook(const Webhook& w) {
  // A webhook read with undecryptable secrets (secret_error) keeps what is stored until it is given a
  // new secret: an edit of its URL must not replace them with empty ones.
  const bool keep_secrets = !w.secret_error.empty() && w.secret.empty();
  std::pair<std::string, std::string> sealed;
  if (!keep_secrets) {
    auto s = SealWebhookSecrets(w, box_);
    if (!s) return s.error();
    sealed = std::move(s.value());
  }
  return Run("cannot update a webhook", [&](Connection& c) -> Result<void> {
    if (c.Exec("UPDATE webhooks SET url = $1, event_types = $2, description = $3, enabled = $4, "
               "disabled_reason = CASE WHEN $4 THEN '' ELSE disabled_reason END, "
               "secret = CASE WHEN $10 THEN secret ELSE $5 END, "
               "previous_secret = CASE WHEN $10 THEN previous_secret ELSE $6 END, "
               "previous_secret_expires = CASE WHEN $10 THEN previous_secret_expires ELSE $7::bigint END "
               "WHERE account = $8 AND id = $9",
               Args(w.url, JoinEventTypes(w.event_types), w.description, w.enabled, sealed.first, sealed.second,
                    w.previous_secret_expires, w.account, w.id, keep_secrets))
            .Affected() == 0)
      return MakeError(ErrorCode::kNotFound, "no webhook " + w.id);
    return {};
  });
}

Result<void> PgStore::DeleteWebhook(const std::string& account, const std::string& id) {
  return Run("cannot delete a webhook", [&](Connection& c) -> Result<void> {
    // Its outbox rows go with it (ON DELETE CASCADE).
    if (c.Exec("DELETE FROM webhooks WHERE account = $1 AND id = $2", Args(account, id)).Affected() == 0)
      return MakeError(ErrorCode::kNotFound, "no webhook " + id);
    return {};
  });
}

Result<void> PgStore::DisableWebhook(const std::string& id, const std::string& reason) {
  return Run("cannot disable a webhook", [&](Connection& c) -> Result<void> {
    Transaction tx(c);
    c.Exec("UPDATE webhooks SET enabled = false, disabled_reason = $1 WHERE id = $2", Args(reason, id));
    // What was waiting for it is not sent: the endpoint said it is gone.
    c.Exec("UPDATE webhook_outbox SET state = 'dropped', last_error = $1 WHERE webhook_id = $2 AND state = 'pending'",
           Args("webhook disabled: " + reason, id));
    tx.Commit();
    return {};
  });
}

Result<std::vector<WebhookDelivery>> PgStore::DueWebhookDeliveries(int64_t now, std::size_t limit) {
  // Several nodes share the outbox: the rows handed out are claimed (store.hpp), SKIP LOCKED leaving the
  // rows another node is claiming to it. A node that stops mid-send leaves its rows to be sent by another
  // once the claim lapses.
  return Run("cannot read the webhook outbox", [&](Connection& c) -> Result<std::vector<WebhookDelivery>> {
    auto r = c.Exec(std::string("WITH due AS (SELECT o.id FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
                                "WHERE o.state = 'pending' AND o.next_attempt <= $1 AND w.enabled "
                                "ORDER BY o.next_attempt, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED), "
                                "claimed AS (UPDATE webhook_outbox o SET next_attempt = $3 FROM due WHERE o.id = due.id "
                                "RETURNING o.id, o.attempts, o.created_at, o.webhook_id, o.event_id) "
                                "SELECT o.id, o.attempts, o.created_at, e.id, e.time, e.type, COALESCE(e.message_id, ''), "
                                "COALESCE(e.account, ''), e.data, ") +
                        kWebhookColumns +
                        " FROM claimed o JOIN webhooks w ON w.id = o.webhook_id JOIN events e ON e.id = o.event_id "
                        "ORDER BY o.id",
                    Args(now, limit, now + kWebhookClaimMicros));
    std::vector<WebhookDelivery> out;
    for (int i = 0; i < r.Rows(); ++i) {
      WebhookDelivery d;
      d.id = r.Int(i, 0);
      d.attempts = static_cast<int>(r.Int(i, 1));
      d.created_at = r.Int(i, 2);
      d.event = Event{r.Int(i, 3), r.Int(i, 4), std::string(r.Text(i, 5)), std::string(r.Text(i, 6)),
                      std::string(r.Text(i, 7)), std::string(r.Text(i, 8))};
      d.webhook = ReadWebhook(r, i, 9);
      out.push_back(std::move(d));
    }
    return out;
  });
}

Result<int64_t> PgStore::NextWebhookDue() {
  return Run("cannot read the webhook outbox", [&](Connection& c) -> Result<int64_t> {
    return static_cast<int64_t>(c.Exec("SELECT COALESCE(MIN(o.next_attempt), 0) FROM webhook_outbox o "
                                       "JOIN webhooks w ON w.id = o.webhook_id WHERE o.state = 'pending' AND w.enabled")
                                    .Int(0, 0));
  });
}

Result<void> PgStore::FinishWebhookAttempt(int64_t id, const WebhookAttempt& a) {
  const char* state = a.delivered ? "delivered" : a.next_attempt ? "pending" : "failed";
  return Run("cannot update the webhook outbox", [&](Connection& c) -> Result<void> {
    c.Exec("UPDATE webhook_outbox SET attempts = attempts + 1, state = $1, next_attempt = $2, last_status = $3, "
           "last_error = $4 WHERE id = $5",
           Args(state, a.next_attempt, a.status, a.error, id));
    return {};
  });
}

Result<std::vector<Store::OutboxRow>> PgStore::ListWebhookDeliveries(const std::string& webhook_id, std::size_t limit) {
  return Run("cannot list webhook deliveries", [&](Connection& c) -> Result<std::vector<OutboxRow>> {
    auto r = c.Exec("SELECT o.id, o.event_id, COALESCE(e.type, ''), o.state, o.attempts, o.last_status, o.last_error, "
                    "o.created_at, o.next_attempt FROM webhook_outbox o LEFT JOIN events e ON e.id = o.event_id "
                    "WHERE o.webhook_id = $1 ORDER BY o.id DESC LIMIT $2",
                    Args(webhook_id, limit));
    std::vector<OutboxRow> out;
    for (int i = 0; i < r.Rows(); ++i)
      out.push_back(OutboxRow{r.Int(i, 0), r.Int(i, 1), std::string(r.Text(i, 2)), std::string(r.Text(i, 3)),
                              static_cast<int>(r.Int(i, 4)), static_cast<int>(r.Int(i, 5)), std::string(r.Text(i, 6)),
                              r.Int(i, 7), r.Int(i, 8)});
    return out;
  });
}

Result<int64_t> PgStore::WebhookBacklog() {
  return Run("cannot read the webhook outbox", [&](Connection& c) -> Result<int64_t> {
    return static_cast<int64_t>(c.Exec("SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'").Int(0, 0));
  });
}

}  // namespace kurier::store::postgres
