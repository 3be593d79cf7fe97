// events_api.cpp - the event log and statistics over the HTTP API: GET /v1/events (filters and a
// cursor) and GET /v1/stats (counts and rates per hour or day). Events are shown in the flat shape of
// events/event_json.hpp, the one the webhook payloads carry, so a consumer sees one shape everywhere.
//
// SECURITY: read scope; a key sees only its own account's events (an admin key may name another with
// ?account=). Query parameters are bounded (limit <= 1000, at most 2000 buckets).
// STANDARDS: RFC 3339 (times), RFC 9457 (problem details), Standard Webhooks (payload envelope).
#include <boost/json.hpp>
#include <cstdint>

#include "api/api_service.hpp"
#include "api/json_body.hpp"
#include "api/list_query.hpp"
#include "api/router.hpp"
#include "common/ids.hpp"
#include "events/event_json.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

// A key acts on its own account; an admin key may name another with ?account=.
std::optional<std::string> AccountOf(const HttpRequest& req, const RouteContext& rc, FieldErrors& err) {
  auto it = req.query.find("account");
  if (it == req.query.end() || it->second == rc.who.account) return rc.who.account;
  if (!rc.who.Has(Scope::kAdmin)) {
    err.Add("/query/account", "only an admin key may read another account");
    return std::nullopt;
  }
  return it->second;
}

void HandleEvents(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  store::EventFilter f;
  f.newest_first = true;
  f.limit = 100;
  auto account = AccountOf(req, rc, err);
  ListQuerySpec spec;
  spec.order = true;
  spec.text = {{"message_id", &store::EventFilter::message_id},
               {"recipient", &store::EventFilter::recipient},
               {"tag", &store::EventFilter::tag}};
  spec.other = [&f](const std::string& k, const std::string& v, FieldErrors& e) {
    if (k == "account") return true;  // read by AccountOf
    if (k != "type") return false;
    if (!events::IsEventType(v)) e.Add("/query/type", "unknown event type '" + v + "'; use one of " + events::EventTypesText());
    f.type = v;
    return true;
  };
  spec.unknown = "unknown filter; use type, message_id, recipient, tag, from, to, order, limit, cursor";
  ParseListQuery(req.query, spec, f, err);
  if (!err.empty()) return reply(Invalid(err));
  f.account = *account;
  auto evs = ctx.store.ListEvents(f);
  if (!evs) return reply(Problem(503, "Unavailable", "cannot read events: " + evs.error().message + "; retry"));
  json::array items;
  for (const auto& e : evs.value()) items.push_back(events::EventObject(e, events::EventShape::kFlat));
  json::object res{{"data", std::move(items)}};
  auto next = NextCursor(*evs, f);
  res["next_cursor"] = next ? json::value(*next) : json::value(nullptr);
  reply(Json(200, json::serialize(res)));
}

double Rate(int64_t part, int64_t whole) { return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0; }

struct Counts {
  int64_t accepted = 0, delivered = 0, deferred = 0, bounced_hard = 0, bounced_soft = 0, opened = 0, opened_unique = 0,
          clicked = 0, clicked_unique = 0, complained = 0, unsubscribed = 0, suppressed = 0;
  void Add(const store::StatsRow& r) {
    if (r.type == "accepted") accepted += r.total;
    else if (r.type == "delivered") delivered += r.total;
    else if (r.type == "deferred") deferred += r.total;
    else if (r.type == "bounced") (r.classification == "hard" ? bounced_hard : bounced_soft) += r.total;
    else if (r.type == "opened") opened += r.total, opened_unique += r.unique;
    else if (r.type == "clicked") clicked += r.total, clicked_unique += r.unique;
    else if (r.type == "complained") complained += r.total;
    else if (r.type == "unsubscribed") unsubscribed += r.total;
    else if (r.type == "suppressed") suppressed += r.total;
  }
  json::object Json(bool rates) const {
    json::object o{{"sent", accepted},
                   {"delivered", delivered},
                   {"deferred", deferred},
                   {"bounced", json::object{{"total", bounced_hard + bounced_soft}, {"hard", bounced_hard}, {"soft", bounced_soft}}},
                   {"opened", json::object{{"total", opened}, {"unique", opened_unique}}},
                   {"clicked", json::object{{"total", clicked}, {"unique", clicked_unique}}},
                   {"complained", complained},
                   {"unsubscribed", unsubscribed},
                   {"suppressed", suppressed}};
    if (rates) {
      o["rates"] = json::object{{"delivery", Rate(delivered, accepted)},
                                {"bounce", Rate(bounced_hard + bounced_soft, accepted)},
                                {"open", Rate(opened_unique, delivered)},
                                {"click", Rate(clicked_unique, delivered)},
                                {"complaint", Rate(complained, delivered)},
                                {"unsubscribe", Rate(unsubscribed, delivered)}};
    }
    return o;
  }
};

void HandleStats(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  store::StatsQuery q;
  auto account = AccountOf(req, rc, err);
  std::string by = "day";
  int64_t from = 0, to = 0;
  for (const auto& [k, v] : req.query) {
    if (k == "account") {
    } else if (k == "from" || k == "to") {
      ReadTimeParameter(k, v, k == "from" ? from : to, err);
    } else if (k == "by") {
      if (v != "hour" && v != "day") err.Add("/query/by", "must be hour or day");
      by = v;
    } else if (k == "tag") {
      q.tag = v;
    } else if (k == "domain") {
      q.domain = v;
    } else {
      err.Add("/query/" + PointerToken(k), "unknown parameter; use from, to, by, tag, domain");
    }
  }
  q.bucket = (by == "hour" ? 3600LL : 86400LL) * 1'000'000;
  if (to == 0) to = NowMicros();
  if (from == 0) from = to - (by == "hour" ? 24 : 30) * q.bucket;
  from -= ((from % q.bucket) + q.bucket) % q.bucket;  // whole buckets, UTC
  if (from >= to) err.Add("/query/from", "must be before to");
  else if ((to - from) / q.bucket > 2000)
    err.Add("/query/from", "the range holds more than 2000 buckets; use by=day or a shorter range");
  if (!err.empty()) return reply(Invalid(err));
  q.account = *account;
  q.from = from;
  q.to = to;
  auto rows = ctx.store.Stats(q);
  if (!rows) return reply(Problem(503, "Unavailable", "cannot compute statistics: " + rows.error().message + "; retry"));
  std::map<int64_t, Counts> buckets;
  Counts total;
  for (const auto& r : rows.value()) {
    buckets[r.bucket].Add(r);
    total.Add(r);
  }
  json::array out;
  for (int64_t b = from; b < to; b += q.bucket) {
    json::object o = buckets[b].Json(false);
    o["start"] = FormatTimeUtc(b);
    out.push_back(std::move(o));
  }
  json::object res{{"from", FormatTimeUtc(from)}, {"to", FormatTimeUtc(to)}, {"by", by}, {"totals", total.Json(true)},
                   {"buckets", std::move(out)}};
  reply(Json(200, JsonText(res)));
}

}  // namespace

void AddEventRoutes(Router& router, std::shared_ptr<ApiContext> ctx) {
  router.Add(Route{"GET", "/v1/events", Scope::kRead,
                   [ctx](const HttpRequest& q, const RouteContext& rc, Reply r) { HandleEvents(*ctx, q, rc, std::move(r)); }});
  router.Add(Route{"GET", "/v1/stats", Scope::kRead,
                   [ctx](const HttpRequest& q, const RouteContext& rc, Reply r) { HandleStats(*ctx, q, rc, std::move(r)); }});
}

}  // namespace kurier::api
