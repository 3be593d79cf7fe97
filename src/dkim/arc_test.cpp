#include "dkim/arc.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>

#include "common/encoding.hpp"

namespace kurier::dkim {
namespace {

const std::string kMessage =
    "Received: from app.client.test ([192.0.2.1]) by relay.kurier.test\r\n"
    "From: Shop <orders@shop.test>\r\n"
    "To: buyer@example.net\r\n"
    "Subject: your order\r\n"
    "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    "Message-ID: <1@shop.test>\r\n"
    "\r\n"
    "Thank you.\r\n";

ArcSealOptions Options() {
  ArcSealOptions o;
  o.domain = "kurier.test";
  o.selector = "arc";
  o.authserv_id = "relay.kurier.test";
  o.timestamp = 1767225600;
  o.results = "arc=none smtp.remote-ip=192.0.2.1";
  return o;
}

const PrivateKey& RsaKey() {
  static const PrivateKey key = PrivateKey::Generate(Algorithm::kRsaSha256).value();
  return key;
}

// The value of tag `name` in a folded tag list ("" when absent), whitespace removed.
std::string Tag(std::string_view field, std::string_view name) {
  std::string flat;
  for (char c : field.substr(field.find(':') + 1))
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') flat += c;
  size_t pos = 0;
  while (pos < flat.size()) {
    size_t end = flat.find(';', pos);
    if (end == std::string::npos) end = flat.size();
    std::string item = flat.substr(pos, end - pos);
    if (item.rfind(std::string(name) + "=", 0) == 0) return item.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

// The field as the verifier hashes it: relaxed, its b= value removed, without the final CRLF (RFC 6376 3.7).
std::string WithoutSignature(const std::string& field) {
  auto colon = field.find(':');
  std::string relaxed = RelaxedHeader(field.substr(0, colon), field.substr(colon + 1, field.size() - colon - 3));
  auto b = relaxed.find(" b=");
  EXPECT_NE(b, std::string::npos) << field;
  relaxed.resize(b + 3);  // b= is the last tag
  return relaxed;
}

// An independent check of a signature over canonical bytes, with the public half of `key`.
bool Verifies(const PrivateKey& key, const std::string& canonical, const std::string& b64) {
  auto sig = Base64Decode(b64);
  if (!sig) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string data = canonical;
  const EVP_MD* md = EVP_sha256();
  if (key.algorithm() == Algorithm::kEd25519Sha256) {  // RFC 8463: Ed25519 over the SHA-256 hash
    unsigned char h[32];
    unsigned n = 0;
    EVP_Digest(canonical.data(), canonical.size(), h, &n, EVP_sha256(), nullptr);
    data.assign(reinterpret_cast<char*>(h), n);
    md = nullptr;
  }
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.native()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

// Both signatures of `set` checked against `message` as a receiver would (RFC 8617 5.2, one set).
void ExpectValid(const ArcSet& set, const std::string& message, const PrivateKey& key) {
  // AMS: the h= fields of the message, then the AMS itself without b=.
  std::vector<std::string> names;
  std::string h = Tag(set.message_signature, "h");
  for (size_t p = 0; p <= h.size();) {
    size_t e = std::min(h.find(':', p), h.size());
    names.push_back(h.substr(p, e - p));
    p = e + 1;
  }
  std::string ams_input = SelectedHeaders(ParseHeaders(message), names) + WithoutSignature(set.message_signature);
  EXPECT_EQ(Tag(set.message_signature, "bh"), BodyHash(message));
  EXPECT_TRUE(Verifies(key, ams_input, Tag(set.message_signature, "b"))) << "AMS does not verify:\n" << set.Headers();
  // AS: AAR, AMS, then the AS itself without b=.
  auto relaxed = [](const std::string& field) {
    auto colon = field.find(':');
    return RelaxedHeader(field.substr(0, colon), field.substr(colon + 1, field.size() - colon - 3));
  };
  std::string as_input = relaxed(set.authentication_results) + relaxed(set.message_signature) + WithoutSignature(set.seal);
  EXPECT_TRUE(Verifies(key, as_input, Tag(set.seal, "b"))) << "AS does not verify:\n" << set.Headers();
}

TEST(ArcSeal, FirstSetHasInstanceOneAndCvNone) {
  auto set = Seal(kMessage, RsaKey(), Options());
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->instance, 1);
  EXPECT_EQ(set->authentication_results,
            "ARC-Authentication-Results: i=1; relay.kurier.test;\r\n\tarc=none smtp.remote-ip=192.0.2.1\r\n");
  EXPECT_EQ(set->message_signature.rfind("ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=kurier.test;", 0), 0u)
      << set->message_signature;
  EXPECT_EQ(Tag(set->message_signature, "v"), "") << "the AMS has no v= tag (RFC 8617 4.1.2)";
  EXPECT_EQ(Tag(set->message_signature, "s"), "arc");
  EXPECT_EQ(Tag(set->message_signature, "t"), "1767225600");
  EXPECT_EQ(set->seal.rfind("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=kurier.test; s=arc; t=1767225600;", 0), 0u) << set->seal;
  EXPECT_EQ(Tag(set->seal, "h"), "") << "the AS has no h= (RFC 8617 4.1.3)";
  EXPECT_EQ(Tag(set->seal, "bh"), "");
  EXPECT_EQ(set->Headers(), set->seal + set->message_signature + set->authentication_results) << "ARC-Seal on top";
  for (const std::string* f : {&set->seal, &set->message_signature, &set->authentication_results}) {
    for (size_t start = 0; start < f->size();) {
      size_t end = f->find("\r\n", start);
      ASSERT_NE(end, std::string::npos);
      // h= stays on one line, as in kurier's DKIM signatures (legal up to 998 octets, RFC 5322 2.1.1)
      if (f->compare(start, 3, "\th=") != 0) {
        EXPECT_LE(end - start, 78u) << f->substr(start, end - start);
      }
      start = end + 2;
    }
  }
}

TEST(ArcSeal, SignaturesVerifyOverVariedMessages) {
  struct Row {
    const char* name;
    std::string message;
  } rows[] = {
      {"simple", kMessage},
      {"empty body", "From: a@shop.test\r\nTo: b@example.net\r\nSubject: empty\r\n\r\n"},
      {"no body at all", "From: a@shop.test\r\nSubject: x\r\n"},
      {"folded headers and spaces", "From: a@shop.test\r\nTo: b@example.net,\r\n\tc@example.net\r\n"
                                    "Subject:   lots   of\r\n   space\r\n\r\nline  with  spaces \t\r\n\r\n\r\n"},
      {"8-bit body", "From: a@shop.test\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\nGr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac\r\n"},
      {"repeated To", "From: a@shop.test\r\nTo: b@example.net\r\nTo: c@example.net\r\n\r\nx\r\n"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    auto set = Seal(r.message, RsaKey(), Options());
    ASSERT_TRUE(set) << set.error().message;
    ExpectValid(*set, r.message, RsaKey());
  }
}

TEST(ArcSeal, RefusesEd25519Keys) {
  auto ed = PrivateKey::Generate(Algorithm::kEd25519Sha256);
  ASSERT_TRUE(ed);
  auto set = Seal(kMessage, ed.value(), Options());
  ASSERT_FALSE(set) << "ARC verifiers accept rsa-sha256 only";
  EXPECT_NE(set.error().message.find("kurier dkim keygen --algorithm rsa"), std::string::npos) << set.error().message;
}

TEST(ArcSeal, AlteredMessageNoLongerMatches) {
  auto set = Seal(kMessage, RsaKey(), Options());
  ASSERT_TRUE(set);
  std::string body = kMessage;
  body.replace(body.find("Thank you."), 10, "Pay me now");
  EXPECT_NE(Tag(set->message_signature, "bh"), BodyHash(body)) << "a changed body changes bh=";
  std::string subject = kMessage;
  subject.replace(subject.find("your order"), 10, "YOUR ORDER");
  std::vector<std::string> names = DefaultSignedHeaders(kMessage);
  EXPECT_NE(SelectedHeaders(ParseHeaders(subject), names), SelectedHeaders(ParseHeaders(kMessage), names));
  std::string input = SelectedHeaders(ParseHeaders(subject), names) + WithoutSignature(set->message_signature);
  EXPECT_FALSE(Verifies(RsaKey(), input, Tag(set->message_signature, "b"))) << "a changed Subject breaks the AMS";
}

TEST(ArcSeal, AmsCoversDkimSignaturesButNoArcOrAuthenticationResults) {
  const std::string msg = "DKIM-Signature: v=1; a=rsa-sha256; d=shop.test; s=s; h=from; bh=x; b=y\r\n"
                          "Authentication-Results: relay.kurier.test; none\r\n" + kMessage;
  auto set = Seal(msg, RsaKey(), Options());
  ASSERT_TRUE(set) << set.error().message;
  std::string h = ":" + Tag(set->message_signature, "h") + ":";
  EXPECT_NE(h.find(":dkim-signature:"), std::string::npos) << h;
  EXPECT_NE(h.find(":from:"), std::string::npos) << h;
  EXPECT_EQ(h.find("arc-"), std::string::npos) << h;
  EXPECT_EQ(h.find("authentication-results"), std::string::npos) << h;
  ExpectValid(*set, msg, RsaKey());
}

TEST(ArcSeal, ResultsDefaultToNone) {
  ArcSealOptions o = Options();
  o.results.clear();
  auto set = Seal(kMessage, RsaKey(), o);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->authentication_results, "ARC-Authentication-Results: i=1; relay.kurier.test; none\r\n")
      << "short results stay on the first line";
}

TEST(ArcSeal, LongResultsAreFolded) {
  ArcSealOptions o = Options();
  o.results = "arc=none smtp.remote-ip=\"2001:db8:0:0:0:0:0:1\" reason=\"relayed for a trusted network\"";
  auto set = Seal(kMessage, RsaKey(), o);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->authentication_results, "ARC-Authentication-Results: i=1; relay.kurier.test;\r\n\t" + o.results + "\r\n");
  ExpectValid(*set, kMessage, RsaKey());
}

TEST(ArcSeal, RefusesToExtendAChainItCannotValidate) {
  struct Row {
    std::string headers;
    int want_instance;
  } rows[] = {
      {"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=a.test; s=s; b=x\r\n", 1},
      {"ARC-Seal: i=2; cv=pass; b=x\r\nARC-Message-Signature: i=2; b=y\r\nARC-Authentication-Results: i=2; a.test; none\r\n"
       "ARC-Seal: i=1; cv=none; b=x\r\n", 2},
      {"arc-authentication-results:  i = 3 ; mx.a.test; spf=pass\r\n", 3},
      {"ARC-Message-Signature: a=rsa-sha256;\r\n\ti=7; b=y\r\n", 7},
      {"ARC-Seal: garbage\r\n", 1},  // an unreadable i= still counts as a chain
      {"ARC-Seal: i=99; b=x\r\n", 1},  // beyond the RFC's 50
  };
  for (const auto& r : rows) {
    const std::string msg = r.headers + kMessage;
    EXPECT_EQ(HighestArcInstance(msg), r.want_instance) << r.headers;
    auto set = Seal(msg, RsaKey(), Options());
    ASSERT_FALSE(set) << r.headers;
    EXPECT_EQ(set.error().message, "message already carries an ARC chain (i=" + std::to_string(r.want_instance) +
                                       "); kurier does not validate incoming chains yet, so it does not extend them");
  }
  EXPECT_EQ(HighestArcInstance(kMessage), 0);
  EXPECT_EQ(HighestArcInstance("Subject: x\r\n\r\nARC-Seal: i=1; in the body\r\n"), 0) << "only the header section counts";
  EXPECT_EQ(HighestArcInstance("X-ARC-Seal: i=4\r\n\r\n"), 0);
}

TEST(ArcSeal, RefusesBadOptions) {
  struct Row {
    const char* what;
    void (*change)(ArcSealOptions&);
  } rows[] = {
      {"no domain", [](ArcSealOptions& o) { o.domain.clear(); }},
      {"no selector", [](ArcSealOptions& o) { o.selector.clear(); }},
      {"domain with ;", [](ArcSealOptions& o) { o.domain = "a.test; x=y"; }},
      {"no authserv-id", [](ArcSealOptions& o) { o.authserv_id.clear(); }},
      {"authserv-id with space", [](ArcSealOptions& o) { o.authserv_id = "mx a"; }},
      {"authserv-id with ;", [](ArcSealOptions& o) { o.authserv_id = "mx;arc=pass"; }},
      {"results with CRLF", [](ArcSealOptions& o) { o.results = "arc=none\r\nARC-Seal: i=1"; }},
      {"results with LF", [](ArcSealOptions& o) { o.results = "arc=none\nX: y"; }},
  };
  for (const auto& r : rows) {
    ArcSealOptions o = Options();
    r.change(o);
    auto set = Seal(kMessage, RsaKey(), o);
    EXPECT_FALSE(set) << r.what;
    if (!set) {
      EXPECT_EQ(set.error().code, ErrorCode::kInvalidArgument) << r.what;
    }
  }
}

}  // namespace
}  // namespace kurier::dkim
