// tls_context_test.cpp - the certificate pair checks and ServerTlsContext's reload rules: a pair is
// loaded once its files stopped changing, a bad pair keeps the context in use.
#include "smtp/server/tls_context.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>

namespace kurier::smtp::server {
namespace {

// A self-signed P-256 certificate for `cn`: (certificate PEM, key PEM).
std::pair<std::string, std::string> MakePair(const std::string& cn) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
  X509_sign(x.get(), key.get(), EVP_sha256());
  auto pem = [](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* p = nullptr;
    long n = BIO_get_mem_data(bio.get(), &p);
    return std::string(p, static_cast<size_t>(n));
  };
  return {pem([&](BIO* b) { PEM_write_bio_X509(b, x.get()); }),
          pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr); })};
}

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-tls-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    config_.tls_certificate = dir_ / "cert.pem";
    config_.tls_private_key = dir_ / "key.pem";
    config_.tls_min_version = "TLSv1.2";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Written beside and renamed over, as a renewal does (a new inode).
  void Put(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p.string() + ".new") << text;
    std::filesystem::rename(p.string() + ".new", p);
  }
  void Install(const std::pair<std::string, std::string>& pair) {
    Put(config_.tls_certificate, pair.first);
    Put(config_.tls_private_key, pair.second);
  }
  std::filesystem::path dir_;
  Config config_;
};

TEST_F(TlsContextTest, CheckNamesWhatIsWrong) {
  auto a = MakePair("a.test"), b = MakePair("b.test");
  struct Case {
    std::string cert, key, want;
  } cases[] = {
      {a.first, a.second, ""},
      {a.first, b.second, "is not the key of the certificate"},
      {a.second, a.first, "swapped"},
      {"hello\n", a.second, "holds no PEM certificate"},
      {a.first, "hello\n", "holds no PEM private key"},
  };
  for (const auto& c : cases) {
    Install({c.cert, c.key});
    auto r = CheckCertificatePair(config_.tls_certificate, config_.tls_private_key, "--tls-cert", "--tls-key");
    if (c.want.empty()) {
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->subject, "CN=a.test");
      EXPECT_TRUE(r->self_signed);
      EXPECT_FALSE(r->expired);
    } else {
      ASSERT_FALSE(r) << c.want;
      EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
      EXPECT_NE(r.error().message.find("--tls-"), std::string::npos) << r.error().message;
    }
  }
  auto missing = CheckCertificatePair(dir_ / "none.pem", config_.tls_private_key);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("tls.certificate " + (dir_ / "none.pem").string() + ": no such file"), std::string::npos)
      << missing.error().message;
}

TEST_F(TlsContextTest, ReloadsOnceTheFilesStoppedChangingAndKeepsTheOldOnBadFiles) {
  Install(MakePair("first.test"));
  ServerTlsContext tls(config_);
  ASSERT_TRUE(tls.Reload());
  auto first = tls.Current();
  ASSERT_TRUE(first);
  EXPECT_FALSE(tls.Poll());
  EXPECT_FALSE(tls.Poll());  // nothing changed

  Install(MakePair("second.test"));
  EXPECT_FALSE(tls.Poll());  // changed: wait one interval, it may be written half-way
  EXPECT_TRUE(tls.Poll());   // the same as last time: load it
  auto second = tls.Reload();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->subject, "CN=second.test");
  EXPECT_NE(tls.Current(), first);
  EXPECT_FALSE(tls.Poll());

  auto kept = tls.Current();
  Install({MakePair("third.test").first, MakePair("fourth.test").second});  // a key of another certificate
  EXPECT_FALSE(tls.Poll());
  EXPECT_TRUE(tls.Poll());
  auto bad = tls.Reload();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("is not the key"), std::string::npos) << bad.error().message;
  EXPECT_EQ(tls.Current(), kept);
  EXPECT_FALSE(tls.Poll());  // not tried again until the files change
  EXPECT_FALSE(tls.Poll());
}

}  // namespace
}  // namespace kurier::smtp::server
