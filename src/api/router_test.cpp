// Router: scopes (401 vs 403), the key cache (which must forget a revoked key at once), admission on the
// headers alone, media types (415), listener route sets, and handlers that throw or lose their reply.
#include "api/router.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/encoding.hpp"

namespace kurier::api {
namespace {

// Keys "k1" (id 1, account a, send read) and "k2" (id 2, account b, read); revoking removes them.
class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : router_(
            [this](const std::string& hash) -> std::optional<Principal> {
              ++lookups_;
              std::optional<Principal> found;
              for (const auto& [secret, who] : keys_)
                if (HashHex(secret) == hash && !revoked_.count(who.key_id)) found = who;
              if (during_lookup_) during_lookup_();  // what happens between the store's answer and caching it
              return found;
            },
            RouterOptions{}) {
    router_.Add(Route{"GET", "/v1/thing", Scope::kRead,
                      [](const HttpRequest&, const RouteContext& rc, Reply r) { r(Json(200, rc.who.account)); }});
    router_.Add(Route{"POST", "/v1/thing", Scope::kSend,
                      [](const HttpRequest&, const RouteContext&, Reply r) { r(Json(201, "{}")); }});
  }

  int Call(const std::string& method, const std::string& key) {
    HttpRequest q;
    q.method = method;
    q.path = "/v1/thing";
    if (!key.empty()) q.headers.emplace_back("authorization", "Bearer " + key);
    int status = 0;
    router_.Dispatch(q, [&](HttpResponse r) { status = r.status; });
    return status;
  }

  std::map<std::string, Principal> keys_ = {{"k1", Principal{1, "a", "send read"}}, {"k2", Principal{2, "b", "read"}}};
  std::set<int64_t> revoked_;
  int lookups_ = 0;
  std::function<void()> during_lookup_;
  Router router_;
};

TEST_F(RouterTest, ScopesAnswer401And403) {
  struct Row {
    const char* method;
    const char* key;
    int want;
  } rows[] = {{"GET", "", 401}, {"GET", "nope", 401}, {"GET", "k1", 200},
              {"POST", "k1", 201}, {"GET", "k2", 200}, {"POST", "k2", 403}};
  for (const auto& r : rows) EXPECT_EQ(Call(r.method, r.key), r.want) << r.method << " " << r.key;
}

TEST_F(RouterTest, CachedKeyStaysValidUntilForgotten) {
  ASSERT_EQ(Call("GET", "k1"), 200);
  ASSERT_EQ(lookups_, 1);
  revoked_.insert(1);
  EXPECT_EQ(Call("GET", "k1"), 200) << "the cache trusts the key for key_cache_ttl";
  EXPECT_EQ(lookups_, 1);
  router_.ForgetKey(2);  // another key: k1 stays cached
  EXPECT_EQ(Call("GET", "k1"), 200);
  router_.ForgetKey(1);
  EXPECT_EQ(Call("GET", "k1"), 401);
  EXPECT_EQ(lookups_, 2);
}

TEST_F(RouterTest, ForgetAccountDropsEveryKeyOfIt) {
  ASSERT_EQ(Call("GET", "k1"), 200);
  ASSERT_EQ(Call("GET", "k2"), 200);
  revoked_ = {1, 2};
  router_.ForgetAccount("a");
  EXPECT_EQ(Call("GET", "k1"), 401);
  EXPECT_EQ(Call("GET", "k2"), 200) << "account b's key is still cached";
}

TEST_F(RouterTest, LookupRacingARevocationIsNotCached) {
  // The key is revoked (and forgotten) while its look-up is in flight: that answer must not be cached.
  during_lookup_ = [this] {
    during_lookup_ = nullptr;
    revoked_.insert(1);
    router_.ForgetKey(1);
  };
  EXPECT_EQ(Call("GET", "k1"), 200);  // the request that raced the revocation
  EXPECT_EQ(Call("GET", "k1"), 401);
  EXPECT_EQ(lookups_, 2);
}

TEST_F(RouterTest, AdmitDecidesOnTheHeadersAlone) {
  // What the server has before it reads a body: method, path, headers (Content-Length, no body yet).
  struct Row {
    const char* method;
    const char* path;
    const char* key;
    const char* ctype;
    int want;  // 0: admitted
  } rows[] = {
      {"GET", "/v1/nothing", "k1", "", 404},
      {"PUT", "/v1/thing", "k1", "application/json", 405},
      {"POST", "/v1/thing", "", "application/json", 401},
      {"POST", "/v1/thing", "wrong", "application/json", 401},
      {"POST", "/v1/thing", "k2", "application/json", 403},
      {"POST", "/v1/thing", "k1", "text/plain", 415},
      {"POST", "/v1/thing", "k1", "", 415},
      {"POST", "/v1/thing", "k1", "application/x-www-form-urlencoded", 415},
      {"POST", "/v1/thing", "k1", "application/json", 0},
      {"POST", "/v1/thing", "k1", "Application/JSON; charset=utf-8", 0},
      {"POST", "/v1/thing", "k1", "application/merge-patch+json", 0},
      {"POST", "/v1/thing", "k1", "application/jsonx", 415},
      {"POST", "/v1/thing", "k1", "text/json+json", 415},
  };
  for (const auto& r : rows) {
    HttpRequest q;
    q.method = r.method;
    q.path = r.path;
    q.headers.emplace_back("content-length", "30000000");
    if (*r.ctype) q.headers.emplace_back("content-type", r.ctype);
    if (*r.key) q.headers.emplace_back("authorization", std::string("Bearer ") + r.key);
    auto a = router_.Admit(q);
    EXPECT_EQ(a.refusal ? a.refusal->status : 0, r.want) << r.method << " " << r.path << " " << r.key << " " << r.ctype;
    EXPECT_EQ(a.route != nullptr, r.want == 0);
    if (r.want == 415) EXPECT_NE(a.refusal->body.find("application/json"), std::string::npos) << a.refusal->body;
  }
}

TEST(MediaTypes, AcceptedTypesAndParameters) {
  const std::vector<std::string> json = {"application/json"};
  const std::vector<std::string> form = {"application/x-www-form-urlencoded", "multipart/form-data"};
  EXPECT_TRUE(MediaTypeAccepted("application/json", json));
  EXPECT_TRUE(MediaTypeAccepted(" application/json ; charset=utf-8", json));
  EXPECT_TRUE(MediaTypeAccepted("application/problem+json", json));
  EXPECT_FALSE(MediaTypeAccepted("text/plain", json));
  EXPECT_FALSE(MediaTypeAccepted("", json));
  EXPECT_FALSE(MediaTypeAccepted("application/+json", json));
  EXPECT_FALSE(MediaTypeAccepted("application/json", form));
  EXPECT_TRUE(MediaTypeAccepted("multipart/form-data; boundary=x", form));
  EXPECT_TRUE(MediaTypeAccepted("application/x-www-form-urlencoded", form));
}

TEST(RouterMediaTypes, BodylessRequestsNeedNoContentTypeAndRoutesNameTheirOwn) {
  Router router([](const std::string&) { return std::optional<Principal>(Principal{1, "a", "send read"}); }, RouterOptions{});
  auto ok = [](const HttpRequest&, const RouteContext&, Reply r) { r(Json(200, "{}")); };
  router.Add(Route{"POST", "/raw", Scope::kSend, ok, std::vector<std::string>{"application/json", "message/rfc822"}});
  router.Add(Route{"POST", "/empty-ok", Scope::kSend, ok});
  router.Add(Route{"DELETE", "/x", Scope::kSend, ok});
  auto status = [&](const char* method, const char* path, const char* ctype, const char* length) {
    HttpRequest q;
    q.method = method;
    q.path = path;
    q.headers.emplace_back("authorization", "Bearer k");
    if (*ctype) q.headers.emplace_back("content-type", ctype);
    if (*length) q.headers.emplace_back("content-length", length);
    auto a = router.Admit(q);
    return a.refusal ? a.refusal->status : 0;
  };
  EXPECT_EQ(status("POST", "/raw", "message/rfc822", "10"), 0);
  EXPECT_EQ(status("POST", "/raw", "application/json", "10"), 0);
  EXPECT_EQ(status("POST", "/raw", "text/plain", "10"), 415);
  EXPECT_EQ(status("POST", "/empty-ok", "", ""), 0) << "no body: no Content-Type needed";
  EXPECT_EQ(status("POST", "/empty-ok", "application/x-www-form-urlencoded", "0"), 0) << "curl -d '' sends this";
  EXPECT_EQ(status("DELETE", "/x", "text/plain", "5"), 0) << "a DELETE's body is not read";
}

TEST(RouterSets, EachListenerServesItsOwnRoutes) {
  Router router([](const std::string&) { return std::optional<Principal>(Principal{1, "a", "send read"}); }, RouterOptions{});
  auto ok = [](const HttpRequest&, const RouteContext&, Reply r) { r(Json(200, "{}")); };
  router.Add(Route{"GET", "/v1/thing", Scope::kRead, ok});
  router.Add(Route{"GET", "/t/o/{token}", Scope::kPublic, ok, std::nullopt, Audience::kRecipients});
  auto status = [&](const char* path, RouteSet set) {
    HttpRequest q;
    q.method = "GET";
    q.path = path;
    q.headers.emplace_back("authorization", "Bearer k");
    auto a = router.Admit(q, set);
    return a.refusal ? a.refusal->status : 0;
  };
  EXPECT_EQ(status("/v1/thing", RouteSet::kAll), 0);
  EXPECT_EQ(status("/t/o/abc", RouteSet::kAll), 0);
  EXPECT_EQ(status("/v1/thing", RouteSet::kApplications), 0);
  EXPECT_EQ(status("/t/o/abc", RouteSet::kApplications), 404);
  EXPECT_EQ(status("/v1/thing", RouteSet::kRecipients), 404);
  EXPECT_EQ(status("/t/o/abc", RouteSet::kRecipients), 0);
}

// A handler that throws, throws after answering, loses its reply, or throws on another thread: the
// request is answered exactly once (500 unless it had answered) and nothing escapes.
TEST(RouterHandlers, ExceptionsAndLostRepliesBecomeOne500) {
  Router router([](const std::string&) { return std::optional<Principal>(Principal{1, "a", "send read"}); }, RouterOptions{});
  router.Add(Route{"GET", "/throws", Scope::kPublic,
                   [](const HttpRequest&, const RouteContext&, Reply) { throw std::runtime_error("boom"); }});
  router.Add(Route{"GET", "/answers-then-throws", Scope::kPublic, [](const HttpRequest&, const RouteContext&, Reply r) {
                     r(Json(200, "{}"));
                     throw std::logic_error("late");
                   }});
  router.Add(Route{"GET", "/drops", Scope::kPublic, [](const HttpRequest&, const RouteContext&, Reply) {}});
  router.Add(Route{"GET", "/throws-elsewhere", Scope::kPublic, [](const HttpRequest& q, const RouteContext&, Reply r) {
                     std::thread([r, what = q.method + " " + q.path] {
                       AnswerOnThrow(r, what, [] { throw std::runtime_error("on a worker"); });
                     }).join();
                   }});
  router.Add(Route{"GET", "/throws-non-std", Scope::kPublic,
                   [](const HttpRequest&, const RouteContext&, Reply) { throw 42; }});
  for (auto [path, want] : std::vector<std::pair<std::string, int>>{{"/throws", 500},
                                                                      {"/answers-then-throws", 200},
                                                                      {"/drops", 500},
                                                                      {"/throws-elsewhere", 500},
                                                                      {"/throws-non-std", 500}}) {
    HttpRequest q;
    q.method = "GET";
    q.path = path;
    std::vector<HttpResponse> got;
    EXPECT_NO_THROW(router.Dispatch(q, [&](HttpResponse r) { got.push_back(std::move(r)); })) << path;
    ASSERT_EQ(got.size(), 1u) << path;
    EXPECT_EQ(got[0].status, want) << path;
    if (want == 500) {
      EXPECT_EQ(got[0].content_type, "application/problem+json");
      EXPECT_NE(got[0].body.find("internal error"), std::string::npos) << got[0].body;
      EXPECT_NE(got[0].body.find("logged"), std::string::npos) << got[0].body;
    }
  }
}

// A refusal quotes the path; a path that is not UTF-8 (it is percent-decoded) must not make the problem
// invalid JSON (found by fuzz_http_request: "no endpoint /v1/suppress\0\0\0\x86/import").
TEST_F(RouterTest, ProblemsQuotingBytesThatAreNotUtf8AreValidJson) {
  HttpRequest q;
  q.method = "GET";
  q.path = std::string("/v1/suppress\0\0\0\x86/import\xff", 24);
  auto a = router_.Admit(q);
  ASSERT_TRUE(a.refusal);
  EXPECT_EQ(a.refusal->status, 404);
  EXPECT_TRUE(IsValidUtf8(a.refusal->body)) << a.refusal->body;
  EXPECT_NE(a.refusal->body.find("\xEF\xBF\xBD"), std::string::npos) << "U+FFFD stands for each invalid byte";
  EXPECT_NE(a.refusal->body.find("\\u0000"), std::string::npos) << "NUL is escaped";
}

}  // namespace
}  // namespace kurier::api

namespace kurier::api {
namespace {

// A key that cannot be checked (the store is unreachable) is answered 503, not 401, and the failure is not
// cached: the same key works as soon as the store answers again.
TEST(RouterKeys, AStoreThatCannotAnswerGives503AndIsAskedAgain) {
  bool store_up = false;
  int lookups = 0;
  Router router(
      [&](const std::string&) -> Result<std::optional<Principal>> {
        ++lookups;
        if (!store_up) return MakeError(ErrorCode::kTemporary, "cannot connect to PostgreSQL");
        return std::optional<Principal>(Principal{1, "a", "read"});
      },
      RouterOptions{});
  router.Add(Route{"GET", "/x", Scope::kRead, [](const HttpRequest&, const RouteContext&, Reply r) { r(Json(200, "{}")); }});
  auto status = [&] {
    HttpRequest q;
    q.method = "GET";
    q.path = "/x";
    q.headers.emplace_back("authorization", "Bearer k");
    auto a = router.Admit(q);
    return a.refusal ? a.refusal->status : 0;
  };
  EXPECT_EQ(status(), 503);
  EXPECT_EQ(status(), 503);
  EXPECT_EQ(lookups, 2) << "a failed lookup is not cached";
  store_up = true;
  EXPECT_EQ(status(), 0);
  EXPECT_EQ(status(), 0);
  EXPECT_EQ(lookups, 3) << "a successful one is";
}

}  // namespace
}  // namespace kurier::api
