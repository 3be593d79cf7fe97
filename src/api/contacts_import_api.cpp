// contacts_import_api.cpp - contacts in and out as CSV: POST /v1/contacts/import (the request body is
// the file: a header line naming the columns, then one contact per line) and GET /v1/contacts/export.
// The import is the CLI's (audience/importer.hpp): any of , ; or tab, UTF-8, windows-1250 or
// iso-8859-2 (given or detected), columns mapped by their English or Polish names or by ?map=, contacts
// merged (mode=upsert) or left as they are (mode=skip), each broken row reported with its line; the body
// is bounded by api.max_body (larger files: `kurier contacts import`, which streams any size).
// The export writes every contact of the account (or of ?list=) with its status, attributes and lists
// with their consent records, page by page.
//
// SECURITY: import needs the send scope, export the read scope; both act on the key's own account.
// STANDARDS: RFC 4180 (CSV), RFC 9457 (problem details).
#include <boost/json.hpp>

#include "api/api_service.hpp"
#include "api/contacts_api.hpp"
#include "api/router.hpp"
#include "audience/importer.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"

namespace kurier::api {

namespace json = boost::json;

namespace {

HttpResponse StoreDown(const Error& e) {
  return Problem(503, "Unavailable", "the contacts could not be read or written (" + e.message + "); retry");
}

// Splits "a=b,c=d" into "a=b" and "c=d".
std::vector<std::string> Maps(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

void HandleImport(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  FieldErrors err;
  audience::ImportOptions opt;
  opt.account = rc.who.account;
  std::string list;
  for (const auto& [k, v] : req.query) {
    if (k == "list") {
      list = v;
    } else if (k == "mode") {
      if (v == "upsert") opt.mode = store::ContactSaveOptions::Mode::kMerge;
      else if (v == "skip") opt.mode = store::ContactSaveOptions::Mode::kSkip;
      else err.Add("/query/mode", "must be upsert (change existing contacts) or skip (leave them as they are)");
    } else if (k == "encoding") {
      if (v == "auto") continue;
      auto cs = audience::ParseCharset(v);
      if (!cs) err.Add("/query/encoding", cs.error().message);
      else opt.charset = *cs;
    } else if (k == "map") {
      opt.maps = Maps(v);
    } else {
      err.Add("/query/" + PointerToken(k), "unknown parameter; use list, mode, encoding, map");
    }
  }
  if (!err.empty()) return reply(Invalid(err));
  if (!list.empty()) {
    auto l = ctx.store.FindList(opt.account, list);
    if (!l) return reply(StoreDown(l.error()));
    if (!*l) return reply(Problem(404, "Not Found", "no list '" + list + "' in this account; create it with POST /v1/lists"));
    opt.list_id = (*l)->id;
  }
  opt.consent = json::serialize(json::object{{"source", "import:api"}, {"time", FormatTimeUtc(NowMicros())},
                                             {"ip", req.client_ip}, {"user_agent", req.Header("user-agent")}});
  audience::ContactImporter importer(ctx.store, opt);
  auto fed = importer.Feed(req.body);
  auto report = fed ? importer.Finish() : Result<audience::ImportReport>(fed.error());
  if (!report) {
    if (report.error().code == ErrorCode::kInvalidArgument)
      return reply(Invalid(std::vector<FieldError>{{"", report.error().message}}));
    return reply(StoreDown(report.error()));
  }
  json::array rejected;
  for (const auto& r : report->rejected) rejected.push_back(json::string(r));
  reply(Json(200, json::serialize(json::object{{"rows", report->rows},
                                               {"created", report->saved.created},
                                               {"updated", report->saved.updated},
                                               {"skipped", report->saved.skipped},
                                               {"added_to_list", report->saved.added_to_list},
                                               {"rejected_count", report->rejected_count},
                                               {"rejected", std::move(rejected)},
                                               {"encoding", report->charset},
                                               {"delimiter", std::string(1, report->delimiter)}})));
}

void HandleExport(ApiContext& ctx, const HttpRequest& req, const RouteContext& rc, Reply reply) {
  store::ContactQuery q;
  q.account = rc.who.account;
  q.limit = 1000;
  for (const auto& [k, v] : req.query) {
    if (k != "list")
      return reply(Invalid(std::vector<FieldError>{{"/query/" + PointerToken(k), "unknown parameter; use list"}}));
    auto l = ctx.store.FindList(q.account, v);
    if (!l) return reply(StoreDown(l.error()));
    if (!*l) return reply(Problem(404, "Not Found", "no list '" + v + "' in this account; GET /v1/lists shows them"));
    q.list_id = (*l)->id;
  }
  std::string csv = "address,name,status,created_at,updated_at,attributes,lists\r\n";
  for (;;) {
    auto rows = ctx.store.ListContacts(q);
    if (!rows) return reply(StoreDown(rows.error()));
    for (const auto& c : rows.value()) {
      // The lists with their consent records: one read per contact, as a data-protection export needs them.
      auto full = ctx.store.FindContact(q.account, std::to_string(c.id));
      if (!full) return reply(StoreDown(full.error()));
      json::value view = *full && !(*full)->lists.empty() ? ContactView(**full)["lists"] : json::array{};
      csv += CsvField(c.address) + "," + CsvField(c.name) + "," + c.status + "," + FormatTimeUtc(c.created_at) + "," +
             FormatTimeUtc(c.updated_at) + "," + CsvField(c.attributes) + "," + CsvField(json::serialize(view)) + "\r\n";
    }
    if (rows->size() < q.limit) break;
    q.after_id = rows->back().id;
  }
  HttpResponse res;
  res.content_type = "text/csv; charset=utf-8";
  res.headers.emplace_back("Content-Disposition", "attachment; filename=\"contacts.csv\"");
  res.body = std::move(csv);
  reply(std::move(res));
}

}  // namespace

void AddContactImportRoutes(Router& router, const std::shared_ptr<ApiContext>& ctx) {
  AddContextRoute(router, ctx, "POST", "/v1/contacts/import", Scope::kSend, HandleImport,
                  std::vector<std::string>{"text/csv"});
  AddContextRoute(router, ctx, "GET", "/v1/contacts/export", Scope::kRead, HandleExport);
}

}  // namespace kurier::api
