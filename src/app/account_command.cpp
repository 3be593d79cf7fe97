// account_command.cpp - `kurier account`: accounts, their sender domains and their settings (DSN,
// sandbox, the tracking and List-Unsubscribe defaults of mail that does not say: API sends and SMTP
// submissions), in the store.
#include <boost/json.hpp>
#include <algorithm>
#include <iostream>
#include <map>
#include <tuple>

#include "app/admin_commands.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "smtp/proto/command_parser.hpp"
#include "store/credentials.hpp"

namespace kurier::app {

namespace {

std::string name, domain;
std::vector<std::string> domains;
bool json = false;
std::string dsn, sandbox;
// Mail that does not say (an API send without the field, an SMTP submission without the X-Kurier-* field)
// uses the account's defaults, else the server's tracking.* settings.
std::map<std::string, std::string> defaults;

// account set: one setting or several at once.
void AddAccountSet(CLI::App* account, std::string& config_path) {
  auto* acc_set = account->add_subcommand("set", "Change an account's settings");
  acc_set->add_option("name", name, "Account name")->required();
  acc_set->add_option("--dsn", dsn, "Return delivery status notifications (bounces) to senders: on or off")
      ->check(CLI::IsMember({"on", "off"}));
  acc_set->add_option("--sandbox", sandbox,
                      "on: sender domains need not be verified (new accounts start so); off: only domains that "
                      "passed 'kurier domain check' may send")
      ->check(CLI::IsMember({"on", "off"}));
  for (auto [k, field, header] : {std::tuple{"track-opens", "track_opens", "X-Kurier-Track-Opens"},
                                  std::tuple{"track-clicks", "track_clicks", "X-Kurier-Track-Clicks"},
                                  std::tuple{"list-unsubscribe", "list_unsubscribe", "X-Kurier-List-Unsubscribe"}})
    acc_set->add_option(std::string("--") + k, defaults[k],
                        std::string("Default for the account's mail that does not say: API sends without ") + field +
                            " and SMTP submissions without " + header + ": on, off, or default (the server's configuration)")
        ->check(CLI::IsMember({"on", "off", "default"}));
  acc_set->add_option("--refuse-suppressed", defaults["refuse-suppressed"],
                      "on: SMTP refuses a suppressed recipient at RCPT (550 5.7.1 naming the suppression); off or "
                      "default: it is accepted and recorded as a 'suppressed' event instead of sent, as the API does")
      ->check(CLI::IsMember({"on", "off", "default"}));
  acc_set->add_option("--test-mode", defaults["test-mode"],
                      "on: the account's mail (SMTP and API) is accepted, signed, tracked and recorded (events, "
                      "statistics, webhooks) but never sent, to wire an application up before DNS is ready; off or default: sent")
      ->check(CLI::IsMember({"on", "off", "default"}));
  AddConfigOption(acc_set, config_path);
  acc_set->callback([&] {
    const bool any_default = std::any_of(defaults.begin(), defaults.end(), [](const auto& d) { return !d.second.empty(); });
    if (dsn.empty() && sandbox.empty() && !any_default)
      Fail("nothing to change: give --dsn, --sandbox, --track-opens, --track-clicks, --list-unsubscribe, --refuse-suppressed or --test-mode");
    auto s = OpenStoreFor(config_path);
    for (const auto& [k, v] : defaults) {
      if (v.empty()) continue;
      std::string setting = k;
      std::replace(setting.begin(), setting.end(), '-', '_');
      OrFail(s->SetAccountDefault(name, setting, v == "default" ? std::optional<bool>() : std::optional<bool>(v == "on")));
      std::cout << "account '" << name << "': " << setting << " " << (v == "default" ? "as the server's default" : v) << "\n";
    }
    if (!dsn.empty()) {
      OrFail(s->SetSendDsn(name, dsn == "on"));
      std::cout << "account '" << name << "': delivery status notifications " << dsn << "\n";
    }
    if (!sandbox.empty()) {
      OrFail(s->SetSandbox(name, sandbox == "on"));
      std::cout << "account '" << name << "': sandbox " << sandbox
                << (sandbox == "off" ? " (only verified sending domains may send)" : "") << "\n";
    }
  });
}

// account add-domain: the sender rule, and what it does not do (sign: `domain add`).
void AllowSenderDomain(const std::string& config_path) {
  const std::string d = ToLowerAscii(domain);
  if (!smtp::proto::IsValidDomain(d) || d.front() == '[') Fail("'" + domain + "' is not a domain name");
  auto s = OpenStoreFor(config_path);
  OrFail(s->AddSenderDomain(name, d));
  std::cout << "account '" << name << "' may send from " << d << "\n";
  auto keys = OrFail(s->ListDkimKeys(d));
  auto account = OrFail(s->FindAccount(name));
  const bool sandbox = !account || account->sandbox;
  if (keys.empty()) {
    std::cout << "Its mail is not DKIM-signed: 'kurier domain add " << name << " " << d
              << "' creates the signing keys and prints the DNS records to publish (SPF, DMARC, bounces)";
    std::cout << (sandbox ? ".\n" : "; the account is outside sandbox mode, so it may send from " + d +
                                         " only once that is done and 'kurier domain check " + d + "' passed.\n");
  } else if (keys.front().account != name) {
    std::cout << d << " is a sending domain of account '" << keys.front().account
              << "': its mail is signed with that account's keys"
              << (sandbox ? "" : "; the account is outside sandbox mode, where only sending domains of its own may be used")
              << ".\n";
  }
}

// account add-domain|remove-domain
void AddAccountDomains(CLI::App* account, std::string& config_path) {
  auto* acc_ad = account->add_subcommand(
      "add-domain", "Allow an account to send from a domain: the rule for the envelope sender (MAIL FROM) and the "
                    "From:/Sender: fields of its mail. This does not sign the domain's mail: 'kurier domain add ACCOUNT "
                    "DOMAIN' makes it a signed sending domain (DKIM keys and the DNS records to publish) and allows it "
                    "as well");
  acc_ad->add_option("account", name, "Account name")->required();
  acc_ad->add_option("domain", domain, "Domain its senders' addresses are at, e.g. shop.example.com")->required();
  AddConfigOption(acc_ad, config_path);
  acc_ad->callback([&] { AllowSenderDomain(config_path); });
  auto* acc_rd = account->add_subcommand("remove-domain", "Stop an account from sending from a domain");
  acc_rd->add_option("account", name, "Account name")->required();
  acc_rd->add_option("domain", domain, "Domain")->required();
  AddConfigOption(acc_rd, config_path);
  acc_rd->callback([&] {
    OrFail(OpenStoreFor(config_path)->RemoveSenderDomain(name, domain));
    std::cout << "account '" << name << "' may no longer send from " << domain << "\n";
  });
}

}  // namespace

void AddAccountCommand(CLI::App& app, std::string& config_path) {
  auto* account = app.add_subcommand("account", "Manage accounts and the sender domains they may use");
  account->require_subcommand(1);
  auto* acc_add = account->add_subcommand("add", "Create an account");
  acc_add->add_option("name", name, "Account name")->required();
  acc_add->add_option("--sender-domain", domains, "Domain the account may send from (repeatable)");
  AddConfigOption(acc_add, config_path);
  acc_add->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    if (auto p = store::AccountNameProblem(name)) Fail("account name '" + name + "' is not valid: it " + *p);
    auto s = OpenStoreOrExit(c);
    OrFail(s->CreateAccount(name));
    for (const auto& d : domains) OrFail(s->AddSenderDomain(name, d));
    std::cout << "account '" << name << "' created\n";
  });
  auto* acc_list = account->add_subcommand("list", "List accounts");
  acc_list->add_flag("--json", json, "JSON output");
  AddConfigOption(acc_list, config_path);
  acc_list->callback([&] {
    auto s = OpenStoreFor(config_path);
    auto list = OrFail(s->ListAccounts());
    auto flag = [](const std::optional<bool>& f) { return f ? boost::json::value(*f) : boost::json::value(nullptr); };
    PrintList(
        list, json, "NAME\tSENDER DOMAINS",
        [&](const store::Account& a) {
          boost::json::array ds;
          for (const auto& d : a.sender_domains) ds.emplace_back(d);
          boost::json::array vd;
          for (const auto& d : a.verified_domains) vd.emplace_back(d);
          return boost::json::object{{"name", a.name}, {"sender_domains", ds}, {"send_dsn", a.send_dsn},
                                     {"sandbox", a.sandbox}, {"verified_domains", vd},
                                     {"track_opens", flag(a.track_opens)}, {"track_clicks", flag(a.track_clicks)},
                                     {"list_unsubscribe", flag(a.list_unsubscribe)},
                                     {"refuse_suppressed", flag(a.refuse_suppressed)},
                                     {"test_mode", flag(a.test_mode)},
                                     {"created_at", FormatTimeUtc(a.created_at)}};
        },
        [](const store::Account& a) {
          std::cout << a.name << "\t";
          for (size_t i = 0; i < a.sender_domains.size(); ++i) std::cout << (i ? "," : "") << a.sender_domains[i];
          std::cout << "\n";
        });
  });
  auto* acc_rm = account->add_subcommand("remove", "Remove an account with its credentials and keys");
  acc_rm->add_option("name", name, "Account name")->required();
  AddConfigOption(acc_rm, config_path);
  acc_rm->callback([&] {
    OrFail(OpenStoreFor(config_path)->RemoveAccount(name));
    std::cout << "account '" << name << "' removed\n";
  });
  AddAccountSet(account, config_path);
  AddAccountDomains(account, config_path);
}

}  // namespace kurier::app
