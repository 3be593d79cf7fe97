// SecretBox: webhook secrets at rest. Round trips, and every kind of damage fails to open.
#include "common/secret_box.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/encoding.hpp"

namespace kurier {
namespace {

const std::string kServerSecret(32, '\x42');
const std::string kContext = "kurier webhook secret wh_1";

TEST(SecretBox, RoundTrips) {
  SecretBox box(kServerSecret);
  for (std::string plain : {std::string("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string(), std::string(1000, '\0'),
                            std::string("\xff\xfe binary \x01")}) {
    std::string sealed = box.Seal(plain, kContext);
    EXPECT_TRUE(SecretBox::IsSealed(sealed)) << sealed;
    EXPECT_EQ(sealed.rfind("enc:v1:", 0), 0u);
    if (!plain.empty()) {
      EXPECT_EQ(sealed.find(plain), std::string::npos) << "the plaintext must not show";
    }
    auto opened = box.Open(sealed, kContext);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened.value(), plain);
  }
  // Another box from the same server secret (another process, a restart) opens it too.
  EXPECT_EQ(SecretBox(kServerSecret).Open(box.Seal("whsec_x", kContext), kContext).value(), "whsec_x");
}

TEST(SecretBox, EachSealHasItsOwnNonce) {
  SecretBox box(kServerSecret);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(box.Seal("whsec_same", kContext));
  EXPECT_EQ(seen.size(), 100u);
}

TEST(SecretBox, DamageFailsWithAClearError) {
  SecretBox box(kServerSecret);
  const std::string sealed = box.Seal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", kContext);
  const std::string raw = *Base64Decode(sealed.substr(SecretBox::kPrefix.size()));
  auto with_raw = [](std::string r) { return std::string(SecretBox::kPrefix) + Base64Encode(r); };
  auto flip = [&](std::size_t at) {
    std::string r = raw;
    r[at] = static_cast<char>(r[at] ^ 0x01);
    return with_raw(r);
  };
  const std::string auth = "does not authenticate";
  struct Row {
    const char* what;
    std::string stored;
    std::string context;
    std::string want;
  } rows[] = {
      {"a nonce bit flipped", flip(0), kContext, auth},
      {"a ciphertext bit flipped", flip(30), kContext, auth},
      {"a tag bit flipped", flip(raw.size() - 1), kContext, auth},
      {"truncated by one byte", with_raw(raw.substr(0, raw.size() - 1)), kContext, auth},
      {"shorter than nonce and tag", with_raw(raw.substr(0, 39)), kContext, "damaged"},
      {"not base64", std::string(SecretBox::kPrefix) + "%%%%", kContext, "damaged"},
      {"plaintext, no prefix", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", kContext, "no enc:v1: prefix"},
      {"another webhook's row", sealed, "kurier webhook secret wh_2", auth},
  };
  for (const auto& r : rows) {
    auto opened = box.Open(r.stored, r.context);
    ASSERT_FALSE(opened) << r.what;
    EXPECT_NE(opened.error().message.find(r.want), std::string::npos) << r.what << ": " << opened.error().message;
    EXPECT_EQ(opened.error().message.find("whsec_"), std::string::npos) << "no plaintext in errors";
  }
  // Another server secret (a replaced secret.key) cannot open it.
  auto other = SecretBox(std::string(32, '\x43')).Open(sealed, kContext);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("another server.secret_file"), std::string::npos) << other.error().message;
}

}  // namespace
}  // namespace kurier
