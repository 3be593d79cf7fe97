// campaigns.hpp - campaigns (issue 17): what a campaign sends (CampaignSpec, read from the JSON the API
// took and the store keeps) and the runner that sends it over time.
//
// The runner, once a second on the node that runs the housekeeping, takes each running campaign's next
// contacts in id order (subscribed to one of its lists, active, matching its segment), as many as its
// spread and hourly cap allow, renders the pinned template version for each (the contact's attributes as
// variables over the campaign's defaults), and hands them to the spool as one batch; it moves its cursor
// only after the batch is on stable storage. Exactly once per contact across crashes: the spool records
// (campaign, contact) in the same transaction as the message (SpoolMessage::campaign_id), and the runner
// asks it which contacts of a page already have one before it builds anything, so a kill -9 at any point
// neither repeats nor skips anyone. A batch is at most kCampaignBatch messages, so transactional mail
// submitted meanwhile waits for one group commit at most.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.hpp"
#include "mime/build.hpp"
#include "store/audience.hpp"

namespace kurier::api {

struct ApiContext;

constexpr std::size_t kCampaignBatch = 500;  ///< messages per spool batch of the runner

/// What a campaign sends, as stored in Campaign::spec.
struct CampaignSpec {
  mime::Address from;
  std::string subject;  ///< overrides the template's subject when not empty (Mustache)
  std::string template_ref;
  int template_version = 0;  ///< 0 until it starts: then the published version, pinned
  std::vector<std::string> lists;  ///< list ids; contacts subscribed to any of them
  std::string segment;             ///< "" or a segment query (audience/segment.hpp)
  std::string tags = "[]";         ///< JSON array of strings
  bool track_opens = true, track_clicks = true, list_unsubscribe = true;
  double spread_hours = 0;  ///< > 0: sends spread evenly over this many hours from the start
  int64_t max_per_hour = 0; ///< > 0: at most this many messages an hour
  boost::json::object variables;  ///< defaults of template variables a contact's attributes do not give
};

/// The spec as the store keeps it (JSON object text).
std::string CampaignSpecJson(const CampaignSpec& spec);
/// Reads a stored spec back (kInvalidArgument when it is not one).
Result<CampaignSpec> ReadCampaignSpec(const std::string& json);

/// How many messages campaign `k` may have spooled by `now` (its spread and hourly cap; a large number
/// when neither limits it).
int64_t CampaignAllowance(const store::Campaign& k, const CampaignSpec& spec, int64_t now);

/// A segment query (audience/segment.hpp) compiled for this node's store, as a contact query's condition;
/// kInvalidArgument naming the column when the query is not one.
Result<store::ContactQuery::Condition> CompileAudienceSegment(ApiContext& ctx, const std::string& query, int64_t now);

/// The campaign's audience as a contact query: its lists, active contacts only, its segment compiled.
Result<store::ContactQuery> AudienceQuery(ApiContext& ctx, const std::string& account, const CampaignSpec& spec, int64_t now);

/// Records a campaign state event (campaign_started, campaign_paused, ...) for the account's webhooks.
void RecordCampaignEvent(ApiContext& ctx, const store::Campaign& k, const std::string& type,
                         boost::json::object extra = {});

class CampaignRunner {
 public:
  /// `may_run`: whether this node runs campaigns now (the housekeeping leader; always on a single node).
  CampaignRunner(std::shared_ptr<ApiContext> ctx, std::function<bool()> may_run);
  ~CampaignRunner();
  void Start();
  void Stop();
  /// One pass over the campaigns due at `now` (the thread's loop; tests call it directly).
  void RunOnce(int64_t now);

 private:
  /// Sends the next batch of `k`; false when nothing was sent (done, waiting for its allowance, or failed).
  bool Step(store::Campaign k, int64_t now);
  std::shared_ptr<ApiContext> ctx_;
  std::function<bool()> may_run_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace kurier::api
