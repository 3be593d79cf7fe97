// init.cpp - `kurier init`: a ready-to-run data directory (configuration, database, spool, a
// self-signed certificate, the `default` account with one SMTP credential and one API key).
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "app/app.hpp"
#include "spool/spool.hpp"
#include "store/credentials.hpp"

namespace kurier::app {

namespace {

// A self-signed RSA-2048 certificate for `hostname`, localhost and the loopback addresses.
Result<void> WriteSelfSignedCertificate(const std::filesystem::path& cert, const std::filesystem::path& key,
                                        const std::string& hostname) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(EVP_RSA_gen(2048), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  if (!pkey || !x) return MakeError(ErrorCode::kInternal, "OpenSSL could not create a key pair");
  X509_set_version(x.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 60L * 60 * 24 * 825);
  X509_set_pubkey(x.get(), pkey.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (hostname != "localhost") san = "DNS:" + hostname + "," + san;
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san}, std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
                            std::pair{NID_ext_key_usage, std::string("serverAuth")}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) return MakeError(ErrorCode::kInternal, "OpenSSL rejected certificate extension " + value);
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (!X509_sign(x.get(), pkey.get(), EVP_sha256())) return MakeError(ErrorCode::kInternal, "OpenSSL could not sign the certificate");
  std::filesystem::create_directories(cert.parent_path());
  std::filesystem::create_directories(key.parent_path());
  int kfd = ::open(key.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  FILE* kf = kfd >= 0 ? fdopen(kfd, "w") : nullptr;
  if (!kf) return MakeError(ErrorCode::kIo, "cannot write " + key.string());
  PEM_write_PrivateKey(kf, pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  fclose(kf);
  FILE* cf = fopen(cert.c_str(), "w");
  if (!cf) return MakeError(ErrorCode::kIo, "cannot write " + cert.string());
  PEM_write_X509(cf, x.get());
  fclose(cf);
  return {};
}

void RunInit(const std::string& dir_arg, bool json, const std::vector<std::string>& sets,
             std::vector<std::string> sender_domains) {
  namespace fs = std::filesystem;
  fs::path dir = fs::absolute(dir_arg);
  std::error_code ec;
  if (fs::exists(dir) && !(fs::is_directory(dir) && fs::is_empty(dir, ec)))
    Fail(dir.string() + " already exists and is not empty; kurier init never overwrites: choose a new --dir");
  std::map<std::string, std::string> overrides;
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) Fail("--set " + s + ": write KEY=VALUE, e.g. --set smtp.submission.listen=127.0.0.1:2587");
    overrides[s.substr(0, eq)] = ToTomlLiteral(s.substr(eq + 1));
  }
  auto text = RenderConfigTemplate(overrides);
  if (!text) Fail("invalid --set:\n" + text.error().message);
  fs::create_directories(dir, ec);
  if (ec) Fail("cannot create " + dir.string() + ": " + ec.message());
  fs::path cfg_path = dir / "kurier.toml";
  {
    std::ofstream out(cfg_path);
    out << text.value();
    if (!out) Fail("cannot write " + cfg_path.string());
  }
  Config config = LoadConfigOrExit(cfg_path.string());
  fs::create_directories(config.data_dir, ec);
  ::chmod(config.data_dir.c_str(), 0700);
  if (auto r = WriteSelfSignedCertificate(config.tls_certificate, config.tls_private_key, config.hostname); !r)
    Fail(r.error().message);
  auto store = OpenStoreOrExit(config, /*create_secret=*/true);  // server.secret_file too
  {
    auto spool = spool::Spool::Open(config.spool_path, spool::SpoolOptions{config.spool_fsync, config.spool_max_batch}, nullptr);
    if (!spool) Fail(spool.error().message);
  }
  const std::string account = "default";
  if (auto a = store->CreateAccount(account); !a) Fail(a.error().message);
  if (sender_domains.empty()) sender_domains.push_back("example.com");
  for (const auto& d : sender_domains)
    if (auto r = store->AddSenderDomain(account, d); !r) Fail(r.error().message);
  auto password = store::IssueSmtpCredential(*store, account, "default");
  if (!password) Fail(password.error().message);
  auto key = store::IssueApiKey(*store, account, "default", "send read admin");
  if (!key) Fail(key.error().message);

  auto listen = [](const ListenerConfig& l) -> boost::json::value {
    return l.enabled ? boost::json::value(l.listen) : boost::json::value(nullptr);
  };
  if (json) {
    boost::json::object o{{"config", cfg_path.string()},   {"data_dir", config.data_dir.string()},
                          {"account", account},            {"submission", listen(config.submission)},
                          {"submissions", listen(config.submissions)}, {"relay", listen(config.relay)},
                          {"smtp_username", "default"},    {"smtp_password", password->password},
                          {"api_key", key->secret}};
    std::cout << boost::json::serialize(o) << "\n";
    return;
  }
  std::cout << "Initialised " << dir.string() << "\n\n"
            << "  configuration   " << cfg_path.string() << "\n"
            << "  account         " << account << " (may send from: ";
  for (size_t i = 0; i < sender_domains.size(); ++i) std::cout << (i ? ", " : "") << sender_domains[i];
  std::cout << ")\n"
            << "  SMTP username   default\n"
            << "  SMTP password   " << password->password << "\n"
            << "  API key         " << key->secret << "\n\n"
            << "The password and the API key are shown only now; kurier keeps only their hashes.\n"
            << "Start the server with: kurier serve --config " << cfg_path.string() << "\n";
}

}  // namespace

void AddInitCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("init", "Create a data directory: configuration, database, TLS certificate, "
                                         "the 'default' account, an SMTP credential and an API key");
  static std::string dir;
  static bool json = false;
  static std::vector<std::string> sets, domains;
  cmd->add_option("--dir", dir, "Directory to create (must not exist or be empty)")->required();
  cmd->add_flag("--json", json, "Print one JSON object with listen addresses and credentials");
  cmd->add_option("--set", sets, "Override a configuration key in the written file: KEY=VALUE (repeatable)");
  cmd->add_option("--sender-domain", domains, "Domain the default account may send from (repeatable; default example.com)");
  cmd->callback([] { RunInit(dir, json, sets, domains); });
}

}  // namespace kurier::app
