// Store tests: one body, run against every backend (SQLite today; PostgreSQL joins the list).
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "store/password.hpp"

namespace kurier::store {
namespace {

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-store-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto s = OpenStore(GetParam(), dir_ / "kurier.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s.value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, AccountsAndSenderDomains) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  auto dup = store_->CreateAccount("shop");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(store_->CreateAccount("has space"));
  ASSERT_TRUE(store_->AddSenderDomain("shop", "Shop.Example"));
  ASSERT_TRUE(store_->AddSenderDomain("shop", "shop.example"));  // idempotent, case-insensitive
  ASSERT_TRUE(store_->AddSenderDomain("shop", "other.example"));
  auto a = store_->FindAccount("shop");
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->sender_domains, (std::vector<std::string>{"other.example", "shop.example"}));
  ASSERT_TRUE(store_->RemoveSenderDomain("shop", "other.example"));
  EXPECT_FALSE(store_->RemoveSenderDomain("shop", "other.example"));
  EXPECT_FALSE(store_->AddSenderDomain("nobody", "x.example"));
  auto missing = store_->FindAccount("nobody");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_P(StoreTest, CredentialsAreHashedAndRemovedWithTheirAccount) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  auto hash = HashPassword("s3cret");
  ASSERT_TRUE(hash);
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  ASSERT_TRUE(store_->AddSmtpCredential("shop", "wp", hash.value()));
  EXPECT_FALSE(store_->AddSmtpCredential("shop", "wp", hash.value()));
  auto c = store_->FindSmtpCredential("wp");
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->account, "shop");
  EXPECT_TRUE(VerifyPassword((*c)->password_hash, "s3cret"));
  EXPECT_FALSE(VerifyPassword((*c)->password_hash, "s3cret "));
  ASSERT_TRUE(store_->RemoveAccount("shop"));
  auto gone = store_->FindSmtpCredential("wp");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

TEST_P(StoreTest, ApiKeysAndEvents) {
  ASSERT_TRUE(store_->CreateAccount("shop"));
  ApiKey k;
  k.account = "shop";
  k.name = "ci";
  k.prefix = "kr_abc";
  k.key_hash = "00ff";
  k.scopes = "send read";
  auto created = store_->CreateApiKey(k);
  ASSERT_TRUE(created);
  ASSERT_TRUE(store_->RevokeApiKey(created->id));
  EXPECT_FALSE(store_->RevokeApiKey(created->id));
  auto keys = store_->ListApiKeys("shop");
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_TRUE(keys->front().revoked);
  EXPECT_TRUE(keys->front().key_hash.empty()) << "listings never carry the hash";

  ASSERT_TRUE(store_->AppendEvents({Event{0, 1, "accepted", "m1", "shop", R"({"a":1})"},
                                    Event{0, 2, "auth_failed", "", "shop", "{}"},
                                    Event{0, 3, "accepted", "m2", "shop", "{}"}}));
  EventFilter f;
  f.type = "accepted";
  auto accepted = store_->ListEvents(f);
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->size(), 2u);
  EXPECT_EQ(accepted->at(0).message_id, "m1");
  EXPECT_EQ(accepted->at(0).data, R"({"a":1})");
  f = EventFilter{};
  f.message_id = "m2";
  auto m2 = store_->ListEvents(f);
  ASSERT_TRUE(m2);
  ASSERT_EQ(m2->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite"));

}  // namespace
}  // namespace kurier::store
