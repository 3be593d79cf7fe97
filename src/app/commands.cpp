// commands.cpp - administrative subcommands: config check, account, smtp-user, api-key, queue, events.
#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>

#include "app/app.hpp"
#include "app/control.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "common/secret.hpp"
#include "spool/spool.hpp"
#include "store/credentials.hpp"

namespace kurier::app {

void Fail(const std::string& message) {
  std::cerr << "kurier: " << message << (message.empty() || message.back() != '\n' ? "\n" : "");
  std::exit(1);
}

Config LoadConfigOrExit(const std::string& path) {
  if (!std::filesystem::exists(path))
    Fail("configuration file " + path + " not found; create one with 'kurier init --dir DIR' or pass --config FILE");
  auto c = LoadConfig(path);
  if (!c) Fail("invalid configuration " + path + ":\n" + c.error().message);
  return c.value();
}

std::unique_ptr<store::Store> OpenStoreOrExit(const Config& config, bool create_secret) {
  store::StoreOptions options;
  std::error_code ec;
  if (create_secret || std::filesystem::exists(config.secret_file, ec)) {
    auto secret = LoadOrCreateSecret(config.secret_file);
    if (!secret) Fail("server.secret_file: " + secret.error().message);
    options.server_secret = std::move(secret.value());
  }
  auto s = store::OpenStore(config.store_backend, config.sqlite_path, options);
  if (!s) Fail(s.error().message);
  return std::move(s.value());
}

namespace {

template <typename T>
T OrFail(Result<T> r) {
  if (!r) Fail(r.error().message);
  return std::move(r.value());
}
void OrFail(Result<void> r) {
  if (!r) Fail(r.error().message);
}

std::unique_ptr<spool::Spool> OpenSpoolOrExit(const Config& c) {
  auto s = spool::Spool::Open(c.spool_path, spool::SpoolOptions{c.spool_fsync, c.spool_max_batch}, nullptr);
  if (!s) Fail(s.error().message);
  return std::move(s.value());
}

boost::json::value ParseJsonOrString(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return boost::json::value(text);
  return v;
}

boost::json::object MessageJson(const spool::SpoolMessage& m) {
  boost::json::array rcpts, states;
  for (const auto& r : m.recipients) rcpts.emplace_back(r);
  for (const auto& st : m.states)
    states.push_back(boost::json::object{{"recipient", st.address},
                                         {"status", st.status},
                                         {"attempts", st.attempts},
                                         {"next_attempt", st.status == "queued" ? FormatTimeUtc(st.next_attempt) : ""},
                                         {"last_reply", st.last_reply}});
  return boost::json::object{{"id", m.id},
                             {"received_at", FormatTimeUtc(m.received_at)},
                             {"account", m.account},
                             {"mail_from", m.mail_from},
                             {"recipients", std::move(rcpts)},
                             {"delivery", std::move(states)},
                             {"size", m.size}};
}

boost::json::object EventJson(const store::Event& e) {
  return boost::json::object{{"id", e.id},
                             {"type", e.type},
                             {"time", FormatTimeUtc(e.time)},
                             {"message_id", e.message_id},
                             {"account", e.account},
                             {"data", ParseJsonOrString(e.data)}};
}

std::string Sanitize(std::string_view s) {
  // Valid JSON strings need UTF-8; bytes that are not are shown as U+FFFD.
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

void AddAdminCommands(CLI::App& app, std::string& config_path) {
  auto config_opt = [&](CLI::App* c) {
    c->add_option("--config", config_path, "Configuration file (default: $KURIER_CONFIG or var/kurier.toml)");
  };

  // config check
  auto* config = app.add_subcommand("config", "Configuration tools");
  config->require_subcommand(1);
  auto* check = config->add_subcommand("check", "Validate a configuration file and explain every error by key name");
  config_opt(check);
  check->callback([&] {
    if (!std::filesystem::exists(config_path)) Fail("configuration file " + config_path + " not found");
    auto errors = CheckConfig(config_path);
    if (errors.empty()) {
      std::cout << "ok\n";
      return;
    }
    for (const auto& e : errors) std::cout << e << "\n";
    std::exit(1);
  });

  // account
  static std::string name, domain;
  static std::vector<std::string> domains;
  static bool json = false;
  auto* account = app.add_subcommand("account", "Manage accounts and the sender domains they may use");
  account->require_subcommand(1);
  auto* acc_add = account->add_subcommand("add", "Create an account");
  acc_add->add_option("name", name, "Account name")->required();
  acc_add->add_option("--sender-domain", domains, "Domain the account may send from (repeatable)");
  config_opt(acc_add);
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
  config_opt(acc_list);
  acc_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto s = OpenStoreOrExit(c);
    auto list = OrFail(s->ListAccounts());
    boost::json::array arr;
    auto flag = [](const std::optional<bool>& f) { return f ? boost::json::value(*f) : boost::json::value(nullptr); };
    for (const auto& a : list) {
      boost::json::array ds;
      for (const auto& d : a.sender_domains) ds.emplace_back(d);
      boost::json::array vd;
      for (const auto& d : a.verified_domains) vd.emplace_back(d);
      arr.push_back(boost::json::object{{"name", a.name}, {"sender_domains", ds}, {"send_dsn", a.send_dsn},
                                        {"sandbox", a.sandbox}, {"verified_domains", vd},
                                        {"track_opens", flag(a.track_opens)}, {"track_clicks", flag(a.track_clicks)},
                                        {"list_unsubscribe", flag(a.list_unsubscribe)},
                                        {"created_at", FormatTimeUtc(a.created_at)}});
      if (!json) {
        std::cout << a.name << "\t";
        for (size_t i = 0; i < a.sender_domains.size(); ++i) std::cout << (i ? "," : "") << a.sender_domains[i];
        std::cout << "\n";
      }
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
  });
  auto* acc_rm = account->add_subcommand("remove", "Remove an account with its credentials and keys");
  acc_rm->add_option("name", name, "Account name")->required();
  config_opt(acc_rm);
  acc_rm->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    OrFail(OpenStoreOrExit(c)->RemoveAccount(name));
    std::cout << "account '" << name << "' removed\n";
  });
  static std::string dsn;
  auto* acc_set = account->add_subcommand("set", "Change an account's settings");
  acc_set->add_option("name", name, "Account name")->required();
  static std::string sandbox;
  acc_set->add_option("--dsn", dsn, "Return delivery status notifications (bounces) to senders: on or off")
      ->check(CLI::IsMember({"on", "off"}));
  acc_set->add_option("--sandbox", sandbox,
                      "on: sender domains need not be verified (new accounts start so); off: only domains that "
                      "passed 'kurier domain check' may send")
      ->check(CLI::IsMember({"on", "off"}));
  // API sends that do not say use the account's defaults, else the server's tracking.* settings.
  static std::map<std::string, std::string> defaults;
  for (const char* k : {"track-opens", "track-clicks", "list-unsubscribe"})
    acc_set->add_option(std::string("--") + k, defaults[k],
                        std::string("Default of API sends that do not set ") + k +
                            ": on, off, or default (the server's configuration)")
        ->check(CLI::IsMember({"on", "off", "default"}));
  config_opt(acc_set);
  acc_set->callback([&] {
    const bool any_default = std::any_of(defaults.begin(), defaults.end(), [](const auto& d) { return !d.second.empty(); });
    if (dsn.empty() && sandbox.empty() && !any_default)
      Fail("nothing to change: give --dsn, --sandbox, --track-opens, --track-clicks or --list-unsubscribe");
    Config c = LoadConfigOrExit(config_path);
    auto s = OpenStoreOrExit(c);
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
  auto* acc_ad = account->add_subcommand("add-domain", "Allow an account to send from a domain");
  acc_ad->add_option("account", name, "Account name")->required();
  acc_ad->add_option("domain", domain, "Domain")->required();
  config_opt(acc_ad);
  acc_ad->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    OrFail(OpenStoreOrExit(c)->AddSenderDomain(name, domain));
    std::cout << "account '" << name << "' may send from " << domain << "\n";
  });
  auto* acc_rd = account->add_subcommand("remove-domain", "Stop an account from sending from a domain");
  acc_rd->add_option("account", name, "Account name")->required();
  acc_rd->add_option("domain", domain, "Domain")->required();
  config_opt(acc_rd);
  acc_rd->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    OrFail(OpenStoreOrExit(c)->RemoveSenderDomain(name, domain));
    std::cout << "account '" << name << "' may no longer send from " << domain << "\n";
  });

  // smtp-user
  static std::string username;
  auto* su = app.add_subcommand("smtp-user", "Manage SMTP credentials (AUTH PLAIN/LOGIN)");
  su->require_subcommand(1);
  auto* su_add = su->add_subcommand("add", "Create a credential with a generated password (shown once)");
  su_add->add_option("account", name, "Account the credential sends for")->required();
  su_add->add_option("--username", username, "Username (default: ACCOUNT-<random>)");
  su_add->add_flag("--json", json, "JSON output");
  config_opt(su_add);
  su_add->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto s = OpenStoreOrExit(c);
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
  config_opt(su_list);
  su_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto list = OrFail(OpenStoreOrExit(c)->ListSmtpCredentials(name));
    boost::json::array arr;
    for (const auto& cr : list) {
      arr.push_back(boost::json::object{{"username", cr.username}, {"account", cr.account}, {"created_at", FormatTimeUtc(cr.created_at)}});
      if (!json) std::cout << cr.username << "\t" << cr.account << "\t" << FormatTimeUtc(cr.created_at) << "\n";
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
  });
  auto* su_rm = su->add_subcommand("remove", "Remove a credential");
  su_rm->add_option("username", username, "Username")->required();
  config_opt(su_rm);
  su_rm->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    OrFail(OpenStoreOrExit(c)->RemoveSmtpCredential(username));
    std::cout << "SMTP user '" << username << "' removed\n";
  });

  // api-key
  static std::string scopes = "send";
  static int64_t key_id = 0;
  auto* ak = app.add_subcommand("api-key", "Manage API keys (stored hashed; the secret is shown once)");
  ak->require_subcommand(1);
  auto* ak_create = ak->add_subcommand("create", "Create an API key");
  ak_create->add_option("account", name, "Account")->required();
  ak_create->add_option("--name", username, "A label for the key");
  ak_create->add_option("--scopes", scopes, "Space-separated scopes: send read admin (default: send)");
  ak_create->add_flag("--json", json, "JSON output");
  config_opt(ak_create);
  ak_create->callback([&] {
    std::string normal = OrFail(store::NormalizeScopes(scopes));
    Config c = LoadConfigOrExit(config_path);
    auto s = OpenStoreOrExit(c);
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
  config_opt(ak_list);
  ak_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto list = OrFail(OpenStoreOrExit(c)->ListApiKeys(name));
    boost::json::array arr;
    for (const auto& k : list) {
      arr.push_back(boost::json::object{{"id", k.id}, {"account", k.account}, {"name", k.name}, {"prefix", k.prefix},
                                        {"scopes", k.scopes}, {"revoked", k.revoked}});
      if (!json)
        std::cout << k.id << "\t" << k.account << "\t" << k.name << "\t" << k.prefix << "...\t" << k.scopes
                  << (k.revoked ? "\trevoked" : "") << "\n";
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
  });
  auto* ak_revoke = ak->add_subcommand("revoke", "Revoke an API key");
  ak_revoke->add_option("id", key_id, "Key id from 'kurier api-key list'")->required();
  config_opt(ak_revoke);
  ak_revoke->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    OrFail(OpenStoreOrExit(c)->RevokeApiKey(key_id));
    std::cout << "API key " << key_id << " revoked\n";
  });

  // queue
  static std::string id;
  static bool raw = false;
  auto* queue = app.add_subcommand("queue", "Inspect the message queue");
  queue->require_subcommand(1);
  auto* q_list = queue->add_subcommand("list", "List queued messages");
  q_list->add_flag("--json", json, "JSON output");
  config_opt(q_list);
  q_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto sp = OpenSpoolOrExit(c);
    auto list = OrFail(sp->List());
    if (json) {
      boost::json::array arr;
      for (const auto& m : list) arr.push_back(MessageJson(m));
      std::cout << boost::json::serialize(arr) << "\n";
      return;
    }
    std::cout << std::left << std::setw(22) << "ID" << std::setw(22) << "RECEIVED" << std::setw(10) << "SIZE"
              << "FROM -> RECIPIENTS\n";
    for (const auto& m : list) {
      std::cout << std::setw(22) << m.id << std::setw(22) << FormatTimeUtc(m.received_at) << std::setw(10) << m.size
                << "<" << m.mail_from << "> ->";
      for (const auto& r : m.recipients) std::cout << " <" << r << ">";
      std::cout << "\n";
      for (const auto& st : m.states)
        if (st.attempts > 0)
          std::cout << "    <" << st.address << "> " << st.status << " after " << st.attempts << " attempt(s), next "
                    << FormatTimeUtc(st.next_attempt) << ": " << st.last_reply << "\n";
    }
    std::cout << list.size() << " message(s)\n";
  });
  auto* q_show = queue->add_subcommand("show", "Show one message: envelope, events and content");
  q_show->add_option("id", id, "Queue id")->required();
  q_show->add_flag("--json", json, "JSON output");
  q_show->add_flag("--raw", raw, "Print the stored message exactly as spooled");
  config_opt(q_show);
  q_show->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto sp = OpenSpoolOrExit(c);
    auto m = OrFail(sp->Get(id));
    if (!m) Fail("no message with id " + id + " in the queue; see 'kurier queue list'");
    if (raw) {
      std::fwrite(m->data.data(), 1, m->data.size(), stdout);
      return;
    }
    auto s = OpenStoreOrExit(c);
    store::EventFilter f;
    f.message_id = id;
    auto events = OrFail(s->ListEvents(f));
    if (json) {
      boost::json::object o = MessageJson(*m);
      o["credential"] = m->credential;
      o["client_ip"] = m->client_ip;
      o["helo"] = m->helo;
      o["body_type"] = m->body_type;
      o["smtputf8"] = m->smtputf8;
      boost::json::array evs;
      for (const auto& e : events) evs.push_back(EventJson(e));
      o["events"] = std::move(evs);
      o["message"] = Sanitize(m->data);
      std::cout << boost::json::serialize(o) << "\n";
      return;
    }
    std::cout << "id:          " << m->id << "\nreceived:    " << FormatTimeUtc(m->received_at)
              << "\naccount:     " << m->account << "\ncredential:  " << m->credential << "\nclient:      "
              << m->client_ip << " (" << m->helo << ")\nTLS:         "
              << (m->tls_version.empty() ? "none" : m->tls_version + " " + m->tls_cipher) << "\nfrom:        <"
              << m->mail_from << ">\n";
    for (const auto& st : m->states)
      std::cout << "to:          <" << st.address << "> " << st.status
                << (st.attempts ? " (" + std::to_string(st.attempts) + " attempt(s), next " + FormatTimeUtc(st.next_attempt) +
                                      ", last reply: " + st.last_reply + ")"
                                : std::string())
                << "\n";
    std::cout << "size:        " << m->size << "\nevents:\n";
    for (const auto& e : events) std::cout << "  " << FormatTimeUtc(e.time) << " " << e.type << " " << e.data << "\n";
  });

  // queue retry|delete|suspend|resume: through the running server, or on the files when none runs
  struct QueueAction {
    const char* name;
    const char* help;
    const char* arg_help;
  };
  static std::string target;
  for (QueueAction a : {QueueAction{"retry", "Try a message's deferred recipients now", "Queue id"},
                        QueueAction{"delete", "Remove a message from the queue; its undelivered recipients are dropped", "Queue id"},
                        QueueAction{"suspend", "Hold delivery to a recipient domain (kept across restarts)", "Domain"},
                        QueueAction{"resume", "Resume delivery to a suspended domain", "Domain"}}) {
    auto* cmd = queue->add_subcommand(a.name, a.help);
    cmd->add_option(a.name == std::string("retry") || a.name == std::string("delete") ? "id" : "domain", target, a.arg_help)
        ->required();
    config_opt(cmd);
    std::string action = a.name;
    cmd->callback([&, action] {
      Config c = LoadConfigOrExit(config_path);
      std::string arg = action == "suspend" || action == "resume" ? ToLowerAscii(target) : target;
      if (auto answer = SendControl(c.control_socket, action, arg)) {
        std::cout << answer->detail << "\n";
        if (!answer->ok) std::exit(1);
        return;
      }
      // No server is running: change the spool; the next `kurier serve` acts on it.
      auto store = OpenStoreOrExit(c);
      auto sp = spool::Spool::Open(c.spool_path, spool::SpoolOptions{c.spool_fsync, c.spool_max_batch}, store.get());
      if (!sp) Fail(sp.error().message);
      std::string detail;
      if (action == "suspend" || action == "resume") {
        sp.value()->SetSuspended(arg, action == "suspend");
        detail = "delivery to " + arg + (action == "suspend" ? " suspended" : " resumed") + " (kurier is not running)";
      } else {
        auto m = OrFail(sp.value()->Get(arg));
        if (!m) Fail("no message with id " + arg + " in the queue; see 'kurier queue list'");
        if (action == "delete") {
          sp.value()->Delete(arg, {store::Event{0, NowMicros(), "deleted", arg, m->account, "{}"}});
          detail = "message " + arg + " deleted";
        } else {
          std::vector<spool::RecipientUpdate> ups;
          for (const auto& st : m->states)
            if (st.status == "queued") ups.push_back({arg, st.idx, "queued", st.attempts, NowMicros(), st.last_reply});
          if (ups.empty()) Fail("no deferred recipient of " + arg + " is waiting");
          detail = std::to_string(ups.size()) + " recipient(s) of " + arg + " will be tried when kurier starts";
          sp.value()->Update(std::move(ups), {});
        }
      }
      sp.value()->Stop();
      std::cout << detail << "\n";
    });
  }

  // events
  static std::string type;
  auto* ev = app.add_subcommand("events", "Read the event log");
  ev->require_subcommand(1);
  auto* ev_list = ev->add_subcommand("list", "List events, oldest first");
  ev_list->add_option("--type", type, "Only this type (accepted, auth_failed, ...)");
  ev_list->add_option("--message", id, "Only events of this message");
  ev_list->add_flag("--json", json, "JSON output");
  config_opt(ev_list);
  ev_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    store::EventFilter f;
    f.type = type;
    f.message_id = id;
    f.limit = 100000;
    auto events = OrFail(OpenStoreOrExit(c)->ListEvents(f));
    boost::json::array arr;
    for (const auto& e : events) {
      if (json)
        arr.push_back(EventJson(e));
      else
        std::cout << FormatTimeUtc(e.time) << " " << e.type << " " << e.message_id << " " << e.data << "\n";
    }
    if (json) std::cout << boost::json::serialize(arr) << "\n";
  });
}

}  // namespace kurier::app
