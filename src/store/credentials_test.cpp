// Issuing API keys and SMTP credentials, and the rules for scopes and names (shared by CLI and API).
#include "store/credentials.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/encoding.hpp"
#include "store/password.hpp"
#include "store/store_test_backends.hpp"

namespace kurier::store {
namespace {

TEST(Credentials, NormalizeScopes) {
  struct Row {
    const char* in;
    const char* want;  // nullptr: refused
  } rows[] = {
      {"send", "send"},
      {"read send", "send read"},
      {"admin read send read", "send read admin"},
      {"send,read", "send read"},
      {"  send  ", "send"},
      {"", nullptr},
      {"   ", nullptr},
      {"send write", nullptr},
      {"Send", nullptr},
      {"sendread", nullptr},
  };
  for (const auto& r : rows) {
    auto got = NormalizeScopes(r.in);
    if (!r.want) {
      ASSERT_FALSE(got) << "'" << r.in << "' was accepted as '" << got.value() << "'";
      EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
    } else {
      ASSERT_TRUE(got) << r.in << ": " << got.error().message;
      EXPECT_EQ(got.value(), r.want) << r.in;
    }
  }
  EXPECT_EQ(SplitScopes("admin send"), (std::vector<std::string>{"send", "admin"}));
}

TEST(Credentials, NameRules) {
  struct Row {
    std::optional<std::string> (*check)(std::string_view);
    std::string name;
    bool ok;
  } rows[] = {
      {AccountNameProblem, "default", true},
      {AccountNameProblem, "shop-1.example_x+y@z", true},
      {AccountNameProblem, "", false},
      {AccountNameProblem, std::string(65, 'a'), false},
      {AccountNameProblem, std::string(64, 'a'), true},
      {AccountNameProblem, "has space", false},
      {AccountNameProblem, "a/b", false},
      {AccountNameProblem, "a%2Fb", false},
      {AccountNameProblem, "caf\xc3\xa9", false},
      {AccountNameProblem, std::string("a\0b", 3), false},
      {SmtpUsernameProblem, "shop-mailer", true},
      {SmtpUsernameProblem, "user@shop.example", true},
      {SmtpUsernameProblem, "caf\xc3\xa9", true},
      {SmtpUsernameProblem, "", false},
      {SmtpUsernameProblem, "a b", false},
      {SmtpUsernameProblem, "a\tb", false},
      {SmtpUsernameProblem, "a\r\nb", false},
      {SmtpUsernameProblem, std::string("a\0b", 3), false},
      {SmtpUsernameProblem, std::string(129, 'u'), false},
      {ApiKeyNameProblem, "shop backend", true},
      {ApiKeyNameProblem, "", false},
      {ApiKeyNameProblem, "line\nbreak", false},
      {ApiKeyNameProblem, std::string(65, 'k'), false},
  };
  for (const auto& r : rows) EXPECT_EQ(!r.check(r.name).has_value(), r.ok) << "'" << r.name << "'";
}

class IssueTest : public ::testing::TestWithParam<testing::StoreBackend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-credentials-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto s = GetParam().open(dir_, StoreOptions{});
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s.value());
    ASSERT_TRUE(store_->CreateAccount("shop"));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(IssueTest, ApiKeyIsStoredOnlyAsItsHash) {
  auto k = IssueApiKey(*store_, "shop", "backend", "read send");
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->secret.substr(0, 3), "kr_");
  EXPECT_GE(k->secret.size(), 40u);
  EXPECT_EQ(k->key.scopes, "send read");
  EXPECT_EQ(k->key.prefix, k->secret.substr(0, 10));
  EXPECT_EQ(k->key.key_hash, HashHex(k->secret));
  auto found = store_->FindApiKeyByHash(HashHex(k->secret));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->id, k->key.id);
  EXPECT_EQ((*found)->account, "shop");
  auto other = IssueApiKey(*store_, "shop", "backend", "send");
  ASSERT_TRUE(other);
  EXPECT_NE(other->secret, k->secret);

  EXPECT_FALSE(IssueApiKey(*store_, "shop", "x", "write"));
  EXPECT_FALSE(IssueApiKey(*store_, "shop", "", "send"));
  auto nobody = IssueApiKey(*store_, "nobody", "x", "send");
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, ErrorCode::kNotFound);
}

TEST(Credentials, GeneratedPasswordsNeverLookLikeAnOption) {
  // One in 64 base64url strings starts with '-': 5000 tries would meet about 78 of them.
  for (int i = 0; i < 5000; ++i) {
    const std::string p = GenerateSmtpPassword();
    ASSERT_EQ(p.size(), 24u);
    ASSERT_NE(p.front(), '-') << p;
  }
}

TEST_P(IssueTest, SmtpCredentialHasAGeneratedPassword) {
  auto c = IssueSmtpCredential(*store_, "shop", "shop-mailer");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->credential.username, "shop-mailer");
  EXPECT_GE(c->password.size(), 24u);
  auto found = store_->FindSmtpCredential("shop-mailer");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->password_hash.find(c->password), std::string::npos);
  EXPECT_TRUE(VerifyPassword((*found)->password_hash, c->password));

  auto dup = IssueSmtpCredential(*store_, "shop", "shop-mailer");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto bad = IssueSmtpCredential(*store_, "shop", "has space");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);

  auto generated = IssueSmtpCredential(*store_, "shop", "");
  ASSERT_TRUE(generated) << generated.error().message;
  EXPECT_EQ(generated->credential.username.substr(0, 5), "shop-");
  EXPECT_GT(generated->credential.username.size(), 5u);
}

INSTANTIATE_TEST_SUITE_P(Backends, IssueTest, ::testing::ValuesIn(testing::StoreBackends()), testing::BackendName);

}  // namespace
}  // namespace kurier::store
