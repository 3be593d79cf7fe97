// Signed VERP local parts: round trip, case-insensitivity, forgery and garbage refused.
#include "bounce/verp.hpp"

#include <gtest/gtest.h>

namespace kurier::bounce {
namespace {

const std::string kSecret(32, 'k');

TEST(Verp, RoundTripAndCase) {
  std::string local = VerpLocalPart(kSecret, "01jdxyz0abcdefghijkl");
  EXPECT_EQ(local.rfind("bounces+01jdxyz0abcdefghijkl-", 0), 0u) << local;
  EXPECT_EQ(VerpMessageId(kSecret, local), "01jdxyz0abcdefghijkl");
  std::string upper = local;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(VerpMessageId(kSecret, upper), "01jdxyz0abcdefghijkl");
  EXPECT_EQ(FindVerpMessageId(kSecret, "Return-Path: <" + local + "@bounces.shop.test>\r\n"), "01jdxyz0abcdefghijkl");
}

TEST(Verp, RefusesForgeriesAndGarbage) {
  std::string local = VerpLocalPart(kSecret, "01jdxyz0abcdefghijkl");
  const std::string other(32, 'o');
  for (std::string bad : {VerpLocalPart(other, "01jdxyz0abcdefghijkl"), local.substr(0, local.size() - 1),
                          std::string("bounces+01jdxyz0abcdefghijkm") + local.substr(local.rfind('-')), std::string("bounces"),
                          std::string("bounces+-"), std::string("+x-y"), std::string("bounces+a b-cdef")})
    EXPECT_FALSE(VerpMessageId(kSecret, bad)) << bad;
  EXPECT_FALSE(FindVerpMessageId(kSecret, "From: a+b@c.test, bounces+x-y@z"));
}

TEST(Verp, UnsubscribeAddressesAreTheirOwnKind) {
  const std::string id = "01jdxyz0abcdefghijkl";
  const std::string unsub = UnsubscribeLocalPart(kSecret, id);
  EXPECT_EQ(unsub.rfind("unsubscribe+" + id + "-", 0), 0u) << unsub;
  EXPECT_EQ(UnsubscribeMessageId(kSecret, unsub), id);
  std::string upper = unsub;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(UnsubscribeMessageId(kSecret, upper), id);
  // Neither kind passes as the other, even with the prefix swapped.
  const std::string bounce = VerpLocalPart(kSecret, id);
  EXPECT_FALSE(UnsubscribeMessageId(kSecret, bounce));
  EXPECT_FALSE(UnsubscribeMessageId(kSecret, "unsubscribe" + bounce.substr(bounce.find('+'))));
  EXPECT_FALSE(VerpMessageId(kSecret, unsub));
  EXPECT_FALSE(UnsubscribeMessageId(std::string(32, 'o'), unsub));
  EXPECT_FALSE(UnsubscribeMessageId(kSecret, "unsubscribe"));
}

}  // namespace
}  // namespace kurier::bounce
