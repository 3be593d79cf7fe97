#include "dkim/signer.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "common/encoding.hpp"

namespace kurier::dkim {
namespace {

TEST(Relaxed, HeaderTable) {
  struct Row {
    const char* name;
    const char* value;
    const char* want;
  } rows[] = {
      {"Subject", " Hello  world ", "subject:Hello world\r\n"},
      {"SUBJECT ", "\tfolded\r\n\t line\r\n  again", "subject:folded line again\r\n"},
      {"From", "  Joe <j@x>\t", "from:Joe <j@x>\r\n"},
      {"X-Empty", "", "x-empty:\r\n"},
  };
  for (const auto& r : rows) EXPECT_EQ(RelaxedHeader(r.name, r.value), r.want) << r.value;
}

TEST(Relaxed, BodyTable) {
  struct Row {
    std::string in, want;
  } rows[] = {
      {"", ""},
      {"\r\n\r\n", ""},
      {"a  b \t\r\n", "a b\r\n"},
      {"line\r\n\r\n\r\n", "line\r\n"},
      {"no newline", "no newline\r\n"},
      {" leading\r\n", " leading\r\n"},
      {"x\r\n \r\ny\r\n", "x\r\n\r\ny\r\n"},
  };
  for (const auto& r : rows) EXPECT_EQ(RelaxedBody(r.in), r.want) << testing::PrintToString(r.in);
}

// RFC 8463 Appendix A: the RFC 6376 example message signed with the RFC 8032 7.1 key.
TEST(Sign, ReproducesRfc8463Ed25519Vector) {
  const std::string msg =
      "From: Joe SixPack <joe@football.example.com>\r\n"
      "To: Suzie Q <suzie@shopping.example.net>\r\n"
      "Subject: Is dinner ready?\r\n"
      "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
      "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
      "\r\n"
      "Hi.\r\n"
      "\r\n"
      "We lost the game.  Are you hungry yet?\r\n"
      "\r\n"
      "Joe.\r\n";
  auto key = PrivateKey::FromEd25519Seed("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->PublicKeyForDns(), "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
  SignOptions o;
  o.domain = "football.example.com";
  o.selector = "brisbane";
  o.identity = "@football.example.com";
  o.query_tag = true;
  o.timestamp = 1528637909;
  o.headers = {"from", "to", "subject", "date", "message-id", "from", "subject", "date"};
  o.header_separator = " : ";
  auto sig = Sign(msg, key.value(), o);
  ASSERT_TRUE(sig) << sig.error().message;
  std::string flat;
  for (char c : sig.value())
    if (c != '\r' && c != '\n' && c != '\t') flat += c;
  EXPECT_NE(flat.find("bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"), std::string::npos) << flat;
  std::string b = flat.substr(flat.find("b=", flat.find("bh=") + 3) + 2);
  b.erase(std::remove(b.begin(), b.end(), ' '), b.end());
  EXPECT_EQ(b, "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==");
}

TEST(Sign, DefaultHeadersOverSign) {
  std::string msg = "From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\nX-Other: o\r\nReceived: r\r\n\r\nbody\r\n";
  auto h = DefaultSignedHeaders(msg);
  EXPECT_EQ(std::count(h.begin(), h.end(), "from"), 2) << "From is signed once more than present";
  EXPECT_EQ(std::count(h.begin(), h.end(), "cc"), 1) << "absent Cc is signed as empty, so it cannot be added";
  EXPECT_EQ(std::count(h.begin(), h.end(), "x-other"), 0);
  EXPECT_EQ(std::count(h.begin(), h.end(), "received"), 0);
}

TEST(Sign, RsaKeyRoundTripAndFolding) {
  auto key = PrivateKey::Generate(Algorithm::kRsaSha256);
  ASSERT_TRUE(key);
  auto again = PrivateKey::FromPem(key->ToPem());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->PublicKeyForDns(), key->PublicKeyForDns());
  SignOptions o{"x.test", "sel", "", false, 1, {"from", "from"}, ":"};
  auto sig = Sign("From: a@x.test\r\n\r\nbody\r\n", again.value(), o);
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->rfind("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=sel; t=1;", 0), 0u) << *sig;
  size_t start = 0;
  while (start < sig->size()) {
    size_t end = sig->find("\r\n", start);
    EXPECT_LE(end - start, 78u) << "lines stay short: " << sig->substr(start, end - start);
    start = end + 2;
  }
  EXPECT_FALSE(PrivateKey::FromPem("not a key"));
  EXPECT_FALSE(PrivateKey::FromEd25519Seed("c2hvcnQ="));
}

}  // namespace
}  // namespace kurier::dkim

namespace kurier::dkim {
namespace {

// Ed25519 signatures come from libsodium; Ed25519 is deterministic, so for any key they must equal
// OpenSSL's own, octet for octet.
TEST(Sign, Ed25519SignaturesEqualOpenSsl) {
  for (int round = 0; round < 20; ++round) {
    auto key = PrivateKey::Generate(Algorithm::kEd25519Sha256);
    ASSERT_TRUE(key);
    ASSERT_NE(key->ed25519_secret(), nullptr);
    const std::string data = "dkim-signature:v=1; a=ed25519-sha256; round " + std::to_string(round);
    auto ours = SignCanonical(*key, data);
    ASSERT_TRUE(ours);
    unsigned char digest[32];
    unsigned n = 0;
    EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    ASSERT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key->native()), 1);
    unsigned char sig[64];
    size_t len = sizeof sig;
    ASSERT_EQ(EVP_DigestSign(ctx.get(), sig, &len, digest, n), 1);
    std::string folded = *ours;
    std::string b64;
    for (char c : folded)
      if (c != '\r' && c != '\n' && c != '\t' && c != ' ') b64 += c;
    EXPECT_EQ(b64, Base64Encode(std::string_view(reinterpret_cast<char*>(sig), len))) << "round " << round;
  }
}

}  // namespace
}  // namespace kurier::dkim
