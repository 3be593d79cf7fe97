// libFuzzer target: the HTTP request path kurier writes itself (src/api/), on arbitrary requests:
// - the request target's percent-decoding and query parsing (ParseTarget, PercentDecode, ParseQuery);
// - the header framing checks of RFC 9112 (FramingProblem);
// - route matching and admission (Router::Admit over the real route table, every listener's route set,
//   with a fake key lookup: keys "k-send", "k-read", "k-admin"): 404/405/401/403/415, media types;
// - a JSON body read into a send request (ParseSend), and when it is valid, the MIME message built
//   from it (ValidateMessageSpec, BuildMessage).
// Nothing may crash or throw; admission gives a route or a refusal, never both, and only refusals of the
// documented kinds; problems are valid JSON; a valid send request stays within the configured limits.
//
// Input: "METHOD TARGET [HTTP/1.x]" on the first line, "name: value" lines, an empty line, the body.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "api/api_service.hpp"
#include "api/http.hpp"
#include "api/router.hpp"
#include "api/send_request.hpp"
#include "common/encoding.hpp"
#include "mime/build.hpp"

using namespace kurier;
using namespace kurier::api;

namespace {

Router& TheRouter() {
  static Router* router = [] {
    auto* r = new Router(
        [](const std::string& hash) -> std::optional<Principal> {
          static const std::string send = HashHex("k-send"), read = HashHex("k-read"), admin = HashHex("k-admin");
          if (hash == send) return Principal{1, "a", "send"};
          if (hash == read) return Principal{2, "a", "read"};
          if (hash == admin) return Principal{3, "root", "admin"};
          return std::nullopt;
        },
        RouterOptions{});
    AddAllRoutes(*r, nullptr);  // registration only: no handler runs here
    return r;
  }();
  return *router;
}

void CheckProblem(const HttpResponse& res) {
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body, ec);
  if (ec || !v.is_object() || v.as_object().at("status").as_int64() != res.status) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Split the head (lines) from the body at the first empty line.
  std::vector<std::string> lines;
  size_t pos = 0;
  std::string_view body;
  for (;;) {
    size_t nl = in.find('\n', pos);
    std::string line(in.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (nl == std::string_view::npos) {
      if (!line.empty()) lines.push_back(line);
      break;
    }
    pos = nl + 1;
    if (line.empty()) {
      body = in.substr(pos);
      break;
    }
    lines.push_back(std::move(line));
  }
  if (lines.empty()) return 0;

  HttpRequest req;
  std::string target;
  unsigned version = 11;
  {
    const std::string& first = lines[0];
    size_t sp = first.find(' ');
    req.method = first.substr(0, sp);
    if (sp != std::string::npos) {
      size_t sp2 = first.find(' ', sp + 1);
      target = first.substr(sp + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp - 1);
      if (sp2 != std::string::npos && first.compare(sp2 + 1, std::string::npos, "HTTP/1.0") == 0) version = 10;
    }
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    std::string name = lines[i].substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = colon == std::string::npos ? std::string() : lines[i].substr(colon + 1);
    size_t b = value.find_first_not_of(" \t");
    value = b == std::string::npos ? std::string() : value.substr(b);
    req.headers.emplace_back(std::move(name), std::move(value));
  }

  // Target and query.
  if (!ParseTarget(target, req.path, req.query)) return 0;
  if (req.path.size() > target.size()) std::abort();
  for (const auto& [k, v] : req.query)
    if (k.size() + v.size() > target.size()) std::abort();

  // Framing: a lone Host and no Transfer-Encoding are always fine on 1.1.
  const std::string framing = FramingProblem(version, req.headers);
  {
    int hosts = 0, tes = 0;
    for (const auto& [k, v] : req.headers) hosts += k == "host", tes += k == "transfer-encoding";
    if (tes == 0 && framing.empty() != (version < 11 || hosts == 1)) std::abort();
    if (tes > 0 && version < 11 && framing.empty()) std::abort();
  }

  // Admission on the head, on every kind of listener.
  for (RouteSet set : {RouteSet::kAll, RouteSet::kApplications, RouteSet::kRecipients}) {
    Admission a = TheRouter().Admit(req, set);
    if ((a.route == nullptr) == !a.refusal) std::abort();
    if (a.refusal && a.refusal->status == 308) {
      // A literal GET route asked for with a trailing slash: redirected to itself, query kept.
      if (req.method != "GET" && req.method != "HEAD") std::abort();
      if (req.path.size() < 2 || req.path.back() != '/') std::abort();
      const std::string* location = nullptr;
      for (const auto& [k, v] : a.refusal->headers)
        if (k == "Location") location = &v;
      if (!location || location->rfind(req.path.substr(0, req.path.size() - 1), 0) != 0) std::abort();
      if (location->size() > req.path.size() - 1 && (*location)[req.path.size() - 1] != '?') std::abort();
    } else if (a.refusal) {
      static const std::set<int> kRefusals = {401, 403, 404, 405, 415, 429};
      if (!kRefusals.count(a.refusal->status)) std::abort();
      CheckProblem(*a.refusal);
    } else {
      if (a.route->method != req.method) std::abort();
      if (set == RouteSet::kApplications && a.route->audience != Audience::kApplications) std::abort();
      if (set == RouteSet::kRecipients && a.route->audience != Audience::kRecipients) std::abort();
      if (a.route->scope != Scope::kPublic && a.ctx.who.key_id == 0) std::abort();
    }
  }

  // The body as a send request, and the message built from it.
  boost::system::error_code ec;
  boost::json::parse_options po;
  po.max_depth = 64;
  boost::json::value v = boost::json::parse(body, ec, {}, po);
  if (ec || !v.is_object()) return 0;
  ApiConfig limits;
  limits.max_recipients = 50;
  limits.max_attachment_bytes = 1 << 16;
  SendRequest r;
  FieldErrors err;
  ParseSend(v.as_object(), limits, SendDefaults{}, r, err);
  for (const auto& e : err.list)
    if (e.pointer.empty() || e.pointer[0] != '/' || e.detail.empty()) std::abort();
  if (!err.empty()) {
    CheckProblem(Invalid(err));
    return 0;
  }
  size_t count = r.base.to.size() + r.base.cc.size() + r.base.bcc.size();
  if (!r.recipients.empty()) {
    count = 0;
    for (const auto& e : r.recipients) count += e.to.size() + e.cc.size() + e.bcc.size();
  }
  if (count == 0 || count > limits.max_recipients) std::abort();
  if (!boost::json::parse(r.tags).is_array() || !boost::json::parse(r.metadata).is_object()) std::abort();
  size_t attached = 0;
  for (const auto& a : r.base.attachments) attached += a.content.size();
  if (attached > limits.max_attachment_bytes) std::abort();
  if (r.recipients.empty() && r.template_ref.empty() && mime::ValidateMessageSpec(r.base).empty()) {
    auto built = mime::BuildMessage(r.base);
    if (built && built.value().find("\r\n\r\n") == std::string::npos) std::abort();  // a header section and a body
  }
  return 0;
}
