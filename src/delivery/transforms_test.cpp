// Outgoing transforms: From: domain, VERP return path, DKIM signing with a key cache (fake clock), the
// message transform, and that an unchanged message goes out without a copy.
#include "delivery/transforms.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "bounce/verp.hpp"
#include "common/ids.hpp"
#include "common/secret.hpp"
#include "mime/parse.hpp"
#include "smtp/proto/client_session.hpp"
#include "spool/spool.hpp"
#include "store/store.hpp"
#include "tracking/token.hpp"

namespace kurier::delivery {
namespace {

TEST(Transforms, FromDomain) {
  // message -> the domain DKIM signs for
  const std::pair<const char*, const char*> cases[] = {
      {"From: Ann <ann@Example.COM>\r\nTo: b@x.test\r\n\r\nbody\r\n", "example.com"},
      {"To: b@x.test\r\nfrom: ann@plain.test\r\n\r\n", "plain.test"},
      {"From: \"Ann\"\r\n <ann@folded.test>\r\n\r\n", "folded.test"},
      {"To: b@x.test\r\n\r\nFrom: ann@body.test\r\n", ""},  // in the body: not a header field
      {"From: undisclosed\r\n\r\n", ""},
  };
  for (const auto& [message, domain] : cases) EXPECT_EQ(FromDomain(message), domain) << message;
}

TEST(Transforms, NeedsSmtpUtf8) {
  spool::SpoolMessage m;
  m.mail_from = "a@x.test";
  m.recipients = {"b@x.test"};
  EXPECT_FALSE(NeedsSmtpUtf8(m));
  m.recipients.push_back("jörg@x.test");
  EXPECT_TRUE(NeedsSmtpUtf8(m));
}

struct Fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("kurier-transforms-test-" + std::to_string(::getpid()));
  Config config;
  int64_t now = 1'700'000'000'000'000;
  int listings = 0;
  std::vector<store::DkimKey> keys;
  std::unique_ptr<Transforms> t;

  Fixture() {
    std::filesystem::create_directories(dir);
    config.secret_file = dir / "secret";
    config.hostname = "mta.test";
    auto key = dkim::PrivateKey::Generate(dkim::Algorithm::kEd25519Sha256);
    std::ofstream(dir / "k.pem") << key->ToPem();
    store::DkimKey k;
    k.domain = "sender.test";
    k.selector = "s1";
    k.key_path = (dir / "k.pem").string();
    keys.push_back(k);
    t = std::make_unique<Transforms>(
        config,
        [this]() -> Result<std::vector<store::DkimKey>> {
          ++listings;
          return keys;
        },
        [this] { return now; });
    EXPECT_TRUE(t->Load());
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  spool::SpoolMessage Message(std::string from, std::string data) {
    spool::SpoolMessage m;
    m.id = NewQueueId();
    m.mail_from = std::move(from);
    m.recipients = {"r@x.test"};
    m.credential = "user";
    m.body_type = "7BIT";
    m.data = std::move(data);
    return m;
  }
};

TEST(Transforms, ReturnPathIsASignedVerpAddressForSendingDomains) {
  Fixture f;
  auto m = f.Message("Ann@Sender.test", "From: ann@sender.test\r\n\r\nhi\r\n");
  std::string rp = f.t->ReturnPath(m);
  ASSERT_NE(rp.find("@bounces.sender.test"), std::string::npos) << rp;
  auto secret = LoadOrCreateSecret(f.config.secret_file);
  ASSERT_TRUE(secret);
  EXPECT_EQ(bounce::VerpMessageId(*secret, rp.substr(0, rp.find('@'))).value_or(""), m.id);
  EXPECT_EQ(f.t->ReturnPath(f.Message("ann@other.test", "")), "ann@other.test");  // no keys: as given
  EXPECT_EQ(f.t->ReturnPath(f.Message("", "")), "");                             // the null sender stays
}

TEST(Transforms, SealSignsWithTheFromDomainsKeysAndLeavesOtherMailUncopied) {
  Fixture f;
  auto m = f.Message("ann@sender.test", "From: ann@sender.test\r\nSubject: s\r\n\r\nhi\r\n");
  Transforms::Prepared p;
  smtp::proto::OutboundMessage om;
  f.t->Track(m, 0, p);
  f.t->Seal(m, p, om);
  EXPECT_EQ(p.selectors, std::vector<std::string>{"s1"});
  EXPECT_EQ(om.data.substr(0, 15), "DKIM-Signature:");
  EXPECT_EQ(om.data.data(), p.signed_data.data());
  EXPECT_EQ(om.data.substr(om.data.size() - m.data.size()), m.data);

  auto other = f.Message("ann@other.test", "From: ann@other.test\r\n\r\nhi\r\n");
  Transforms::Prepared q;
  smtp::proto::OutboundMessage om2;
  f.t->Seal(other, q, om2);
  EXPECT_TRUE(q.selectors.empty());
  EXPECT_EQ(om2.data.data(), other.data.data());  // the stored message itself: no copy
  EXPECT_EQ(om2.mail_from, "ann@other.test");
  EXPECT_FALSE(om2.eight_bit);
}

TEST(Transforms, KeysAreReloadedAfterAMinute) {
  Fixture f;
  auto m = f.Message("ann@sender.test", "");
  f.t->ReturnPath(m);
  f.t->ReturnPath(m);
  EXPECT_EQ(f.listings, 1);
  f.keys.clear();  // the key was retired meanwhile
  f.now += 61'000'000;
  EXPECT_EQ(f.t->ReturnPath(m), "ann@sender.test");
  EXPECT_EQ(f.listings, 2);
}

// Tracking as mail leaves: an SMTP submission whose account tracks clicks leaves with its link rewritten
// to a token naming its recipient, signed with the rest of the copy; untracked mail leaves as stored.
TEST(Transforms, TrackingChangesTheCopyThatLeaves) {
  Fixture f;
  tracking::Outbound out;
  out.link_base = "https://t.{domain}";
  out.key = std::make_shared<const tracking::Key>(tracking::Key::FromSecret("0123456789abcdef0123456789abcdef").value());
  out.account_defaults = [](const std::string&) { return tracking::AccountDefaults::Values{false, true, false}; };
  f.t->SetTracking(out);
  auto m = f.Message("ann@other.test",
                     "From: ann@other.test\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
                     "<a href=\"https://shop.test/x\">x</a>\r\n");
  m.account = "acme";
  m.credential = "smtp-user";
  Transforms::Prepared p;
  smtp::proto::OutboundMessage om;
  f.t->Track(m, 3, p);
  f.t->Seal(m, p, om);
  EXPECT_TRUE(p.changed.per_recipient);
  // The rewritten HTML part is re-encoded as quoted-printable (soft line breaks): read it decoded.
  const std::string wire = mime::DecodeQuotedPrintable(mime::SplitHeaderBody(om.data).second);
  const auto at = wire.find("https://t.other.test/t/c/");
  ASSERT_NE(at, std::string::npos) << wire;
  const std::string token = wire.substr(at + 25, wire.find('"', at) - at - 25);
  auto opened = tracking::OpenToken(*out.key, token);
  ASSERT_TRUE(opened) << token;
  EXPECT_EQ(opened->recipient_index, 3u);
  EXPECT_EQ(opened->url, "https://shop.test/x");

  m.credential.clear();  // relayed mail is someone else's: it leaves as stored, without a copy
  Transforms::Prepared relayed;
  f.t->Track(m, 0, relayed);
  EXPECT_TRUE(relayed.changed.data.empty());
  EXPECT_FALSE(relayed.changed.per_recipient);
}

}  // namespace
}  // namespace kurier::delivery
