// Router: scopes (401 vs 403) and the key cache, which must forget a revoked key at once.
#include "api/router.hpp"

#include <gtest/gtest.h>

#include <set>

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

}  // namespace
}  // namespace kurier::api
