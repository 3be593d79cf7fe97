// campaign_runner.cpp - sends campaigns over time, exactly once per contact (campaigns.hpp).
// STANDARDS: RFC 8058 (one-click List-Unsubscribe on every campaign message unless turned off),
// RFC 5322 (the messages), RFC 2369 (List-Unsubscribe).
#include <algorithm>
#include <cmath>
#include <future>
#include <set>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "api/api_service.hpp"
#include "api/campaigns.hpp"
#include "audience/segment.hpp"
#include "common/ids.hpp"
#include "ingress/ingress.hpp"
#include "spool/spool.hpp"
#include "spool/spool_storage.hpp"
#include "store/store.hpp"
#include "store/store_shared.hpp"
#include "templates/templates.hpp"

namespace kurier::api {

namespace json = boost::json;

std::string CampaignSpecJson(const CampaignSpec& s) {
  json::array lists;
  for (const auto& l : s.lists) lists.emplace_back(l);
  return json::serialize(json::object{{"from", json::object{{"email", s.from.email}, {"name", s.from.name}}},
                                      {"subject", s.subject},
                                      {"template", s.template_ref},
                                      {"template_version", s.template_version},
                                      {"audience", json::object{{"lists", std::move(lists)}, {"segment", s.segment}}},
                                      {"tags", json::parse(s.tags)},
                                      {"track_opens", s.track_opens},
                                      {"track_clicks", s.track_clicks},
                                      {"list_unsubscribe", s.list_unsubscribe},
                                      {"spread_hours", s.spread_hours},
                                      {"max_per_hour", s.max_per_hour},
                                      {"variables", s.variables}});
}

Result<CampaignSpec> ReadCampaignSpec(const std::string& text) {
  try {
    const json::object o = json::parse(text).as_object();
    CampaignSpec s;
    s.from.email = std::string(o.at("from").at("email").as_string());
    s.from.name = std::string(o.at("from").at("name").as_string());
    s.subject = std::string(o.at("subject").as_string());
    s.template_ref = std::string(o.at("template").as_string());
    s.template_version = static_cast<int>(o.at("template_version").to_number<int64_t>());
    for (const auto& l : o.at("audience").at("lists").as_array()) s.lists.emplace_back(l.as_string());
    s.segment = std::string(o.at("audience").at("segment").as_string());
    s.tags = json::serialize(o.at("tags"));
    s.track_opens = o.at("track_opens").as_bool();
    s.track_clicks = o.at("track_clicks").as_bool();
    s.list_unsubscribe = o.at("list_unsubscribe").as_bool();
    s.spread_hours = o.at("spread_hours").to_number<double>();
    s.max_per_hour = o.at("max_per_hour").to_number<int64_t>();
    s.variables = o.at("variables").as_object();
    return s;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("the stored campaign cannot be read (") + e.what() + ")");
  }
}

int64_t CampaignAllowance(const store::Campaign& k, const CampaignSpec& spec, int64_t now) {
  const double elapsed_hours = std::max<int64_t>(0, now - k.started_at) / 3.6e9;
  int64_t allowed = INT64_MAX / 4;
  // Spread evenly over the window; once it has passed, whatever is left (contacts added since) goes too.
  if (spec.spread_hours > 0 && elapsed_hours < spec.spread_hours)
    allowed = static_cast<int64_t>(std::ceil(static_cast<double>(k.targeted) * std::min(1.0, elapsed_hours / spec.spread_hours)));
  // The first message goes at once; then max_per_hour an hour, evenly.
  if (spec.max_per_hour > 0)
    allowed = std::min(allowed, 1 + static_cast<int64_t>(std::floor(static_cast<double>(spec.max_per_hour) * elapsed_hours)));
  return allowed;
}

Result<store::ContactQuery::Condition> CompileAudienceSegment(ApiContext& ctx, const std::string& query, int64_t now) {
  auto seg = audience::ParseSegment(query);
  if (!seg) return seg.error();
  audience::CompileOptions opt;
  opt.dialect = ctx.config.store_backend == "postgresql" ? audience::Dialect::kPostgres : audience::Dialect::kSqlite;
  opt.now = now;
  opt.status_sql = store::ContactStatusSql();
  opt.resolve_segment = [](const std::string& name) -> Result<std::string> {
    return MakeError(ErrorCode::kInvalidArgument, "in_segment(\"" + name + "\"): saved segments are not stored yet; "
                                                  "write the segment's query in place of it");
  };
  auto compiled = audience::CompileSegment(*seg, opt);
  if (!compiled) return compiled.error();
  store::ContactQuery::Condition c;
  c.sql = std::move(compiled->sql);
  for (auto& p : compiled->params)
    c.params.push_back({static_cast<store::ContactQuery::Condition::Param::Kind>(p.kind), std::move(p.text), p.i, p.d});
  return c;
}

Result<store::ContactQuery> AudienceQuery(ApiContext& ctx, const std::string& account, const CampaignSpec& spec, int64_t now) {
  store::ContactQuery q;
  q.account = account;
  q.status = "active";
  q.subscribed_to = spec.lists;
  if (!spec.segment.empty()) {
    auto where = CompileAudienceSegment(ctx, spec.segment, now);
    if (!where) return where.error();
    q.where = std::move(where.value());
  }
  return q;
}

void RecordCampaignEvent(ApiContext& ctx, const store::Campaign& k, const std::string& type, json::object extra) {
  extra["campaign"] = k.id;
  extra["name"] = k.name;
  extra["state"] = k.state;
  if (auto r = ctx.store.AppendEvents({store::Event{0, NowMicros(), type, "", k.account, json::serialize(extra)}}); !r)
    spdlog::warn("campaign {}: the {} event was not recorded: {}", k.id, type, r.error().message);
}

namespace {

// The template of a campaign, parsed once per batch.
struct Parts {
  std::optional<templates::Template> subject, text, html;
};

Result<Parts> ParseParts(const TemplateContent& tpl, const CampaignSpec& spec) {
  Parts p;
  auto one = [](const std::string& src, std::optional<templates::Template>& dst) -> Result<void> {
    if (src.empty()) return {};
    auto t = templates::Template::Parse(src);
    if (!t) return t.error();
    dst.emplace(std::move(t.value()));
    return {};
  };
  if (auto r = one(spec.subject.empty() ? tpl.subject : spec.subject, p.subject); !r) return r.error();
  if (auto r = one(tpl.text, p.text); !r) return r.error();
  if (auto r = one(tpl.html, p.html); !r) return r.error();
  return p;
}

// The variables of one contact: the campaign's defaults, then its attributes, then email and name.
json::value VariablesOf(const CampaignSpec& spec, const store::Contact& c) {
  json::object v = spec.variables;
  json::value attrs;
  try {
    attrs = json::parse(c.attributes);
  } catch (const std::exception&) {
  }
  if (attrs.is_object())
    for (const auto& [k, val] : attrs.as_object()) v[k] = val;
  v["email"] = c.address;
  if (!c.name.empty() || !v.contains("name")) v["name"] = c.name;
  return v;
}

// One contact's message, ready for the spool; an error when it cannot be built (the contact is skipped).
Result<spool::SpoolMessage> BuildFor(ApiContext& ctx, const store::Campaign& k, const CampaignSpec& spec, const Parts& parts,
                                     const ingress::Origin& origin, const store::Contact& c, int64_t now) {
  const json::value vars = VariablesOf(spec, c);
  mime::MessageSpec m;
  m.from = spec.from;
  m.to = {mime::Address{c.address, c.name}};
  auto render = [&](const std::optional<templates::Template>& t, bool html, std::string& out) -> Result<void> {
    if (!t) return {};
    auto r = t->Render(vars, html);
    if (!r) return r.error();
    out = std::move(r->text);
    return {};
  };
  if (auto r = render(parts.subject, false, m.subject); !r) return r.error();
  if (auto r = render(parts.text, false, m.text); !r) return r.error();
  if (auto r = render(parts.html, true, m.html); !r) return r.error();
  m.date = now / 1'000'000;
  if (auto problems = mime::ValidateMessageSpec(m); !problems.empty())
    return MakeError(ErrorCode::kInvalidArgument, problems.front().pointer + ": " + problems.front().detail);
  const std::string id = NewQueueId();
  TrackForOneRecipient(ctx, id, spec.track_opens, spec.track_clicks, spec.list_unsubscribe, m);
  auto built = mime::BuildMessage(m);
  if (!built) return built.error();
  ingress::Envelope env{spec.from.email, {c.address}, "7BIT", false};
  auto prepared = ingress::Prepare(origin, std::move(env), built.value(), ctx.config.hostname, false, now, id);
  if (!prepared.error.empty()) return MakeError(ErrorCode::kInvalidArgument, prepared.error);
  spool::SpoolMessage msg = std::move(prepared.message);
  msg.tags = spec.tags;
  msg.metadata = json::serialize(json::object{{"campaign", k.id}, {"campaign_name", k.name}, {"contact", c.id}});
  msg.subject = m.subject;
  msg.campaign_id = k.id;
  msg.contact_id = c.id;
  return msg;
}

// A guarded update that happened (false also when the store failed: the next pass tries again).
bool Updated(Result<bool> r) {
  if (!r) spdlog::warn("campaigns: {}", r.error().message);
  return r && *r;
}

// Hands `messages` to the spool and waits until they are on stable storage.
Result<void> SubmitAndWait(ApiContext& ctx, std::vector<spool::SpoolMessage> messages) {
  if (messages.empty()) return {};
  auto done = std::make_shared<std::promise<std::string>>();
  auto future = done->get_future();
  ingress::Ingress(ctx.store, ctx.spool).Submit(std::move(messages), [done](bool ok, std::string error) {
    done->set_value(ok ? std::string() : (error.empty() ? std::string("not stored") : error));
  });
  if (std::string e = future.get(); !e.empty()) return MakeError(ErrorCode::kTemporary, e);
  return {};
}

}  // namespace

CampaignRunner::CampaignRunner(std::shared_ptr<ApiContext> ctx, std::function<bool()> may_run)
    : ctx_(std::move(ctx)), may_run_(std::move(may_run)) {}

CampaignRunner::~CampaignRunner() { Stop(); }

void CampaignRunner::Start() {
  thread_ = std::thread([this] {
    std::unique_lock l(mu_);
    while (!stop_) {
      l.unlock();
      try {
        if (!may_run_ || may_run_()) RunOnce(NowMicros());
      } catch (const std::exception& e) {
        spdlog::error("campaigns: {}", e.what());
      }
      l.lock();
      cv_.wait_for(l, std::chrono::seconds(1), [this] { return stop_; });
    }
  });
}

void CampaignRunner::Stop() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CampaignRunner::RunOnce(int64_t now) {
  auto due = ctx_->store.DueCampaigns(now);
  if (!due) return spdlog::warn("campaigns: {}", due.error().message);
  for (auto& k : due.value()) {
    // Batch after batch while the campaign's allowance lasts, a second's worth at most.
    const int64_t until = NowMicros() + 1'000'000;
    while (Step(k, now) && NowMicros() < until) {
      auto again = ctx_->store.FindCampaign(k.account, k.id);
      if (!again || !*again || (*again)->state != "running") break;
      k = **again;
      {
        std::lock_guard l(mu_);
        if (stop_) return;
      }
    }
  }
}

bool CampaignRunner::Step(store::Campaign k, int64_t now) {
  ApiContext& ctx = *ctx_;
  auto spec = ReadCampaignSpec(k.spec);
  if (!spec) {
    spdlog::error("campaign {}: {}", k.id, spec.error().message);
    return false;
  }
  auto pause = [&](const std::string& why) {
    const std::string was = k.state;
    k.state = "paused";
    if (Updated(ctx.store.UpdateCampaign(k, was))) RecordCampaignEvent(ctx, k, "campaign_paused", {{"reason", why}});
    spdlog::warn("campaign {} paused: {}", k.id, why);
    return false;
  };
  if (k.state == "scheduled") {
    auto tpl = FindStoredTemplate(ctx.store, k.account, spec->template_ref, spec->template_version);
    if (!tpl) return pause(tpl.error().message);
    spec->template_version = tpl->version;  // pinned: a later edit of the template does not change the campaign
    auto q = AudienceQuery(ctx, k.account, *spec, now);
    if (!q) return pause(q.error().message);
    auto n = ctx.store.CountContacts(*q);
    if (!n) return false;
    k.spec = CampaignSpecJson(*spec);
    k.targeted = *n;
    k.state = "running";
    k.started_at = now;
    if (!Updated(ctx.store.UpdateCampaign(k, "scheduled"))) return false;
    RecordCampaignEvent(ctx, k, "campaign_started", {{"targeted", k.targeted}});
  }
  const int64_t allowed = CampaignAllowance(k, *spec, now) - k.sent;
  // Paced and not through its audience yet: wait. Through it (or an empty audience): look whether anyone is
  // left, so that it finishes, even while its pace would allow nothing more now.
  if (allowed <= 0 && k.sent < k.targeted) return false;
  auto q = AudienceQuery(ctx, k.account, *spec, now);
  if (!q) return pause(q.error().message);
  q->after_id = k.cursor;
  q->limit = static_cast<std::size_t>(std::clamp<int64_t>(allowed, 1, kCampaignBatch));
  auto page = ctx.store.ListContacts(*q);
  if (!page) return false;
  if (page->empty()) {
    k.state = "finished";
    k.finished_at = now;
    if (Updated(ctx.store.UpdateCampaign(k, "running")))
      RecordCampaignEvent(ctx, k, "campaign_finished", {{"targeted", k.targeted}, {"sent", k.sent}});
    return false;
  }
  if (allowed <= 0) return false;  // contacts added since it started wait for the pace (or the window's end)
  std::vector<int64_t> ids;
  for (const auto& c : *page) ids.push_back(c.id);
  auto sent = ctx.spool.Storage().CampaignSent(k.id, ids);
  if (!sent) return false;
  const std::set<int64_t> already(sent->begin(), sent->end());
  auto tpl = FindStoredTemplate(ctx.store, k.account, spec->template_ref, spec->template_version);
  if (!tpl) return pause(tpl.error().message);
  auto parts = ParseParts(*tpl, *spec);
  if (!parts) return pause("the template cannot be parsed: " + parts.error().message);
  ingress::Origin origin;
  origin.account = k.account;
  origin.credential = "campaign:" + k.id;
  origin.client_ip = "127.0.0.1";
  origin.helo = "campaign";
  origin.test_mode = ctx.account_defaults->Get(ctx.store, k.account).test_mode.value_or(false);
  std::vector<spool::SpoolMessage> batch;
  for (const auto& c : *page) {
    if (already.count(c.id)) continue;
    auto m = BuildFor(ctx, k, *spec, *parts, origin, c, now);
    if (!m) {
      spdlog::warn("campaign {}: contact {} ({}) skipped: {}", k.id, c.id, c.address, m.error().message);
      continue;
    }
    batch.push_back(std::move(m.value()));
  }
  if (auto dropped = ingress::Ingress(ctx.store, ctx.spool).DropSuppressed(batch); !dropped) return false;
  if (auto r = SubmitAndWait(ctx, std::move(batch)); !r) {
    spdlog::warn("campaign {}: a batch was not stored ({}); it is tried again", k.id, r.error().message);
    return false;
  }
  auto count = ctx.spool.Storage().CampaignSentCount(k.id);
  if (!count) return false;
  k.cursor = page->back().id;
  k.sent = *count;
  return Updated(ctx.store.UpdateCampaign(k, "running"));
}

}  // namespace kurier::api
