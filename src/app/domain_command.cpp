// domain_command.cpp - `kurier domain add|records|check|rotate-dkim|list`: sending domains with their
// DKIM keys (RSA-2048 and Ed25519, one selector each; private keys in 0600 files under DATA_DIR/dkim/),
// and the DNS records to publish (never one naming a host no receiver can reach: see
// domains::SettingProblems).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <cstring>
#include <ctime>
#include <iostream>
#include <mutex>
#include <thread>

#include "app/app.hpp"
#include "app/progress.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "dkim/signer.hpp"
#include "dns/resolver.hpp"
#include "domains/check.hpp"
#include "domains/records.hpp"
#include "smtp/proto/command_parser.hpp"

namespace kurier::app {

namespace {

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

// A selector not used yet by `existing`: kr<YYYYMMDD><r|e>, then with a letter when taken.
std::string NewSelector(const std::vector<store::DkimKey>& existing, bool rsa) {
  std::time_t now = std::time(nullptr);
  char ymd[16];
  std::strftime(ymd, sizeof ymd, "%Y%m%d", std::gmtime(&now));
  std::string base = std::string("kr") + ymd + (rsa ? "r" : "e");
  auto taken = [&](const std::string& s) {
    return std::any_of(existing.begin(), existing.end(), [&](const store::DkimKey& k) { return k.selector == s; });
  };
  if (!taken(base)) return base;
  for (char c = 'b'; c <= 'z'; ++c)
    if (!taken(base + c)) return base + c;
  return base + RandomToken(4);
}

// Creates one key per algorithm in `state`; returns their public records.
std::vector<domains::DkimPublic> CreateKeys(const Config& c, store::Store& store, const std::string& d, const std::string& state) {
  auto existing = store.ListDkimKeys(d);
  if (!existing) Fail(existing.error().message);
  std::vector<domains::DkimPublic> out;
  for (auto [alg, name] : {std::pair{dkim::Algorithm::kRsaSha256, "rsa"}, std::pair{dkim::Algorithm::kEd25519Sha256, "ed25519"}}) {
    std::string selector = NewSelector(existing.value(), alg == dkim::Algorithm::kRsaSha256);
    auto key = dkim::PrivateKey::Generate(alg);
    if (!key) Fail(key.error().message);
    auto path = WriteKey(c.data_dir / "dkim" / d, selector, key.value());
    if (!path) Fail(path.error().message);
    store::DkimKey k;
    k.domain = d;
    k.selector = selector;
    k.algorithm = name;
    k.key_path = path.value();
    k.state = state;
    if (auto r = store.AddDkimKey(k); !r) Fail(r.error().message);
    out.push_back(domains::DkimPublic{selector, name, key->PublicKeyForDns(), state});
  }
  return out;
}

// Public records of every key `d` has (reading the private keys).
std::vector<domains::DkimPublic> PublicKeys(store::Store& store, const std::string& d) {
  auto keys = store.ListDkimKeys(d);
  if (!keys) Fail(keys.error().message);
  if (keys->empty()) Fail("no DKIM keys for " + d + "; add the domain with 'kurier domain add ACCOUNT " + d + "'");
  return domains::PublicKeys(keys.value());
}

boost::json::array RecordsJson(const std::vector<domains::DnsRecord>& records, const std::vector<domains::DkimPublic>& keys) {
  boost::json::array arr;
  for (const auto& r : records) {
    boost::json::array strings;
    for (const auto& s : r.strings) strings.emplace_back(s);
    boost::json::object o{{"purpose", r.purpose}, {"name", r.name}, {"type", r.type}, {"value", r.value},
                          {"publish", r.publish}, {"note", r.note}};
    if (r.type == "TXT") o["strings"] = strings;
    if (!r.withheld_by.empty()) o["withheld_by"] = r.withheld_by;
    for (const auto& k : keys)
      if (r.name.rfind(k.selector + "._domainkey.", 0) == 0)
        o["selector"] = k.selector, o["algorithm"] = k.algorithm, o["state"] = k.state;
    arr.push_back(std::move(o));
  }
  return arr;
}

// The settings the records would name that cannot be right publicly (server.hostname "localhost"), for --json.
boost::json::array SettingProblemsJson(const std::vector<domains::SettingProblem>& problems) {
  boost::json::array arr;
  for (const auto& p : problems)
    arr.push_back(boost::json::object{{"key", p.key}, {"value", p.value}, {"problem", p.problem},
                                      {"fix", domains::SettingLine(p)}});
  return arr;
}

// Says, before the records, which setting kept some of them back and the line that fixes it.
void WarnSettingProblems(const Config& c, const std::vector<domains::SettingProblem>& problems, const std::string& d) {
  for (const auto& p : problems)
    std::cerr << "kurier: " << p.key << " is \"" << p.value << "\", which " << p.problem << ".\n";
  if (problems.empty()) return;
  std::cerr << "The records that would name it are not printed. Set the name receivers reach this server by in "
            << c.file.string() << ":\n";
  for (const auto& p : problems) std::cerr << "    " << domains::SettingLine(p) << "\n";
  std::cerr << "then restart 'kurier serve' and print them with 'kurier domain records " << d << "'.\n\n";
}

void PrintRecords(const std::vector<domains::DnsRecord>& records) {
  for (const auto& r : records) {
    std::cout << "; " << r.purpose << (r.withheld_by.empty() ? "" : " (" + r.name + " " + r.type + ")") << ": " << r.note << "\n";
    if (!r.publish) {
      std::cout << "\n";
      continue;
    }
    std::cout << r.name << ". IN " << r.type << " ";
    if (r.type == "TXT")
      std::cout << "( " << domains::QuotedStrings(r.strings) << " )";
    else
      std::cout << r.value;
    std::cout << "\n\n";
  }
}

domains::RecordInputs Inputs(const Config& c, const std::string& d, std::vector<domains::DkimPublic> keys, bool allow_local) {
  domains::RecordInputs in;
  in.domain = d;
  in.dkim = std::move(keys);
  in.config = c.domains;
  in.hostname = c.hostname;
  in.allow_local_hostname = allow_local;
  return in;
}

// Says that `domain check` is waiting on DNS, so that a check that seems stuck says what it waits for:
// on a terminal a line with a turning bar and the seconds waited while a lookup is pending (from a
// quarter of a second; cleared when it ends); elsewhere (a pipe, a log) one line when a lookup takes
// longer than a second (a slow or unreachable dns.forward).
class SlowLookupNotice {
 public:
  explicit SlowLookupNotice(std::string resolver) : resolver_(std::move(resolver)), thread_([this] { Run(); }) {}
  ~SlowLookupNotice() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Wraps a lookup function of domains::CheckDns: the notice watches each call.
  template <class Answer>
  std::function<Answer(const std::string&)> Watch(const char* type, std::function<Answer(const std::string&)> f) {
    return [this, type, f = std::move(f)](const std::string& name) {
      Begin(std::string(type) + " " + name);
      struct End {
        SlowLookupNotice* n;
        ~End() { n->Begin(""); }
      } end{this};
      return f(name);
    };
  }

 private:
  void Begin(std::string what) {  // "" when the lookup ended
    {
      std::lock_guard l(mu_);
      line_.Clear();  // before the caller prints the finding
      ++generation_, what_ = std::move(what), started_ = std::chrono::steady_clock::now();
    }
    cv_.notify_all();
  }
  void Run() {
    using namespace std::chrono;
    std::unique_lock l(mu_);
    while (!stop_) {
      const uint64_t gen = generation_;
      auto changed = [&] { return stop_ || generation_ != gen; };
      const std::string text = "waiting on DNS for " + what_ + " (" + resolver_ + ")";
      if (what_.empty()) {
        cv_.wait(l, changed);
      } else if (line_.shown()) {
        for (auto at = started_ + milliseconds(250); !cv_.wait_until(l, at, changed); at += milliseconds(100))
          line_.Draw(text, static_cast<long>(duration_cast<seconds>(steady_clock::now() - started_).count()));
      } else if (!cv_.wait_until(l, started_ + seconds(1), changed)) {
        std::cerr << "kurier: " << text << " ...\n" << std::flush;
        cv_.wait(l, changed);
      }
    }
    line_.Clear();
  }
  std::string resolver_;
  WaitLine line_;  // on a terminal
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  std::string what_;
  std::chrono::steady_clock::time_point started_;
  std::thread thread_;  // last: started once the members above exist
};

void PrintFinding(const domains::Finding& f) {
  const bool fine = f.status == "ok" || f.status == "info";
  std::string tag = f.hurts ? "FAIL   " : f.status == "ok" ? "OK     " : f.status == "info" ? "INFO   " : f.status == "skipped" ? "SKIP   " : "WARN   ";
  std::cout << tag << f.record << "  " << f.name << (fine || f.status == "skipped" ? "" : " (" + f.status + ")") << "\n";
  if (!f.published.empty() && f.status != "ok") std::cout << "       published: " << f.published << "\n";
  if (!f.fix.empty()) std::cout << "       " << (fine || f.status == "skipped" ? "note: " : "fix: ") << f.fix << "\n";
  std::cout << std::flush;  // each record as it is checked, also into a pipe
}

void CheckDomain(const std::string& config_path, const std::string& d, bool json, bool allow_local) {
  Config c = LoadConfigOrExit(config_path);
  auto store = OpenStoreOrExit(c);
  auto keys = store->ListDkimKeys(d);
  if (!keys) Fail(keys.error().message);
  if (keys->empty()) Fail("no DKIM keys for " + d + "; add the domain with 'kurier domain add ACCOUNT " + d + "'");
  auto resolver = dns::Resolver::Create(dns::ResolverConfig{c.dns_forward});
  if (!resolver) Fail(resolver.error().message);
  SlowLookupNotice notice(c.dns_forward.empty() ? "the resolvers of /etc/resolv.conf" : "dns.forward " + c.dns_forward);
  domains::CheckDns dns = domains::ResolverDns(*resolver.value());
  dns.lookups.txt = notice.Watch("TXT", std::move(dns.lookups.txt));
  dns.lookups.addresses = notice.Watch("A/AAAA", std::move(dns.lookups.addresses));
  dns.lookups.mx = notice.Watch("MX", std::move(dns.lookups.mx));
  dns.ptr = notice.Watch("PTR", std::move(dns.ptr));
  dns.cname = notice.Watch("CNAME", std::move(dns.cname));
  domains::CheckReport rep;
  if (!json) {
    std::cout << "Checking the DNS records of " << d << "\n" << std::flush;
    rep.on_finding = PrintFinding;
  }
  auto changes = domains::RefreshDomain(c, *store, dns, d, rep, NowMicros(), allow_local);
  std::map<int64_t, std::string> selector_of;
  for (const auto& k : keys.value()) selector_of[k.id] = k.selector;
  boost::json::array arr, rotation;
  for (const auto& ch : changes) {
    rotation.push_back(boost::json::object{{"selector", selector_of[ch.id]}, {"state", ch.state},
                                           {"retire_at", ch.retire_at ? FormatTimeUtc(ch.retire_at) : ""}});
  }
  for (const auto& f : rep.findings)
    arr.push_back(boost::json::object{{"record", f.record}, {"name", f.name}, {"status", f.status},
                                      {"published", f.published}, {"expected", f.expected}, {"fix", f.fix},
                                      {"hurts_delivery", f.hurts}});
  if (!json)
    for (const auto& ch : changes)
      std::cout << "DKIM rotation: selector " << selector_of[ch.id] << " is now " << ch.state
                << (ch.state == "retiring" ? " (keep its record until " + FormatTimeUtc(ch.retire_at) + ")" : "") << "\n";
  if (json)
    std::cout << boost::json::serialize(boost::json::object{{"domain", d}, {"ok", rep.ok()}, {"verified", rep.verified},
                                                            {"records", arr}, {"rotation", rotation}})
              << "\n";
  else
    std::cout << (!rep.ok() ? "\n" + d + " is not ready: fix the records marked FAIL, then run this check again.\n"
                            : "\n" + d + " is ready to send.\n");
  if (!rep.ok()) std::exit(1);
}

// `domain add`: the domain, its sender rule for `account` and its keys, then the records to publish.
void AddSendingDomain(const std::string& config_path, const std::string& account, const std::string& domain, bool json,
                      bool allow_local) {
  std::string d = ToLowerAscii(domain);
  if (!smtp::proto::IsValidDomain(d) || d.front() == '[') Fail("'" + domain + "' is not a domain name");
  Config c = LoadConfigOrExit(config_path);
  auto store = OpenStoreOrExit(c);
  if (auto r = store->AddDomain(account, d); !r) Fail(r.error().message);
  if (auto r = store->AddSenderDomain(account, d); !r) Fail(r.error().message);
  auto keys = CreateKeys(c, *store, d, "active");
  auto in = Inputs(c, d, keys, allow_local);
  auto records = domains::GenerateRecords(in);
  auto problems = domains::SettingProblems(in);
  if (json) {
    std::cout << boost::json::serialize(boost::json::object{{"domain", d}, {"account", account},
                                                            {"records", RecordsJson(records, keys)},
                                                            {"setting_problems", SettingProblemsJson(problems)}})
              << "\n";
    return;
  }
  WarnSettingProblems(c, problems, d);
  std::cout << "Domain " << d << " added to account '" << account << "'. Publish these DNS records:\n\n";
  PrintRecords(records);
  std::cout << "Mail from " << d << " is signed with both DKIM keys from now on. Run 'kurier domain check " << d
            << "' once the records are published.\n";
  auto acc = store->FindAccount(account);
  const bool sandbox = !acc || !acc.value() || acc.value()->sandbox;
  std::cout << "Account '" << account << "' may send from " << d
            << (sandbox ? "" : " once that check has seen its DKIM records (the account is outside sandbox mode)")
            << "; to let another account send from it too: kurier account add-domain ACCOUNT " << d << "\n";
}

// `domain records`: what `d` should publish now.
void PrintDomainRecords(const std::string& config_path, const std::string& domain, const std::string& dmarc_policy,
                        const std::string& bimi_logo, bool json, bool allow_local) {
  std::string d = ToLowerAscii(domain);
  Config c = LoadConfigOrExit(config_path);
  auto store = OpenStoreOrExit(c);
  auto keys = PublicKeys(*store, d);
  auto in = Inputs(c, d, keys, allow_local);
  in.dmarc_policy = dmarc_policy;
  in.bimi_logo = bimi_logo;
  if (!bimi_logo.empty() && bimi_logo.rfind("https://", 0) != 0) Fail("--bimi-logo must be an https:// URL");
  auto records = domains::GenerateRecords(in);
  auto problems = domains::SettingProblems(in);
  if (json) {
    std::cout << boost::json::serialize(boost::json::object{{"domain", d}, {"records", RecordsJson(records, keys)},
                                                            {"setting_problems", SettingProblemsJson(problems)}})
              << "\n";
    return;
  }
  WarnSettingProblems(c, problems, d);
  PrintRecords(records);
}

}  // namespace

void AddDomainCommand(CLI::App& app, std::string& config_path) {
  auto* dom = app.add_subcommand("domain", "Sending domains and their DKIM keys");
  dom->require_subcommand(1);
  static std::string account, domain;
  static bool json = false;
  static bool allow_local = false;
  const char* allow_local_help =
      "Also print records that name a host under a test or private domain (.test, .internal, .local, .example, "
      "example.com, ...), which only a DNS server of your own (dns.forward) answers; localhost, names without a dot "
      "and IP addresses are never printed";
  auto* add = dom->add_subcommand(
      "add", "Make DOMAIN a signed sending domain of ACCOUNT: create its DKIM keys (its mail is signed from now on), "
             "allow ACCOUNT to send from it, and print the DNS records to publish (DKIM, SPF, DMARC, return path, "
             "tracking). The records that point at server.hostname are left out while it is not a public name "
             "(localhost, ...). To only allow an account to send from a domain, without signing: "
             "'kurier account add-domain'");
  add->add_option("account", account, "Account the domain belongs to (it may send from it)")->required();
  add->add_option("domain", domain, "Domain, e.g. shop.example.com")->required();
  add->add_flag("--json", json, "JSON output");
  add->add_flag("--allow-local-hostname", allow_local, allow_local_help);
  add->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  add->callback([&] { AddSendingDomain(config_path, account, domain, json, allow_local); });
  static std::string dmarc_policy = "none", bimi_logo;
  auto* recs = dom->add_subcommand("records", "Print the DNS records DOMAIN should publish (DKIM, SPF, DMARC, return path, tracking, BIMI)");
  recs->add_option("domain", domain, "Sending domain")->required();
  recs->add_option("--dmarc-policy", dmarc_policy, "DMARC policy to write: none (start here), quarantine or reject")
      ->check(CLI::IsMember({"none", "quarantine", "reject"}));
  recs->add_option("--bimi-logo", bimi_logo, "https URL of an SVG Tiny PS logo (BIMI needs DMARC quarantine or reject)");
  recs->add_flag("--json", json, "JSON output");
  recs->add_flag("--allow-local-hostname", allow_local, allow_local_help);
  recs->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  recs->callback([&] { PrintDomainRecords(config_path, domain, dmarc_policy, bimi_logo, json, allow_local); });
  auto* rot = dom->add_subcommand(
      "rotate-dkim", "Start a DKIM key rotation: new keys (one per algorithm) to publish now; 'kurier domain check' "
                     "(or serve, hourly) switches signing to them once they are seen in DNS and retires the old ones "
                     "after domains.dkim_grace");
  rot->add_option("domain", domain, "Sending domain")->required();
  rot->add_flag("--json", json, "JSON output");
  rot->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  rot->callback([&] {
    std::string d = ToLowerAscii(domain);
    Config c = LoadConfigOrExit(config_path);
    auto store = OpenStoreOrExit(c);
    auto existing = PublicKeys(*store, d);
    for (const auto& k : existing)
      if (k.state == "pending")
        Fail("a rotation of " + d + " is under way: publish " + k.selector + "._domainkey." + d +
             " and run 'kurier domain check " + d + "' (it switches signing once the record is seen)");
    auto fresh = CreateKeys(c, *store, d, "pending");
    auto records = domains::GenerateRecords(Inputs(c, d, fresh, false));
    records.erase(std::remove_if(records.begin(), records.end(), [](const domains::DnsRecord& r) { return r.purpose.rfind("DKIM", 0) != 0; }),
                  records.end());
    if (json) {
      std::cout << boost::json::serialize(boost::json::object{{"domain", d}, {"records", RecordsJson(records, fresh)}}) << "\n";
      return;
    }
    std::cout << "New DKIM keys for " << d << ". Publish these records (keep the current ones):\n\n";
    PrintRecords(records);
    std::cout << "The current keys keep signing until 'kurier domain check " << d << "' (or serve, hourly) sees the new "
              << "records; they then stop signing and their records may be removed after "
              << c.domains.dkim_grace / 86400 << " day(s).\n";
  });
  auto* check = dom->add_subcommand(
      "check", "Look up DOMAIN's records through kurier's resolver (dns.forward) and say, record by record, what is "
               "right, wrong or missing and the fix; exit 1 when something would hurt delivery");
  check->add_option("domain", domain, "Sending domain")->required();
  check->add_flag("--json", json, "JSON output");
  check->add_flag("--allow-local-hostname", allow_local, allow_local_help);
  check->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  check->callback([&] { CheckDomain(config_path, ToLowerAscii(domain), json, allow_local); });
  auto* list = dom->add_subcommand("list", "List sending domains and their DKIM selectors");
  list->add_flag("--json", json, "JSON output");
  list->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto keys = OpenStoreOrExit(c)->ListDkimKeys("");
    if (!keys) Fail(keys.error().message);
    boost::json::array arr;
    if (!json) std::cout << "DOMAIN\tACCOUNT\tSELECTOR\tALGORITHM\tSTATE\n";
    for (const auto& k : keys.value()) {
      arr.push_back(boost::json::object{{"domain", k.domain}, {"account", k.account}, {"selector", k.selector},
                                        {"algorithm", k.algorithm}, {"state", k.state},
                                        {"created_at", FormatTimeUtc(k.created_at)}});
      if (!json) std::cout << k.domain << "\t" << k.account << "\t" << k.selector << "\t" << k.algorithm << "\t" << k.state << "\n";
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
  });
}

}  // namespace kurier::app
