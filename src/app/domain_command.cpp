// domain_command.cpp - `kurier domain add|list`: sending domains with their DKIM keys (RSA-2048 and
// Ed25519, one selector each; private keys in 0600 files under DATA_DIR/dkim/), and the DNS records
// to publish.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <iterator>
#include <cstring>
#include <ctime>
#include <iostream>

#include "app/app.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "dkim/signer.hpp"
#include "dns/resolver.hpp"
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

// "k=v; k2=v2" -> value of `tag` with whitespace removed (RFC 6376 3.2 tag-lists), "" when absent.
std::string TagValue(const std::string& record, const std::string& tag) {
  size_t pos = 0;
  while (pos <= record.size()) {
    size_t semi = record.find(';', pos);
    std::string part = record.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    auto eq = part.find('=');
    if (eq != std::string::npos) {
      std::string k = part.substr(0, eq), v = part.substr(eq + 1);
      k.erase(std::remove_if(k.begin(), k.end(), ::isspace), k.end());
      if (ToLowerAscii(k) == tag) {
        v.erase(std::remove_if(v.begin(), v.end(), ::isspace), v.end());
        return v;
      }
    }
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  return "";
}

struct Finding {
  std::string record, name, status, published, expected, fix;
  bool hurts = false;
};

void CheckDomain(const std::string& config_path, const std::string& d, bool json) {
  Config c = LoadConfigOrExit(config_path);
  auto store = OpenStoreOrExit(c);
  auto keys = store->ListDkimKeys(d);
  if (!keys) Fail(keys.error().message);
  if (keys->empty()) Fail("no DKIM keys for " + d + "; add the domain with 'kurier domain add ACCOUNT " + d + "'");
  auto resolver = dns::Resolver::Create(dns::ResolverConfig{c.dns_forward});
  if (!resolver) Fail(resolver.error().message);
  std::vector<Finding> out;
  auto lookup_failed = [](const dns::TxtAnswer& a) { return a.rcode == dns::Rcode::kTempFail; };

  for (const auto& k : keys.value()) {
    Finding f{"DKIM " + k.algorithm, k.selector + "._domainkey." + d, "", "", "", "", false};
    std::ifstream kf(k.key_path);
    std::string pem((std::istreambuf_iterator<char>(kf)), std::istreambuf_iterator<char>());
    auto key = dkim::PrivateKey::FromPem(pem);
    if (!key) {
      f.status = "error";
      f.fix = "the private key " + k.key_path + " is unreadable (" + key.error().message + "); restore it from backup";
      f.hurts = true;
      out.push_back(f);
      continue;
    }
    f.expected = "v=DKIM1; k=" + k.algorithm + "; p=" + key->PublicKeyForDns();
    auto a = resolver.value()->ResolveTxtSync(f.name);
    const std::string* found = nullptr;
    for (const auto& r : a.records)
      if (!TagValue(r, "p").empty() || r.find("DKIM1") != std::string::npos) found = &r;
    if (lookup_failed(a)) {
      f.status = "error";
      f.fix = "the DNS lookup failed (" + a.error + "); check dns.forward and try again";
    } else if (!found) {
      f.status = "missing";
      f.fix = "publish " + f.name + " TXT \"" + f.expected + "\"";
    } else {
      f.published = *found;
      std::string want_k = k.algorithm, got_k = TagValue(*found, "k");
      if (got_k.empty()) got_k = "rsa";  // RFC 6376 3.6.1: k= defaults to rsa
      if (TagValue(*found, "p") != key->PublicKeyForDns())
        f.status = "wrong", f.fix = "the published key is not the one kurier signs with: replace the record with \"" + f.expected + "\"";
      else if (got_k != want_k)
        f.status = "wrong", f.fix = "k=" + got_k + " should be k=" + want_k + ": replace the record with \"" + f.expected + "\"";
      else
        f.status = "ok";
    }
    f.hurts = f.status != "ok";
    out.push_back(f);
  }

  {  // DMARC (RFC 7489 6.1)
    Finding f{"DMARC", "_dmarc." + d, "", "", "v=DMARC1; p=none; rua=mailto:dmarc-reports@" + d, "", false};
    auto a = resolver.value()->ResolveTxtSync(f.name);
    std::vector<std::string> dmarc;
    for (const auto& r : a.records)
      if (r.rfind("v=DMARC1", 0) == 0) dmarc.push_back(r);
    if (lookup_failed(a)) {
      f.status = "error", f.fix = "the DNS lookup failed (" + a.error + "); try again";
    } else if (dmarc.empty()) {
      f.status = "missing";
      f.fix = "publish " + f.name + " TXT \"" + f.expected +
              "\" (start at p=none and read the reports; large mailbox providers require a DMARC record for bulk mail)";
    } else if (dmarc.size() > 1) {
      f.status = "wrong", f.published = dmarc[0];
      f.fix = "there are " + std::to_string(dmarc.size()) + " DMARC records; receivers then ignore all of them: keep one";
    } else {
      f.published = dmarc[0];
      std::string p = ToLowerAscii(TagValue(dmarc[0], "p"));
      if (p != "none" && p != "quarantine" && p != "reject")
        f.status = "wrong", f.fix = "p=" + (p.empty() ? std::string("(missing)") : p) + " is not a policy: use p=none, quarantine or reject";
      else
        f.status = "ok";
    }
    f.hurts = f.status != "ok";
    out.push_back(f);
  }

  {  // SPF (RFC 7208 3.2: at most one record)
    Finding f{"SPF", d, "", "", "v=spf1 a mx ~all", "", false};
    auto a = resolver.value()->ResolveTxtSync(d);
    std::vector<std::string> spf;
    for (const auto& r : a.records)
      if (ToLowerAscii(r).rfind("v=spf1", 0) == 0) spf.push_back(r);
    if (lookup_failed(a)) {
      f.status = "error", f.fix = "the DNS lookup failed (" + a.error + "); try again", f.hurts = true;
    } else if (spf.empty()) {
      f.status = "missing";  // DKIM alone aligns DMARC, so this warns without failing the check
      f.fix = "publish " + d + " TXT \"v=spf1 ip4:EGRESS-ADDRESS ~all\" with the addresses kurier sends from";
    } else if (spf.size() > 1) {
      f.status = "wrong", f.published = spf[0], f.hurts = true;
      f.fix = "there are " + std::to_string(spf.size()) + " SPF records, which is a permanent error (RFC 7208 3.2): merge them into one";
    } else {
      f.status = "ok", f.published = spf[0];
    }
    out.push_back(f);
  }

  // Verified once every DKIM record checks out (the gate for accounts outside sandbox mode).
  bool dkim_ok = std::all_of(out.begin(), out.end(), [](const Finding& f) {
    return f.record.rfind("DKIM", 0) != 0 || f.status == "ok";
  });
  if (auto r = store->SetDomainVerified(d, dkim_ok); !r) Fail(r.error().message);
  bool hurts = false;
  boost::json::array arr;
  for (const auto& f : out) {
    hurts = hurts || f.hurts;
    arr.push_back(boost::json::object{{"record", f.record}, {"name", f.name}, {"status", f.status},
                                      {"published", f.published}, {"expected", f.expected}, {"fix", f.fix},
                                      {"hurts_delivery", f.hurts}});
    if (!json) {
      std::string tag = f.status == "ok" ? "OK     " : f.hurts ? "FAIL   " : "WARN   ";
      std::cout << tag << f.record << "  " << f.name << (f.status == "ok" ? "" : " (" + f.status + ")") << "\n";
      if (!f.published.empty() && f.status != "ok") std::cout << "       published: " << f.published << "\n";
      if (!f.fix.empty()) std::cout << "       fix: " << f.fix << "\n";
    }
  }
  if (json)
    std::cout << boost::json::serialize(boost::json::object{{"domain", d}, {"ok", !hurts}, {"verified", dkim_ok},
                                                            {"records", arr}})
              << "\n";
  else
    std::cout << (hurts ? "\n" + d + " is not ready: fix the records marked FAIL, then run this check again.\n"
                        : "\n" + d + " is ready to send.\n");
  if (hurts) std::exit(1);
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
  auto* check = dom->add_subcommand(
      "check", "Look up DOMAIN's records through kurier's resolver (dns.forward) and say, record by record, what is "
               "right, wrong or missing and the fix; exit 1 when something would hurt delivery");
  check->add_option("domain", domain, "Sending domain")->required();
  check->add_flag("--json", json, "JSON output");
  check->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  check->callback([&] { CheckDomain(config_path, ToLowerAscii(domain), json); });
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
