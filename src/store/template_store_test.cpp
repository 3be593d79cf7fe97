// Store tests for templates and their versions: one body, run against every backend.
#include <gtest/gtest.h>
#include <unistd.h>

#include "store/store.hpp"
#include "store/store_test_backends.hpp"

namespace kurier::store {
namespace {

class TemplateStoreTest : public ::testing::TestWithParam<testing::StoreBackend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-template-store-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto s = GetParam().open(dir_, StoreOptions{});
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s.value());
    ASSERT_TRUE(store_->CreateAccount("shop"));
    ASSERT_TRUE(store_->CreateAccount("other"));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  static TemplateVersion Content(const std::string& subject) { return TemplateVersion{0, subject, "text", "<p>html</p>", 0}; }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(TemplateStoreTest, VersionsArePublishedAndPinnedByNumber) {
  auto t = store_->CreateTemplate("shop", "welcome", Content("v1 {{name}}"), true);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->id.rfind("tmpl_", 0), 0u);
  EXPECT_EQ(t->published_version, 1);
  EXPECT_EQ(t->latest_version, 1);

  TemplateUpdate draft;
  draft.content = Content("v2");
  auto u = store_->UpdateTemplate("shop", t->id, draft);
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->latest_version, 2);
  EXPECT_EQ(u->published_version, 1);  // a new version is a draft unless published
  ASSERT_EQ(u->versions.size(), 2u);
  EXPECT_EQ(u->versions[1].version, 2);

  TemplateUpdate published;
  published.content = Content("v3");
  published.publish = true;
  u = store_->UpdateTemplate("shop", t->id, published);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->published_version, 3);

  ASSERT_TRUE(store_->PublishTemplateVersion("shop", t->id, 2));
  auto found = store_->FindTemplate("shop", "WELCOME");  // names are case-insensitive
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->id, t->id);
  EXPECT_EQ((*found)->published_version, 2);
  EXPECT_EQ((*found)->latest_version, 3);

  auto v1 = store_->FindTemplateVersion("shop", t->id, 1);
  ASSERT_TRUE(v1 && *v1);
  EXPECT_EQ((*v1)->subject, "v1 {{name}}");  // versions never change
  EXPECT_EQ((*v1)->html, "<p>html</p>");
  auto v9 = store_->FindTemplateVersion("shop", t->id, 9);
  ASSERT_TRUE(v9);
  EXPECT_FALSE(*v9);
  auto bad = store_->PublishTemplateVersion("shop", t->id, 9);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kNotFound);
}

TEST_P(TemplateStoreTest, NamesAreUniquePerAccountAndAccountsAreIsolated) {
  auto a = store_->CreateTemplate("shop", "welcome", Content("a"), true);
  ASSERT_TRUE(a);
  auto dup = store_->CreateTemplate("shop", "Welcome", Content("b"), true);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto theirs = store_->CreateTemplate("other", "welcome", Content("c"), false);  // same name, other account
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->published_version, 0);

  auto cross = store_->FindTemplate("other", a->id);
  ASSERT_TRUE(cross);
  EXPECT_FALSE(*cross);
  auto cross_version = store_->FindTemplateVersion("other", a->id, 1);
  ASSERT_TRUE(cross_version);
  EXPECT_FALSE(*cross_version);
  EXPECT_FALSE(store_->PublishTemplateVersion("other", a->id, 1));
  EXPECT_FALSE(store_->DeleteTemplate("other", a->id));
  TemplateUpdate rename;
  rename.name = "hijacked";
  EXPECT_FALSE(store_->UpdateTemplate("other", a->id, rename));

  ASSERT_TRUE(store_->CreateTemplate("shop", "receipt", Content("r"), true));
  rename.name = "receipt";
  auto taken = store_->UpdateTemplate("shop", a->id, rename);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kAlreadyExists);
  rename.name = "hello";
  auto renamed = store_->UpdateTemplate("shop", a->id, rename);
  ASSERT_TRUE(renamed) << renamed.error().message;
  EXPECT_EQ(renamed->name, "hello");
  EXPECT_EQ(renamed->latest_version, 1);  // a rename alone adds no version

  auto list = store_->ListTemplates("shop");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "hello");
  EXPECT_EQ((*list)[1].name, "receipt");

  ASSERT_TRUE(store_->DeleteTemplate("shop", a->id));
  auto gone = store_->FindTemplateVersion("shop", a->id, 1);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  EXPECT_FALSE(store_->DeleteTemplate("shop", a->id));
  ASSERT_TRUE(store_->RemoveAccount("other"));  // its templates go with it
  auto none = store_->ListTemplates("other");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, TemplateStoreTest, ::testing::ValuesIn(testing::StoreBackends()), testing::BackendName);

}  // namespace
}  // namespace kurier::store
