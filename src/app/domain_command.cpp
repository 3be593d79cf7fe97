// domain_command.cpp - `kurier domain add|list`: sending domains with their DKIM keys (RSA-2048 and
// Ed25519, one selector each; private keys in 0600 files under DATA_DIR/dkim/), and the DNS records
// to publish.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <ctime>
#include <iostream>

#include "app/app.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "dkim/signer.hpp"
#include "smtp/proto/command_parser.hpp"

namespace kurier::app {

namespace {

// RFC 7208/6376 TXT data is a list of strings of at most 255 octets each.
std::vector<std::string> SplitTxt(const std::string& value) {
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); i += 255) out.push_back(value.substr(i, 255));
  return out;
}

Result<std::string> WriteKey(const std::filesystem::path& dir, const std::string& selector, const dkim::PrivateKey& key) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  auto path = dir / (selector + ".pem");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return MakeError(ErrorCode::kIo, "cannot create " + path.string() + ": " + std::strerror(errno));
  std::string pem = key.ToPem();
  bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  ::close(fd);
  if (!ok) return MakeError(ErrorCode::kIo, "cannot write " + path.string());
  return path.string();
}

}  // namespace

void AddDomainCommand(CLI::App& app, std::string& config_path) {
  auto* dom = app.add_subcommand("domain", "Sending domains and their DKIM keys");
  dom->require_subcommand(1);
  static std::string account, domain;
  static bool json = false;
  auto* add = dom->add_subcommand("add", "Add a sending domain: create its DKIM keys and print the DNS records to publish");
  add->add_option("account", account, "Account the domain belongs to")->required();
  add->add_option("domain", domain, "Domain, e.g. shop.example.com")->required();
  add->add_flag("--json", json, "JSON output");
  add->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  add->callback([&] {
    std::string d = ToLowerAscii(domain);
    if (!smtp::proto::IsValidDomain(d) || d.front() == '[') Fail("'" + domain + "' is not a domain name");
    Config c = LoadConfigOrExit(config_path);
    auto store = OpenStoreOrExit(c);
    if (auto r = store->AddDomain(account, d); !r) Fail(r.error().message);
    if (auto r = store->AddSenderDomain(account, d); !r) Fail(r.error().message);
    std::time_t now = std::time(nullptr);
    char ym[16];
    std::strftime(ym, sizeof ym, "%Y%m", std::gmtime(&now));
    boost::json::array records;
    for (auto [alg, name] : {std::pair{dkim::Algorithm::kRsaSha256, "rsa"}, std::pair{dkim::Algorithm::kEd25519Sha256, "ed25519"}}) {
      std::string selector = std::string("kr") + ym + (alg == dkim::Algorithm::kRsaSha256 ? "r" : "e");
      auto key = dkim::PrivateKey::Generate(alg);
      if (!key) Fail(key.error().message);
      auto path = WriteKey(c.data_dir / "dkim" / d, selector, key.value());
      if (!path) Fail(path.error().message);
      store::DkimKey k;
      k.domain = d;
      k.selector = selector;
      k.algorithm = name;
      k.key_path = path.value();
      if (auto r = store->AddDkimKey(k); !r) Fail(r.error().message);
      std::string value = std::string("v=DKIM1; k=") + name + "; p=" + key->PublicKeyForDns();
      boost::json::array strings;
      for (const auto& s : SplitTxt(value)) strings.emplace_back(s);
      records.push_back(boost::json::object{{"name", selector + "._domainkey." + d}, {"type", "TXT"},
                                            {"selector", selector}, {"algorithm", name}, {"value", value},
                                            {"strings", strings}});
    }
    if (json) {
      std::cout << boost::json::serialize(boost::json::object{{"domain", d}, {"account", account}, {"records", records}}) << "\n";
      return;
    }
    std::cout << "Domain " << d << " added to account '" << account << "'. Publish these DNS records:\n\n";
    for (const auto& r : records) {
      const auto& o = r.as_object();
      std::cout << o.at("name").as_string().c_str() << ". IN TXT (";
      for (const auto& s : o.at("strings").as_array()) std::cout << " \"" << s.as_string().c_str() << "\"";
      std::cout << " )\n";
    }
    std::cout << "\nMail from " << d << " is signed with both keys from now on.\n";
  });
  auto* list = dom->add_subcommand("list", "List sending domains and their DKIM selectors");
  list->add_flag("--json", json, "JSON output");
  list->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto keys = OpenStoreOrExit(c)->ListDkimKeys("");
    if (!keys) Fail(keys.error().message);
    boost::json::array arr;
    for (const auto& k : keys.value()) {
      arr.push_back(boost::json::object{{"domain", k.domain}, {"account", k.account}, {"selector", k.selector},
                                        {"algorithm", k.algorithm}, {"created_at", FormatTimeUtc(k.created_at)}});
      if (!json) std::cout << k.domain << "\t" << k.account << "\t" << k.selector << "\t" << k.algorithm << "\n";
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
  });
}

}  // namespace kurier::app
