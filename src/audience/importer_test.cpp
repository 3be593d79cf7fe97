// importer_test.cpp - the contacts import from bytes to a real (SQLite) store: fed in chunks of every
// size it saves the same contacts; batches commit as they fill; the charset is detected from the start
// of the file; rejected rows are counted in full and the first 100 kept; a header without an address
// column stops it before anything is saved.
#include "audience/importer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace kurier::audience {
namespace {

class ImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-importer-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = store::OpenStore("sqlite", (dir_ / "kurier.db").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s.value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Result<ImportReport> Run(const std::string& file, std::size_t chunk, ImportOptions opt = {}) {
    opt.account = "shop";
    ContactImporter imp(*store_, opt);
    for (std::size_t at = 0; at < file.size(); at += chunk)
      if (auto r = imp.Feed(std::string_view(file).substr(at, chunk)); !r) return r.error();
    return imp.Finish();
  }
  int64_t Count() { return store_->CountContacts(store::ContactQuery{"shop"}).value(); }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(ImporterTest, EveryChunkSizeSavesTheSameContacts) {
  std::string file = "\xEF\xBB\xBF" "E-mail,Imię,Nazwisko,\"Uwagi, różne\"\r\n";
  for (int i = 0; i < 300; ++i)
    file += "user" + std::to_string(i) + "@example.pl,Łucja,\"Nowak \"\"N\"\"\"," + (i % 7 ? "" : "\"linia\r\ndruga\"") + "\r\n";
  file += "broken\"@example.pl,x,y,z\r\nlast@example.pl,Ostatni,,\n";
  for (std::size_t chunk : {1, 2, 3, 7, 64, 4096, 1 << 20}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    TearDown();
    SetUp();
    ImportOptions opt;
    opt.batch = 50;
    auto r = Run(file, chunk, opt);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->rows, 302);
    EXPECT_EQ(r->saved.created, 301);
    EXPECT_EQ(r->rejected_count, 1);
    ASSERT_EQ(r->rejected.size(), 1u);
    EXPECT_EQ(r->rejected[0].rfind("line ", 0), 0u) << r->rejected[0];
    EXPECT_EQ(r->charset, "utf-8");
    EXPECT_EQ(Count(), 301);
    auto c = store_->FindContact("shop", "user7@example.pl");
    ASSERT_TRUE(c && *c);
    EXPECT_EQ((*c)->name, "Łucja Nowak \"N\"");
    EXPECT_NE((*c)->attributes.find("linia"), std::string::npos) << (*c)->attributes;
  }
}

TEST_F(ImporterTest, TheCharsetIsDetectedAndRejectionsAreCountedInFull) {
  // windows-1250: "Łódź" is A3 F3 64 9F; 250 rows without an address.
  std::string file = "email;miasto\r\nola@example.pl;\xA3\xF3" "d\x9F\r\n";
  for (int i = 0; i < 250; ++i) file += "no-address-" + std::to_string(i) + ";x\r\n";
  auto r = Run(file, 1000);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->charset, "windows-1250");
  EXPECT_EQ(r->delimiter, ';');
  EXPECT_EQ(r->saved.created, 1);
  EXPECT_EQ(r->rejected_count, 250);
  EXPECT_EQ(r->rejected.size(), ImportReport::kMaxRejected);
  auto c = store_->FindContact("shop", "ola@example.pl");
  ASSERT_TRUE(c && *c);
  EXPECT_NE((*c)->attributes.find("Łódź"), std::string::npos) << (*c)->attributes;
}

TEST_F(ImporterTest, AHeaderWithoutAnAddressStopsBeforeAnythingIsSaved) {
  auto r = Run("name,city\r\nAnn,Paris\r\n", 5);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("city"), std::string::npos) << r.error().message;
  EXPECT_EQ(Count(), 0);
  auto empty = Run("", 5);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty"), std::string::npos) << empty.error().message;
}

TEST_F(ImporterTest, ContactsGoOntoTheListInEveryBatch) {
  store::ContactList l;
  l.account = "shop";
  l.name = "all";
  auto list = store_->CreateList(l);
  ASSERT_TRUE(list);
  std::string file = "email\n";
  for (int i = 0; i < 120; ++i) file += "u" + std::to_string(i) + "@example.com\n";
  ImportOptions opt;
  opt.batch = 25;
  opt.list_id = list->id;
  auto r = Run(file, 333, opt);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->saved.added_to_list, 120);
  auto after = store_->FindList("shop", list->id);
  ASSERT_TRUE(after && *after);
  EXPECT_EQ((*after)->subscribed, 120);
}

}  // namespace
}  // namespace kurier::audience
