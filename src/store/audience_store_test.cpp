// Store tests for contacts, lists and memberships (audience.hpp): one body, run against every backend
// (store_test_backends.hpp), so SQLite and PostgreSQL cannot disagree on what a batch saves, what a
// listing returns or what status a suppression gives a contact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "store/store.hpp"
#include "store/store_test_backends.hpp"

namespace kurier::store {
namespace {

class AudienceStoreTest : public ::testing::TestWithParam<testing::StoreBackend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-audience-store-test-" + std::to_string(::getpid()));
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
  ContactSaveCounts Save(const std::vector<ContactWrite>& contacts, ContactSaveOptions options = {},
                         const std::string& account = "shop") {
    auto r = store_->SaveContacts(account, contacts, options);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : ContactSaveCounts{-1, -1, -1, -1};
  }
  Contact Find(const std::string& id_or_address, const std::string& account = "shop") {
    auto c = store_->FindContact(account, id_or_address);
    EXPECT_TRUE(c) << c.error().message;
    if (!c || !*c) {
      ADD_FAILURE() << "no contact " << id_or_address;
      return Contact{};
    }
    return **c;
  }
  std::vector<std::string> Addresses(ContactQuery q) {
    auto r = store_->ListContacts(q);
    EXPECT_TRUE(r) << r.error().message;
    std::vector<std::string> out;
    if (r)
      for (const auto& c : *r) out.push_back(c.address);
    return out;
  }
  static boost::json::value Json(const std::string& text) { return boost::json::parse(text); }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

std::string Counts(const ContactSaveCounts& c) {
  return std::to_string(c.created) + " created, " + std::to_string(c.updated) + " updated, " +
         std::to_string(c.skipped) + " skipped, " + std::to_string(c.added_to_list) + " added";
}

TEST_P(AudienceStoreTest, BatchesCreateMergeReplaceAndSkip) {
  // A duplicate address in one batch merges into its first row.
  EXPECT_EQ(Counts(Save({{"ann@example.com", "Ann", R"({"city":"Kraków","plan":"free"})"},
                         {"bob@example.com", "", "{}"},
                         {"ann@example.com", "", R"({"plan":"pro"})"}})),
            "2 created, 0 updated, 0 skipped, 0 added");
  Contact ann = Find("ann@example.com");
  EXPECT_EQ(ann.name, "Ann");
  EXPECT_EQ(Json(ann.attributes), Json(R"({"city":"Kraków","plan":"pro"})"));
  EXPECT_EQ(ann.status, "active");
  EXPECT_GT(ann.created_at, 0);

  // kMerge: a name given replaces, an empty one keeps; attributes merge key by key.
  EXPECT_EQ(Counts(Save({{"ann@example.com", "", R"({"age":"40"})"}, {"cy@example.com", "Cy", "{}"}})),
            "1 created, 1 updated, 0 skipped, 0 added");
  EXPECT_EQ(Find("ann@example.com").name, "Ann");
  EXPECT_EQ(Json(Find("ann@example.com").attributes), Json(R"({"city":"Kraków","plan":"pro","age":"40"})"));

  ContactSaveOptions skip;
  skip.mode = ContactSaveOptions::Mode::kSkip;
  EXPECT_EQ(Counts(Save({{"ann@example.com", "Other", R"({"x":"1"})"}, {"dee@example.com", "", "{}"}}, skip)),
            "1 created, 0 updated, 1 skipped, 0 added");
  EXPECT_EQ(Find("ann@example.com").name, "Ann");

  ContactSaveOptions replace;
  replace.mode = ContactSaveOptions::Mode::kReplace;
  EXPECT_EQ(Counts(Save({{"ann@example.com", "Anna", R"({"x":"1"})"}}, replace)), "0 created, 1 updated, 0 skipped, 0 added");
  EXPECT_EQ(Find("ann@example.com").name, "Anna");
  EXPECT_EQ(Json(Find("ann@example.com").attributes), Json(R"({"x":"1"})"));

  // By id as well as by address; another account sees nothing.
  EXPECT_EQ(Find(std::to_string(ann.id)).address, "ann@example.com");
  auto none = store_->FindContact("other", "ann@example.com");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST_P(AudienceStoreTest, ListingsPageSearchAndFilter) {
  std::vector<ContactWrite> batch;
  for (int i = 0; i < 25; ++i) batch.push_back({"user" + std::to_string(100 + i) + "@example.com", "", "{}"});
  batch.push_back({"zofia@example.pl", "Zofia Wójcik", "{}"});
  batch.push_back({"under_score@example.com", "", "{}"});
  Save(batch);
  Save({{"user100@example.com", "", "{}"}}, {}, "other");

  // Pages by id, with the cursor.
  ContactQuery q;
  q.account = "shop";
  q.limit = 10;
  std::vector<std::string> all;
  for (int page = 0; page < 5; ++page) {
    auto r = store_->ListContacts(q);
    ASSERT_TRUE(r) << r.error().message;
    if (r->empty()) break;
    for (const auto& c : *r) all.push_back(c.address);
    q.after_id = r->back().id;
  }
  EXPECT_EQ(all.size(), 27u);
  EXPECT_EQ(all.front(), "user100@example.com");
  EXPECT_EQ(store_->CountContacts(ContactQuery{"shop"}).value(), 27);

  // Search: a piece of the address or the name, any case; LIKE's own characters taken literally.
  EXPECT_EQ(Addresses({"shop", "Zofia"}), std::vector<std::string>{"zofia@example.pl"});
  EXPECT_EQ(Addresses({"shop", "ZOFIA"}), std::vector<std::string>{"zofia@example.pl"});
  EXPECT_EQ(Addresses({"shop", "r_s"}), std::vector<std::string>{"under_score@example.com"});
  EXPECT_EQ(Addresses({"shop", "%"}), std::vector<std::string>{});
  EXPECT_EQ(Addresses({"shop", "' OR 1=1 --"}), std::vector<std::string>{});
  EXPECT_EQ(store_->CountContacts(ContactQuery{"shop", "user12"}).value(), 5);
}

TEST_P(AudienceStoreTest, StatusFollowsTheSuppressionList) {
  Save({{"a@example.com", "", "{}"}, {"b@example.com", "", "{}"}, {"c@example.com", "", "{}"},
        {"d@example.com", "", "{}"}, {"e@example.com", "", "{}"}});
  ASSERT_TRUE(store_->AddSuppression({"shop", "a@example.com", "unsubscribe", "", "", 1}));
  ASSERT_TRUE(store_->AddSuppression({"shop", "b@example.com", "complaint", "", "", 1}));
  ASSERT_TRUE(store_->AddSuppression({"shop", "c@example.com", "hard_bounce", "", "", 1}));
  ASSERT_TRUE(store_->AddSuppression({"", "d@example.com", "manual", "", "", 1}));   // the global list
  ASSERT_TRUE(store_->AddSuppression({"other", "e@example.com", "complaint", "", "", 1}));  // another account's
  EXPECT_EQ(Find("a@example.com").status, "unsubscribed");
  EXPECT_EQ(Find("b@example.com").status, "complained");
  EXPECT_EQ(Find("c@example.com").status, "bounced");
  EXPECT_EQ(Find("d@example.com").status, "suppressed");
  EXPECT_EQ(Find("e@example.com").status, "active");
  ContactQuery active{"shop"};
  active.status = "active";
  EXPECT_EQ(Addresses(active), std::vector<std::string>{"e@example.com"});
  EXPECT_EQ(store_->CountContacts(active).value(), 1);
  ASSERT_TRUE(store_->RemoveSuppression("shop", "a@example.com"));
  EXPECT_EQ(Find("a@example.com").status, "active");
  // A hard bounce event suppresses the address (event_rules), and the contact reads as bounced.
  ASSERT_TRUE(store_->AppendEvents({Event{0, 10, "bounced", "m1", "shop",
                                          R"({"recipient":"E@example.com","classification":"hard","reason":"user_unknown"})"}}));
  EXPECT_EQ(Find("e@example.com").status, "bounced");
}

TEST_P(AudienceStoreTest, ListsHoldMembersWithConsent) {
  ContactList l;
  l.account = "shop";
  l.name = "Newsletter";
  l.double_opt_in = true;
  auto list = store_->CreateList(l);
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->id.rfind("list_", 0), 0u);
  l.name = "NEWSLETTER";
  EXPECT_EQ(store_->CreateList(l).error().code, ErrorCode::kAlreadyExists);
  l.account = "other";
  ASSERT_TRUE(store_->CreateList(l));  // another account may use the name

  ContactSaveOptions onto;
  onto.list_id = list->id;
  onto.consent = R"({"source":"import:customers.csv"})";
  EXPECT_EQ(Counts(Save({{"a@example.com", "", "{}"}, {"b@example.com", "", "{}"}}, onto)),
            "2 created, 0 updated, 0 skipped, 2 added");
  onto.mode = ContactSaveOptions::Mode::kSkip;
  EXPECT_EQ(Counts(Save({{"a@example.com", "", "{}"}, {"c@example.com", "", "{}"}}, onto)),
            "1 created, 0 updated, 1 skipped, 1 added");

  auto found = store_->FindList("shop", "newsletter");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->id, list->id);
  EXPECT_TRUE((*found)->double_opt_in);
  EXPECT_EQ((*found)->subscribed, 3);

  Contact a = Find("a@example.com");
  ASSERT_EQ(a.lists.size(), 1u);
  EXPECT_EQ(a.lists[0].list_name, "Newsletter");
  EXPECT_EQ(a.lists[0].status, "subscribed");
  EXPECT_EQ(Json(a.lists[0].consent), Json(R"({"source":"import:customers.csv"})"));

  // Unsubscribed from the list: the consent record stays; counts move.
  EXPECT_TRUE(store_->SetMembership("shop", list->id, a.id, "unsubscribed", "").value());
  a = Find("a@example.com");
  EXPECT_EQ(a.lists[0].status, "unsubscribed");
  EXPECT_EQ(Json(a.lists[0].consent), Json(R"({"source":"import:customers.csv"})"));
  found = store_->FindList("shop", list->id);
  EXPECT_EQ((*found)->subscribed, 2);
  EXPECT_EQ((*found)->unsubscribed, 1);
  EXPECT_EQ(store_->SetMembership("shop", list->id, a.id, "gone", "").error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(store_->SetMembership("other", list->id, a.id, "subscribed", "").value());  // not other's list

  ContactQuery members{"shop"};
  members.list_id = list->id;
  EXPECT_EQ(Addresses(members), (std::vector<std::string>{"a@example.com", "b@example.com", "c@example.com"}));

  // A list that is not the account's is refused before anything is saved.
  ContactSaveOptions elsewhere;
  elsewhere.list_id = list->id;
  EXPECT_EQ(store_->SaveContacts("other", {{"z@example.com", "", "{}"}}, elsewhere).error().code, ErrorCode::kNotFound);

  // Deleting a contact takes its memberships; deleting the list leaves the contacts.
  EXPECT_TRUE(store_->DeleteContact("shop", a.id).value());
  EXPECT_FALSE(store_->DeleteContact("shop", a.id).value());
  found = store_->FindList("shop", list->id);
  EXPECT_EQ((*found)->unsubscribed, 0);
  EXPECT_TRUE(store_->DeleteList("shop", list->id).value());
  EXPECT_EQ(store_->CountContacts(ContactQuery{"shop"}).value(), 2);
  EXPECT_TRUE(Find("b@example.com").lists.empty());
  auto lists = store_->ListLists("shop");
  ASSERT_TRUE(lists);
  EXPECT_TRUE(lists->empty());
}

TEST_P(AudienceStoreTest, CampaignsChangeStateOnlyFromTheStateTheWriterRead) {
  Campaign k;
  k.account = "shop";
  k.name = "Spring";
  k.spec = R"({"template":"t"})";
  auto created = store_->CreateCampaign(k);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->id.rfind("cmp_", 0), 0u);
  EXPECT_EQ(store_->CreateCampaign(k).error().code, ErrorCode::kAlreadyExists);
  auto by_name = store_->FindCampaign("shop", "spring");
  ASSERT_TRUE(by_name && *by_name);
  EXPECT_EQ((*by_name)->id, created->id);
  EXPECT_FALSE(store_->FindCampaign("other", created->id).value());

  // Scheduled for t=100: due from then on, not before.
  Campaign s = *created;
  s.state = "scheduled";
  s.start_at = 100;
  EXPECT_TRUE(store_->UpdateCampaign(s, "draft").value());
  EXPECT_TRUE(store_->DueCampaigns(99).value().empty());
  ASSERT_EQ(store_->DueCampaigns(100).value().size(), 1u);
  // The runner read "scheduled" and starts it; a pause that came first wins over the runner's write.
  Campaign paused = s;
  paused.state = "paused";
  EXPECT_TRUE(store_->UpdateCampaign(paused, "scheduled").value());
  Campaign running = s;
  running.state = "running";
  running.cursor = 42;
  running.sent = 7;
  EXPECT_FALSE(store_->UpdateCampaign(running, "scheduled").value());
  auto now = store_->FindCampaign("shop", s.id);
  EXPECT_EQ((*now)->state, "paused");
  EXPECT_EQ((*now)->cursor, 0);
  EXPECT_TRUE(store_->DueCampaigns(1000).value().empty());
  running.id = "cmp_nothing";
  EXPECT_EQ(store_->UpdateCampaign(running, "").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListCampaigns("shop").value().size(), 1u);

  // Results count the events of the campaign's messages only.
  ASSERT_TRUE(store_->AppendEvents(
      {Event{0, 10, "delivered", "m1", "shop", R"({"recipient":"a@x.example","metadata":{"campaign":")" + s.id + R"("}})"},
       Event{0, 11, "opened", "m1", "shop", R"({"recipient":"a@x.example","metadata":{"campaign":")" + s.id + R"("}})"},
       Event{0, 12, "opened", "m1", "shop", R"({"recipient":"a@x.example","metadata":{"campaign":")" + s.id + R"("}})"},
       Event{0, 13, "opened", "m2", "shop", R"({"recipient":"b@x.example","metadata":{"campaign":"cmp_other"}})"}}));
  auto counts = store_->CampaignCounts("shop", s.id);
  ASSERT_TRUE(counts) << counts.error().message;
  std::vector<std::string> lines;
  for (const auto& r : *counts) lines.push_back(r.type + " " + std::to_string(r.total) + "/" + std::to_string(r.unique));
  EXPECT_EQ(lines, (std::vector<std::string>{"delivered 1/1", "opened 2/1"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, AudienceStoreTest, ::testing::ValuesIn(testing::StoreBackends()), testing::BackendName);

}  // namespace
}  // namespace kurier::store
