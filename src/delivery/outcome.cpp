// outcome.cpp - delivery outcome handling (moved out of delivery_manager.cpp): retries, expiry, bounces,
// DSNs, the suppression check at delivery, delivery events.
// STANDARDS: RFC 5321 (4.5.4.1 retry strategy, 4.5.5 null reverse-path of notifications, 6.1 reliable
// delivery), RFC 3464 (DSN), RFC 3463 (status codes).
#include "delivery/outcome.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "bounce/classify.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "delivery/providers.hpp"
#include "delivery/retry_policy.hpp"
#include "metrics/metrics.hpp"

namespace kurier::delivery {

using smtp::proto::Outcome;

Decision Decide(const QueuePolicy& queue, const Job& job, const std::vector<smtp::proto::RecipientResult>& results,
                const std::string& mx, const std::string& tls, const std::vector<std::string>& dkim_selectors,
                int64_t now, std::mt19937& rng) {
  Decision out;
  out.retry = job;
  out.retry.rcpts.clear();
  out.retry.message.reset();
  for (size_t i = 0; i < job.rcpts.size(); ++i) {
    const auto& rc = job.rcpts[i];
    const auto& res = results[i];
    int attempts = rc.attempts + 1;
    std::string reply = res.reply.ToString();
    Outcome outcome = res.outcome;
    std::string type = outcome == Outcome::kDelivered ? "delivered" : outcome == Outcome::kBounced ? "bounced" : "deferred";
    bool expired = outcome == Outcome::kDeferred && Expired(queue, job.received_at, now);
    if (expired) {
      type = "bounced";
      reply = "expired after " + std::to_string(queue.max_lifetime) + " s in the queue; last reply: " + reply;
    }
    boost::json::object data{{"recipient", rc.address}, {"reply", reply}, {"mx", mx}, {"attempt", attempts}, {"tls", tls}};
    if (res.reply.local) data["local"] = true;  // kurier's own reply (no route, no answer), not the server's
    if (!dkim_selectors.empty()) {
      boost::json::array sels;
      for (const auto& sel : dkim_selectors) sels.emplace_back(sel);
      data["dkim"] = std::move(sels);
    }
    spool::RecipientUpdate u{job.message_id, rc.idx, type == "deferred" ? "queued" : type, attempts, 0, reply};
    if (type == "bounced") {
      // The reason vocabulary and hard/soft split are the bounce parser's, so synchronous replies and
      // bounces that come back later are counted alike; an expired recipient is a soft failure.
      const auto at = rc.address.rfind('@');
      const std::string hosts =
          ToLowerAscii((at == std::string::npos ? std::string() : rc.address.substr(at + 1)) + " " + mx);
      auto c = bounce::ClassifyReply(res.reply.code, res.reply.enhanced, res.reply.ToString(), res.command, hosts);
      data["classification"] = expired || !c.hard ? "soft" : "hard";
      data["reason"] = expired ? "expired" : c.reason;
      // Which step of the classifier decided (bounce::Classification::rule), kept for `kurier bounce parse`
      // and the suppression's detail; "" when none says.
      data["rule"] = expired ? "queue.max_lifetime reached (RFC 5321 4.5.4.1)" : c.rule;
      out.failed.push_back(DsnRecipient{rc.address, res.reply.enhanced.empty() ? (expired ? "4.4.7" : "5.0.0") : res.reply.enhanced,
                                        res.reply.ToString(), res.local || res.reply.local ? "" : mx, expired,
                                        res.reply.local});
    }
    if (type == "deferred") {
      u.next_attempt = now + RetryDelayMicros(queue, attempts, rng);
      out.retry_due = out.retry_due == 0 ? u.next_attempt : std::min(out.retry_due, u.next_attempt);
      data["next_attempt"] = FormatTimeUtc(u.next_attempt);
      out.retry.rcpts.push_back(Job::Rcpt{rc.idx, rc.address, attempts});
    }
    spdlog::info("{} {} to=<{}> mx={} {}", job.message_id, type, rc.address, mx.empty() ? "-" : mx, reply);
    metrics::Registry::Global().Add("kurier_deliveries_total", {{"result", type}, {"provider", std::string(ProviderOfMx(mx))}});
    out.updates.push_back(std::move(u));
    out.events.push_back(store::Event{0, now, type, job.message_id, "", boost::json::serialize(data)});
  }
  return out;
}

SuppressionSplit SplitSuppressed(const Job& job, const std::vector<store::Suppression>& found, int64_t now) {
  SuppressionSplit out;
  std::map<std::string, const store::Suppression*> gone;  // by lower-cased address
  for (const auto& s : found) gone.emplace(s.address, &s);
  for (const auto& r : job.rcpts) {
    auto it = gone.find(ToLowerAscii(r.address));
    if (it == gone.end()) {
      out.left.push_back(r);
      continue;
    }
    const store::Suppression* s = it->second;
    spdlog::info("{} suppressed to=<{}> ({})", job.message_id, r.address, s->reason);
    out.updates.push_back(spool::RecipientUpdate{job.message_id, r.idx, "suppressed", r.attempts, 0,
                                                 "not attempted: the address is suppressed (" + s->reason + ")"});
    boost::json::object data{{"recipient", r.address}, {"reason", s->reason}, {"suppressed_at", FormatTimeUtc(s->created_at)},
                             {"scope", s->account.empty() ? "global" : "account"}};
    out.events.push_back(store::Event{0, now, "suppressed", job.message_id, "", boost::json::serialize(data)});
  }
  return out;
}

std::pair<spool::SpoolMessage, store::Event> MakeDsn(const std::string& hostname, const std::string& queue_id,
                                                     const spool::SpoolMessage& original,
                                                     const std::vector<DsnRecipient>& failed, int64_t now) {
  DsnInput in;
  in.reporting_mta = hostname;
  in.queue_id = queue_id;
  in.original_sender = original.mail_from;
  in.arrival = original.received_at;
  in.recipients = failed;
  in.original_message = original.data;
  spool::SpoolMessage dsn;
  dsn.id = NewQueueId();
  dsn.received_at = now;
  dsn.account = original.account;
  dsn.client_ip = "127.0.0.1";
  dsn.helo = hostname;
  dsn.mail_from = "";  // RFC 5321 4.5.5: notifications use the null reverse-path
  dsn.recipients = {original.mail_from};
  dsn.data = BuildDsn(in, "kurier-dsn-" + dsn.id, dsn.received_at);
  dsn.body_type = IsAscii(dsn.data) ? "7BIT" : "8BITMIME";
  dsn.size = dsn.data.size();
  boost::json::array rcpts;
  for (const auto& f : failed) rcpts.emplace_back(f.address);
  store::Event event{0, dsn.received_at, "dsn", queue_id, original.account,
                     boost::json::serialize(boost::json::object{{"to", original.mail_from}, {"dsn_id", dsn.id}, {"recipients", rcpts}})};
  return {std::move(dsn), std::move(event)};
}

Outcomes::Outcomes(const Config& config, store::Store& store, spool::Spool& spool, Clock clock)
    : config_(config), store_(store), spool_(spool), now_(std::move(clock)), rng_(std::random_device{}()) {}

std::optional<Outcomes::Retry> Outcomes::Record(const Job& job, const std::vector<smtp::proto::RecipientResult>& results,
                                                const std::string& mx, const std::string& tls,
                                                const spool::SpoolMessage* message,
                                                const std::vector<std::string>& dkim_selectors) {
  Decision d = Decide(config_.queue, job, results, mx, tls, dkim_selectors, now_(), rng_);
  // The DSN is built before the update is queued: once committed, a message whose recipients are
  // all final leaves the spool.
  if (!d.failed.empty()) SendDsn(job, d.failed, message, d.events);
  spool_.Update(std::move(d.updates), std::move(d.events));
  if (d.retry.rcpts.empty()) return std::nullopt;
  return Retry{d.retry_due, std::move(d.retry)};
}

std::optional<Outcomes::Retry> Outcomes::FailAll(const Job& job, const smtp::proto::ServerReply& r, const std::string& mx) {
  std::vector<smtp::proto::RecipientResult> results(job.rcpts.size(),
                                                    smtp::proto::RecipientResult{smtp::proto::OutcomeOf(r), r, true});
  return Record(job, results, mx, "", nullptr);
}

// Recipients on the account's (or the global) suppression list are not attempted: each becomes final
// as "suppressed" with its event. Mail submitted over SMTP meets the list here; the HTTP API checks it
// already when accepting, and this also covers addresses suppressed while a message waited. Returns
// false when no recipient is left.
bool Outcomes::DropSuppressed(Job& job, const spool::SpoolMessage& message) {
  std::vector<std::string> addresses;
  for (const auto& r : job.rcpts) addresses.push_back(r.address);
  auto found = store_.FindSuppressions(message.account, addresses);
  if (!found) {
    spdlog::error("delivery: cannot read suppressions ({}); sending {} anyway", found.error().message, job.message_id);
    return true;
  }
  if (found->empty()) return true;
  SuppressionSplit split = SplitSuppressed(job, found.value(), now_());
  job.rcpts = std::move(split.left);
  spool_.Update(std::move(split.updates), std::move(split.events));
  return !job.rcpts.empty();
}

// RFC 3464 report to the envelope sender: never for the null sender (a DSN never causes another),
// and only when the account wants them.
void Outcomes::SendDsn(const Job& job, const std::vector<DsnRecipient>& failed, const spool::SpoolMessage* message,
                       std::vector<store::Event>& events) {
  std::optional<spool::SpoolMessage> loaded;
  if (!message) {
    auto m = spool_.Get(job.message_id);
    if (!m || !*m) return;
    loaded = std::move(**m);
    message = &*loaded;
  }
  if (message->mail_from.empty()) return;
  auto account = store_.FindAccount(message->account);
  if (account && *account && !(*account)->send_dsn) return;
  auto [dsn, event] = MakeDsn(config_.hostname, job.message_id, *message, failed, now_());
  events.push_back(std::move(event));
  std::string id = dsn.id;
  spool_.Submit(std::move(dsn), [id](Result<std::string> r) {
    if (!r) spdlog::error("DSN {} could not be queued: {}", id, r.error().message);
  });
}

}  // namespace kurier::delivery
