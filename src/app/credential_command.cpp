// credential_command.cpp - `kurier smtp-user` (SMTP AUTH credentials, generated passwords shown once)
// and `kurier api-key` (HTTP API bearer keys, stored hashed, the secret shown once).
#include <boost/json.hpp>
#include <iostream>

#include "app/admin_commands.hpp"
#include "common/ids.hpp"
#include "store/credentials.hpp"

namespace kurier::app {

namespace {

std::string name, username;
bool json = false;
std::string scopes = "send";
int64_t key_id = 0;

}  // namespace

void AddSmtpUserCommand(CLI::App& app, std::string& config_path) {
  auto* su = app.add_subcommand("smtp-user", "Manage SMTP credentials (AUTH PLAIN/LOGIN)");
  su->require_subcommand(1);
  auto* su_add = su->add_subcommand("add", "Create a credential with a generated password (shown once)");
  su_add->add_option("account", name, "Account the credential sends for")->required();
  su_add->add_option("--username", username, "Username (default: ACCOUNT-<random>)");
  su_add->add_flag("--json", json, "JSON output");
  AddConfigOption(su_add, config_path);
  su_add->callback([&] {
    auto s = OpenStoreFor(config_path);
    auto issued = OrFail(store::IssueSmtpCredential(*s, name, username));
    const std::string& user = issued.credential.username;
    const std::string& pw = issued.password;
    if (json)
      std::cout << boost::json::serialize(boost::json::object{{"username", user}, {"password", pw}, {"account", name}}) << "\n";
    else
      std::cout << "username: " << user << "\npassword: " << pw << "\n(the password is shown only now)\n";
  });
  auto* su_list = su->add_subcommand("list", "List credentials");
  su_list->add_option("account", name, "Only this account");
  su_list->add_flag("--json", json, "JSON output");
  AddConfigOption(su_list, config_path);
  su_list->callback([&] {
    auto list = OrFail(OpenStoreFor(config_path)->ListSmtpCredentials(name));
    PrintList(
        list, json, "USERNAME\tACCOUNT\tCREATED",
        [](const store::SmtpCredential& cr) {
          return boost::json::object{{"username", cr.username}, {"account", cr.account}, {"created_at", FormatTimeUtc(cr.created_at)}};
        },
        [](const store::SmtpCredential& cr) {
          std::cout << cr.username << "\t" << cr.account << "\t" << FormatTimeUtc(cr.created_at) << "\n";
        });
  });
  auto* su_rm = su->add_subcommand("remove", "Remove a credential");
  su_rm->add_option("username", username, "Username")->required();
  AddConfigOption(su_rm, config_path);
  su_rm->callback([&] {
    OrFail(OpenStoreFor(config_path)->RemoveSmtpCredential(username));
    std::cout << "SMTP user '" << username << "' removed\n";
  });
}

void AddApiKeyCommand(CLI::App& app, std::string& config_path) {
  auto* ak = app.add_subcommand("api-key", "Manage API keys (stored hashed; the secret is shown once)");
  ak->require_subcommand(1);
  auto* ak_create = ak->add_subcommand("create", "Create an API key");
  ak_create->add_option("account", name, "Account")->required();
  ak_create->add_option("--name", username, "A label for the key");
  ak_create->add_option("--scopes", scopes, "Space-separated scopes: send read admin (default: send)");
  ak_create->add_flag("--json", json, "JSON output");
  AddConfigOption(ak_create, config_path);
  ak_create->callback([&] {
    std::string normal = OrFail(store::NormalizeScopes(scopes));
    auto s = OpenStoreFor(config_path);
    auto issued = OrFail(store::IssueApiKey(*s, name, username.empty() ? "key" : username, normal));
    if (json)
      std::cout << boost::json::serialize(boost::json::object{{"api_key", issued.secret}, {"id", issued.key.id},
                                                              {"account", name}, {"scopes", issued.key.scopes}})
                << "\n";
    else
      std::cout << issued.secret << "\n(the key is shown only now)\n";
  });
  auto* ak_list = ak->add_subcommand("list", "List API keys");
  ak_list->add_option("account", name, "Only this account");
  ak_list->add_flag("--json", json, "JSON output");
  AddConfigOption(ak_list, config_path);
  ak_list->callback([&] {
    auto list = OrFail(OpenStoreFor(config_path)->ListApiKeys(name));
    PrintList(
        list, json, "ID\tACCOUNT\tNAME\tPREFIX\tSCOPES",
        [](const store::ApiKey& k) {
          return boost::json::object{{"id", k.id}, {"account", k.account}, {"name", k.name}, {"prefix", k.prefix},
                                     {"scopes", k.scopes}, {"revoked", k.revoked}};
        },
        [](const store::ApiKey& k) {
          std::cout << k.id << "\t" << k.account << "\t" << k.name << "\t" << k.prefix << "...\t" << k.scopes
                    << (k.revoked ? "\trevoked" : "") << "\n";
        });
  });
  auto* ak_revoke = ak->add_subcommand("revoke", "Revoke an API key");
  ak_revoke->add_option("id", key_id, "Key id from 'kurier api-key list'")->required();
  AddConfigOption(ak_revoke, config_path);
  ak_revoke->callback([&] {
    OrFail(OpenStoreFor(config_path)->RevokeApiKey(key_id));
    std::cout << "API key " << key_id << " revoked\n";
  });
}

}  // namespace kurier::app
