#include "webhooks/signature.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "common/encoding.hpp"

namespace kurier::webhooks {
namespace {

// The reference vector of the Standard Webhooks libraries ("sign function works" in
// libraries/javascript/src/webhook.test.ts of standard-webhooks/standard-webhooks); the expected value
// was also recomputed with Python's hmac module.
constexpr std::string_view kRefSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kRefId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kRefTimestamp = 1614265330;
constexpr std::string_view kRefBody = R"({"test": 2432232314})";
constexpr std::string_view kRefSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(WebhookSignature, ReferenceVector) {
  auto header = SignatureHeader({std::string(kRefSecret)}, kRefId, kRefTimestamp, kRefBody);
  ASSERT_TRUE(header.ok()) << header.error().message;
  EXPECT_EQ(*header, kRefSignature);
  // The libraries accept the secret without its prefix too.
  auto bare = Sign(kRefSecret.substr(6), kRefId, kRefTimestamp, kRefBody);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(*bare, kRefSignature);
  EXPECT_TRUE(VerifySignature(kRefSecret, kRefId, "1614265330", kRefBody, kRefSignature, kRefTimestamp));
}

TEST(WebhookSignature, GeneratedSecretsAreFreshAndWellFormed) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    std::string s = GenerateSecret();
    ASSERT_EQ(s.rfind("whsec_", 0), 0u) << s;
    auto key = DecodeSecret(s);
    ASSERT_TRUE(key.ok()) << s;
    EXPECT_EQ(key->size(), kWebhookSecretBytes);
    EXPECT_TRUE(seen.insert(s).second) << "a repeated secret";
  }
}

TEST(WebhookSignature, RotationWithTwoLiveSecrets) {
  std::string old_secret = GenerateSecret(), new_secret = GenerateSecret();
  std::string body = R"({"type":"delivered"})";
  auto header = SignatureHeader({new_secret, old_secret}, "evt_1", 1700000000, body);
  ASSERT_TRUE(header.ok());
  ASSERT_EQ(std::count(header->begin(), header->end(), ' '), 1) << *header;
  auto first = Sign(new_secret, "evt_1", 1700000000, body);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(header->substr(0, header->find(' ')), *first) << "the entries follow the order of the secrets";
  // A receiver holding either secret accepts the request; one holding neither does not.
  EXPECT_TRUE(VerifySignature(old_secret, "evt_1", "1700000000", body, *header, 1700000000));
  EXPECT_TRUE(VerifySignature(new_secret, "evt_1", "1700000000", body, *header, 1700000000));
  EXPECT_FALSE(VerifySignature(GenerateSecret(), "evt_1", "1700000000", body, *header, 1700000000));
}

TEST(WebhookSignature, SigningRefusesBadInput) {
  struct Row {
    std::vector<std::string> secrets;
    std::string id;
    int64_t timestamp;
  } rows[] = {
      {{}, "evt_1", 1},                                   // nothing to sign with
      {{"whsec_not base64!"}, "evt_1", 1},                // not base64
      {{"whsec_"}, "evt_1", 1},                           // empty key
      {{std::string(kRefSecret), "whsec_%%"}, "evt_1", 1},  // one bad secret spoils the header
      {{std::string(kRefSecret)}, "", 1},                 // no id
      {{std::string(kRefSecret)}, "evt\r\nX-Evil: 1", 1},   // header injection through the id
      {{std::string(kRefSecret)}, "evt 1", 1},            // space
      {{std::string(kRefSecret)}, "evt_1", -5},           // negative time
  };
  for (const auto& r : rows) {
    auto got = SignatureHeader(r.secrets, r.id, r.timestamp, "{}");
    EXPECT_FALSE(got.ok()) << r.id << " " << r.timestamp;
    if (!got.ok()) {
      EXPECT_FALSE(got.error().message.empty());
      for (const auto& s : r.secrets) {
        if (s.size() <= 6) continue;
        EXPECT_EQ(got.error().message.find(s.substr(6)), std::string::npos) << "secret leaked";
      }
    }
  }
}

TEST(WebhookSignature, VerifyTable) {
  const std::string good = std::string(kRefSignature);
  const std::string other = "v1," + Base64Encode(std::string(32, 'x'));
  struct Row {
    const char* name;
    std::string secret, id, timestamp, body, header;
    int64_t now;
    bool want;
  } rows[] = {
      {"reference", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody), good,
       kRefTimestamp, true},
      {"among others", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody),
       other + " v2," + good.substr(3) + " " + good + " " + other, kRefTimestamp, true},
      {"other version only", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody),
       "v1a," + good.substr(3), kRefTimestamp, false},
      {"body changed", std::string(kRefSecret), std::string(kRefId), "1614265330", R"({"test": 2432232315})", good,
       kRefTimestamp, false},
      {"id changed", std::string(kRefSecret), "msg_other", "1614265330", std::string(kRefBody), good, kRefTimestamp,
       false},
      {"timestamp changed", std::string(kRefSecret), std::string(kRefId), "1614265331", std::string(kRefBody), good,
       kRefTimestamp, false},
      {"timestamp with leading zero", std::string(kRefSecret), std::string(kRefId), "01614265330",
       std::string(kRefBody), good, kRefTimestamp, false},
      {"wrong secret", "whsec_" + Base64Encode("another key of some length"), std::string(kRefId), "1614265330",
       std::string(kRefBody), good, kRefTimestamp, false},
      {"too old", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody), good,
       kRefTimestamp + 301, false},
      {"old but within tolerance", std::string(kRefSecret), std::string(kRefId), "1614265330",
       std::string(kRefBody), good, kRefTimestamp + 300, true},
      {"from the future", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody), good,
       kRefTimestamp - 301, false},
      {"timestamp not a number", std::string(kRefSecret), std::string(kRefId), "hello", std::string(kRefBody), good,
       kRefTimestamp, false},
      {"timestamp empty", std::string(kRefSecret), std::string(kRefId), "", std::string(kRefBody), good,
       kRefTimestamp, false},
      {"truncated signature", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody),
       good.substr(0, 8), kRefTimestamp, false},
      {"empty signature", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody), "v1,",
       kRefTimestamp, false},
      {"empty header", std::string(kRefSecret), std::string(kRefId), "1614265330", std::string(kRefBody), "",
       kRefTimestamp, false},
      {"bad secret", "whsec_!!", std::string(kRefId), "1614265330", std::string(kRefBody), good, kRefTimestamp,
       false},
  };
  for (const auto& r : rows)
    EXPECT_EQ(VerifySignature(r.secret, r.id, r.timestamp, r.body, r.header, r.now), r.want) << r.name;
}

}  // namespace
}  // namespace kurier::webhooks
