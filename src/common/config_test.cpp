#include "common/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace kurier {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  std::filesystem::path Write(const std::string& text) {
    auto p = dir_ / "kurier.toml";
    std::ofstream(p) << text;
    return p;
  }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kurier-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ConfigTest, TemplateWithEveryDefaultLoads) {
  auto text = RenderConfigTemplate({});
  ASSERT_TRUE(text) << text.error().message;
  auto c = LoadConfig(Write(text.value()));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->submission.listen, "127.0.0.1:2587");
  EXPECT_EQ(c->submissions.listen, "127.0.0.1:2465");
  EXPECT_FALSE(c->relay.enabled);
  EXPECT_EQ(c->limits.max_message_size, 26214400u);
  EXPECT_EQ(c->data_dir, dir_);
  EXPECT_EQ(c->spool_path, dir_ / "spool/spool.db");
  EXPECT_EQ(c->tls_ciphers, "modern");
  EXPECT_EQ(c->bounces.soft_limit, 5);
  EXPECT_EQ(c->bounces.soft_window_days, 15);
}

TEST_F(ConfigTest, SoftBounceLimit) {
  auto c = LoadConfig(Write("[bounces]\nsoft_limit = 0\nsoft_window_days = 30\n"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->bounces.soft_limit, 0);
  EXPECT_EQ(c->bounces.soft_window_days, 30);
}

TEST_F(ConfigTest, OverridesAreWrittenAndTyped) {
  auto text = RenderConfigTemplate({{"smtp.relay.enabled", "true"}, {"smtp.limits.max_recipients", "7"}});
  ASSERT_TRUE(text);
  auto c = LoadConfig(Write(text.value()));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->relay.enabled);
  EXPECT_EQ(c->limits.max_recipients, 7u);
  EXPECT_FALSE(RenderConfigTemplate({{"smtp.nope", "1"}}));
  EXPECT_FALSE(RenderConfigTemplate({{"smtp.limits.max_recipients", "\"many\""}}));
}

TEST_F(ConfigTest, ErrorsNameTheirKey) {
  struct Row {
    std::string toml;
    std::string want;  // substring of one error line
  } rows[] = {
      {"[smtp.limits]\nmax_recipients = \"ten\"\n", "smtp.limits.max_recipients: expected an integer, got a string"},
      {"[smtp.submision]\nlisten = \"127.0.0.1:1\"\n", "unknown key 'smtp.submision' (did you mean 'smtp.submission'?)"},
      {"[smtp.submission]\nlisten = \"localhost\"\n", "smtp.submission.listen: \"localhost\" is not an address and port"},
      {"[smtp.relay]\nnetworks = [\"10.0.0.0/33\"]\n", "smtp.relay.networks: \"10.0.0.0/33\" is not a network"},
      {"[smtp.limits]\nmax_errors = 0\n", "smtp.limits.max_errors: 0 is out of range"},
      {"[tls]\nmin_version = \"SSLv3\"\n", "tls.min_version: \"SSLv3\" is not supported"},
      {"[tls]\nciphers = \"legacy\"\n", "tls.ciphers: \"legacy\" is not a policy; use \"modern\" or \"intermediate\""},
      {"[server]\nhostname = \"a b\"\n", "server.hostname: must be a host name"},
      {"[log]\nlevel = \"loud\"\n", "log.level: \"loud\" is not a level"},
      {"[bounces]\nsoft_limit = -1\n", "bounces.soft_limit: -1 is out of range"},
      {"[bounces]\nsoft_window_days = 0\n", "bounces.soft_window_days: 0 is out of range"},
      {"[smtp\n", "not valid TOML"},
  };
  for (const auto& r : rows) {
    auto errors = CheckConfig(Write(r.toml));
    bool found = false;
    for (const auto& e : errors) found = found || e.find(r.want) != std::string::npos;
    EXPECT_TRUE(found) << "want '" << r.want << "' for:\n" << r.toml << "\ngot " << ::testing::PrintToString(errors);
  }
}

TEST_F(ConfigTest, PerDomainOverrides) {
  auto text = RenderConfigTemplate({});
  ASSERT_TRUE(text);
  auto c = LoadConfig(Write(text.value() + "\n[delivery.domain.\"Slow.Example\"]\nmax_connections = 2\nrate_per_minute = 60\n"
                                           "tls = \"required\"\nverify_certificates = true\n"));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->delivery.domains.count("slow.example"), 1u);
  const DomainPolicy& p = c->delivery.domains.at("slow.example");
  EXPECT_EQ(p.max_connections, 2);
  EXPECT_EQ(p.rate_per_minute, 60);
  EXPECT_FALSE(p.messages_per_connection.has_value());
  EXPECT_EQ(p.tls, "required");
  EXPECT_EQ(p.verify_certificates, true);

  struct Row {
    std::string toml, want;
  } rows[] = {
      {"[delivery.domain.\"a.example\"]\nmax_conections = 2\n", "unknown key 'delivery.domain.\"a.example\".max_conections'"},
      {"[delivery.domain.\"a.example\"]\nrate_per_minute = \"fast\"\n", "rate_per_minute: expected an integer"},
      {"[delivery.domain.\"a.example\"]\ntls = \"always\"\n", "tls: \"always\" is not a mode"},
      {"[delivery.domain.\"a.example\"]\nmax_connections = 0\n", "max_connections: 0 is out of range"},
      {"[delivery.domain]\n\"a.example\" = 5\n", "expected a table"},
  };
  for (const auto& r : rows) {
    auto errors = CheckConfig(Write(r.toml));
    bool found = false;
    for (const auto& e : errors) found = found || e.find(r.want) != std::string::npos;
    EXPECT_TRUE(found) << r.want << " in " << ::testing::PrintToString(errors);
  }
}

TEST(SplitHostPort, Table) {
  struct Row {
    const char* in;
    bool ok;
    const char* host;
    uint16_t port;
  } rows[] = {{"127.0.0.1:2587", true, "127.0.0.1", 2587}, {"[::1]:25", true, "::1", 25},
              {"::1:25", false, "", 0},                   {"127.0.0.1", false, "", 0},
              {"127.0.0.1:0", false, "", 0},              {"127.0.0.1:70000", false, "", 0},
              {":25", false, "", 0}};
  for (const auto& r : rows) {
    std::string h;
    uint16_t p = 0;
    EXPECT_EQ(SplitHostPort(r.in, h, p), r.ok) << r.in;
    if (r.ok) {
      EXPECT_EQ(h, r.host);
      EXPECT_EQ(p, r.port);
    }
  }
}

// `kurier config get`: the value kurier uses, whatever the quoting in the file, defaults included.
TEST_F(ConfigTest, ConfigValueIsTheEffectiveValue) {
  auto p = Write("[smtp.submission]\nlisten = '127.0.0.1:3587'\n[server]\ndata_dir = 'data'\n"
                 "[smtp.relay]\nnetworks = ['10.0.0.0/8', \"::1/128\"]\n[tls]\ncertificate = '/etc/x/fullchain.pem'\n");
  struct Case {
    const char* key;
    std::string want;
  } cases[] = {
      {"smtp.submission.listen", "127.0.0.1:3587"},        // single-quoted (literal) string
      {"smtp.submissions.listen", "127.0.0.1:2465"},       // the default
      {"api.listen", "127.0.0.1:8025"},
      {"smtp.submission.enabled", "true"},
      {"smtp.limits.max_recipients", "1000"},
      {"smtp.relay.networks", "10.0.0.0/8\n::1/128"},     // one entry per line
      {"server.data_dir", (dir_ / "data").string()},      // resolved against the file's directory
      {"store.sqlite_path", (dir_ / "data/kurier.db").string()},
      {"tls.certificate", "/etc/x/fullchain.pem"},        // absolute stays
      {"tls.private_key", (dir_ / "data/tls/key.pem").string()},
      {"events.webhook_ca_file", ""},
  };
  for (const auto& c : cases) {
    auto v = ConfigValue(p, c.key);
    ASSERT_TRUE(v) << c.key << ": " << v.error().message;
    EXPECT_EQ(v.value(), c.want) << c.key;
  }
  auto unknown = ConfigValue(p, "smtp.submision.listen");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown key 'smtp.submision.listen'"), std::string::npos) << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("did you mean 'smtp.submission.listen'"), std::string::npos) << unknown.error().message;
  EXPECT_FALSE(ConfigValue(p, "smtp"));  // a table, not a key
  auto invalid = ConfigValue(Write("[api]\nlisten = 8025\n"), "api.listen");
  ASSERT_FALSE(invalid);
  EXPECT_NE(invalid.error().message.find("api.listen"), std::string::npos) << invalid.error().message;
}

}  // namespace
}  // namespace kurier
