// init.cpp - `kurier init`: a ready-to-run data directory (configuration, database, spool, a
// self-signed certificate or the one given, the `default` account with one SMTP credential and one API
// key), written into a temporary directory beside DIR and renamed into place when complete.
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>

#include "app/app.hpp"
#include "smtp/server/tls_context.hpp"
#include "spool/spool.hpp"
#include "store/credentials.hpp"

namespace kurier::app {

namespace fs = std::filesystem;

std::string InstallProblem(const Config& c) {
  std::error_code ec;
  if (!fs::is_directory(c.data_dir, ec))
    return "the data directory " + c.data_dir.string() + " (server.data_dir of " + c.file.string() + ") does not exist";
  const std::pair<const char*, const fs::path*> files[] = {{"store.sqlite_path", &c.sqlite_path},
                                                           {"spool.path", &c.spool_path},
                                                           {"tls.certificate", &c.tls_certificate},
                                                           {"tls.private_key", &c.tls_private_key}};
  for (const auto& [key, path] : files)
    if (!fs::exists(*path, ec) && !((path == &c.sqlite_path || path == &c.spool_path) && c.store_backend == "postgresql"))
      return c.data_dir.string() + " is not a complete kurier data directory: " + key + " " + path->string() + " is missing";
  return "";
}

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

// Init's own failures: thrown, so that the staging directories are removed before kurier exits.
struct InitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r) throw InitError(what + ": " + r.error().message);
  return std::move(r.value());
}
void Must(Result<void> r, const std::string& what) {
  if (!r) throw InitError(what + ": " + r.error().message);
}

// Tests only: KURIER_TEST_THROW=init:STEP makes init fail after STEP, as a full disk would.
void FaultForTest(const std::string& step) {
  const char* v = std::getenv("KURIER_TEST_THROW");
  if (v && std::string(v) == "init:" + step) throw InitError("KURIER_TEST_THROW fault injected after " + step);
}

bool IsUnder(const fs::path& p, const fs::path& root) {
  auto r = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r.first == root.end();
}

// Why `dir` cannot be made by init ("" when it does not exist or is an empty directory).
std::string Occupied(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "";
  if (!fs::is_directory(dir, ec)) return what + " " + dir.string() + " exists and is not a directory; choose another";
  if (fs::is_empty(dir, ec)) return "";
  const std::string refusal = what + " " + dir.string() + " is not empty; init never writes into a non-empty directory";
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) entries.push_back(e.path().filename().string());
  if (std::all_of(entries.begin(), entries.end(), [](const std::string& n) { return n.rfind(".kurier-init-", 0) == 0; }))
    return refusal + ": it holds only " + entries.front() + ", left by an init that was killed. Remove it (rm -r " +
           (dir / entries.front()).string() + ") and run init again";
  if (!fs::exists(dir / "kurier.toml", ec)) return refusal + ": choose another";
  auto existing = LoadConfig(dir / "kurier.toml");
  if (existing && InstallProblem(existing.value()).empty())
    return dir.string() + " already holds a kurier install; init never overwrites one. Start it with 'kurier serve "
           "--config " + (dir / "kurier.toml").string() + "', or choose a new --dir";
  return refusal + ". It holds a kurier.toml but is not a complete kurier install (" +
         (existing ? InstallProblem(existing.value()) : "the file is not valid") +
         "): the remains of an interrupted 'kurier init' of an older kurier? If nothing in it is needed, remove it "
         "(rm -r " + dir.string() + ") and run init again; or choose a new --dir";
}

// The directories init makes, each first written as a temporary directory and moved into place by Commit;
// removed if init fails before that. A new directory is staged beside its place (same file system) and
// renamed into it in one step. An existing empty one (perhaps a mount point, or the working directory)
// is staged inside itself and its entries moved up, kurier.toml last.
class Staging {
 public:
  ~Staging() { Discard(); }
  // Removes the temporary directories (unless committed).
  void Discard() {
    if (committed_) return;
    std::error_code ec;
    for (const auto& d : dirs_) fs::remove_all(d.temp, ec);
    dirs_.clear();
  }
  // Stages `final_dir` (which must not exist, or be empty) and returns its temporary twin.
  fs::path Add(const fs::path& final_dir, const std::string& what) {
    if (auto why = Occupied(final_dir, what); !why.empty()) throw InitError(why);
    std::error_code ec;
    const bool inside = fs::is_directory(final_dir, ec);
    fs::path where = inside ? final_dir : final_dir.parent_path();
    fs::create_directories(where, ec);
    if (ec) throw InitError("cannot create " + where.string() + ": " + ec.message());
    std::string pattern = (where / ((inside ? "" : "." + final_dir.filename().string()) + ".kurier-init-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) throw InitError("cannot create a directory in " + where.string() + ": " + std::strerror(errno));
    dirs_.push_back(Dir{final_dir, pattern, inside});
    return pattern;
  }
  // Where `p` is written while staging: under a temporary twin, or "" when it is in no staged directory.
  fs::path Map(const fs::path& p) const {
    for (const auto& d : dirs_) {
      if (IsUnder(p, d.temp)) return p;
      if (IsUnder(p, d.final)) return d.temp / p.lexically_relative(d.final);
    }
    return {};
  }
  // Moves every temporary directory into place (the first one added, holding kurier.toml, last).
  void Commit() {
    for (size_t i = dirs_.size(); i-- > 0;) {
      Move(dirs_[i]);
      if (int fd = ::open((dirs_[i].inside ? dirs_[i].final : dirs_[i].final.parent_path()).c_str(), O_RDONLY | O_DIRECTORY);
          fd >= 0) {
        ::fsync(fd);  // the renames themselves durable
        ::close(fd);
      }
    }
    committed_ = true;
  }
  std::string Temporaries() const {
    std::string out;
    for (size_t i = 0; i < dirs_.size(); ++i) out += (i == 0 ? "" : " and ") + dirs_[i].temp.string();
    return out.empty() ? out : "the unfinished " + out + (dirs_.size() > 1 ? " were" : " was") + " removed";
  }

 private:
  struct Dir {
    fs::path final, temp;
    bool inside = false;
  };
  static void Move(const Dir& d) {
    std::error_code ec;
    if (!d.inside) {
      fs::rename(d.temp, d.final, ec);
      if (ec) throw InitError("cannot move " + d.temp.string() + " to " + d.final.string() + ": " + ec.message());
      return;
    }
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(d.temp)) entries.push_back(e.path().filename());
    std::stable_partition(entries.begin(), entries.end(), [](const fs::path& n) { return n != "kurier.toml"; });
    for (const auto& name : entries) {
      fs::rename(d.temp / name, d.final / name, ec);
      if (ec) throw InitError("cannot move " + (d.temp / name).string() + " into " + d.final.string() + ": " + ec.message());
    }
    fs::remove(d.temp, ec);
    ::chmod(d.final.c_str(), 0700);  // as a directory init makes (it holds keys and the database)
  }
  std::vector<Dir> dirs_;
  bool committed_ = false;
};

struct InitOptions {
  std::string dir, config;
  bool json = false;
  std::vector<std::string> sets, sender_domains;
  std::string tls_cert, tls_key;
};

// The --set overrides as TOML literals, with --tls-cert/--tls-key as tls.certificate/tls.private_key.
std::map<std::string, std::string> Overrides(const InitOptions& o) {
  std::map<std::string, std::string> overrides = SetOverrides(o.sets);
  if (o.tls_cert.empty() != o.tls_key.empty())
    Fail("give --tls-cert FILE and --tls-key FILE together (the certificate chain and its private key)");
  if (o.tls_cert.empty()) return overrides;
  if (overrides.count("tls.certificate") || overrides.count("tls.private_key"))
    Fail("--tls-cert/--tls-key set tls.certificate and tls.private_key; do not --set them too");
  auto checked = smtp::server::CheckCertificatePair(fs::absolute(o.tls_cert), fs::absolute(o.tls_key), "--tls-cert", "--tls-key");
  if (!checked) Fail(checked.error().message);
  if (checked->expired)
    Fail("--tls-cert " + o.tls_cert + " expired on " + checked->not_after + "; renew it first (certbot renew)");
  overrides["tls.certificate"] = ToTomlLiteral(fs::absolute(o.tls_cert).lexically_normal().string());
  overrides["tls.private_key"] = ToTomlLiteral(fs::absolute(o.tls_key).lexically_normal().string());
  return overrides;
}

// Where a file init writes goes while staging; it must be inside one of the directories init makes.
fs::path Staged(const Staging& staging, const char* key, const fs::path& p) {
  fs::path mapped = staging.Map(p);
  if (mapped.empty())
    throw InitError(std::string(key) + " = " + p.string() + " is outside the directories init creates (--dir and "
                    "server.data_dir), and init writes it: leave it relative to server.data_dir (the file may be moved "
                    "after init)");
  return mapped;
}

struct Created {
  std::string password, api_key;
  bool joined = false;  ///< the PostgreSQL database had accounts already: this node joins them
};

// Everything inside the staged directories: the certificate (unless given), the store with the node
// secret, the spool, the default account with its sender domains, an SMTP credential and an API key.
Created Populate(const Config& config, Staging& staging, bool self_signed, const std::vector<std::string>& sender_domains) {
  FaultForTest("config");
  if (self_signed) {
    Must(WriteSelfSignedCertificate(Staged(staging, "tls.certificate", config.tls_certificate),
                                    Staged(staging, "tls.private_key", config.tls_private_key), config.hostname),
         "the self-signed certificate");
    FaultForTest("certificate");
  }
  Config work = config;  // the same configuration, its files at their staged places
  work.secret_file = Staged(staging, "server.secret_file", config.secret_file);
  work.sqlite_path = Staged(staging, "store.sqlite_path", config.sqlite_path);
  work.spool_path = Staged(staging, "spool.path", config.spool_path);
  Created out;
  {
    auto store = Must(OpenConfiguredStore(work, /*create_secret=*/true), "the database");
    FaultForTest("store");
    Must(OpenConfiguredSpool(work, nullptr, /*migrate=*/true), "the spool");
    FaultForTest("spool");
    // Another node set this PostgreSQL database up: this one shares its accounts and credentials.
    if (config.store_backend == "postgresql" && !Must(store->ListAccounts(), "the accounts").empty()) {
      out.joined = true;
      return out;
    }
    Must(store->CreateAccount("default"), "account default");
    for (const auto& d : sender_domains) Must(store->AddSenderDomain("default", d), "sender domain " + d);
    out.password = Must(store::IssueSmtpCredential(*store, "default", "default"), "the SMTP credential").password;
    out.api_key = Must(store::IssueApiKey(*store, "default", "default", "send read admin"), "the API key").secret;
    FaultForTest("credentials");
  }
  return out;
}

// "0.0.0.0:8025" is reached at 127.0.0.1:8025, "[::]:8025" at [::1]:8025.
std::string Reachable(const std::string& listen) {
  if (listen.rfind("0.0.0.0:", 0) == 0) return "127.0.0.1" + listen.substr(7);
  if (listen.rfind("[::]:", 0) == 0) return "[::1]" + listen.substr(4);
  return listen;
}

void PrintInitialised(const Config& config, const InitOptions& o, const std::vector<std::string>& domains, const Created& c) {
  if (c.joined) {
    std::cout << (o.json ? boost::json::serialize(boost::json::object{{"config", config.file.string()},
                                                                       {"data_dir", config.data_dir.string()},
                                                                       {"joined", true}})
                         : "Initialised " + config.data_dir.string() + " as another node of the PostgreSQL database " +
                               "of store.url, which has its accounts already: use their SMTP credentials and API keys.\n" +
                               "Before 'kurier serve --config " + config.file.string() + "', copy from the first node " +
                               "server.secret_file (" + config.secret_file.string() + ": it seals webhook secrets and " +
                               "signs bounce addresses and tracking links, the same on every node) and the DKIM key " +
                               "directory (the database names each key's file by its path: keep server.data_dir the " +
                               "same on every node, and copy new keys after 'kurier domain add' or a rotation).")
              << "\n";
    return;
  }
  const bool self_signed = o.tls_cert.empty();
  const std::string api_url = "http://" + Reachable(config.api.listen);
  auto listen = [](const ListenerConfig& l) {
    return l.enabled ? boost::json::value(l.listen) : boost::json::value(nullptr);
  };
  if (o.json) {
    boost::json::object j{{"config", config.file.string()},   {"data_dir", config.data_dir.string()},
                          {"account", "default"},            {"submission", listen(config.submission)},
                          {"submissions", listen(config.submissions)}, {"relay", listen(config.relay)},
                          {"api", config.api.enabled ? boost::json::value(config.api.listen) : nullptr},
                          {"api_url", config.api.enabled ? boost::json::value(api_url) : nullptr},
                          {"smtp_username", "default"},    {"smtp_password", c.password},
                          {"api_key", c.api_key},          {"tls_certificate", config.tls_certificate.string()},
                          {"tls_self_signed", self_signed}};
    std::cout << boost::json::serialize(j) << "\n";
    return;
  }
  const bool apart = config.data_dir != fs::path(config.file).parent_path();
  std::cout << "Initialised " << (o.config.empty() ? fs::path(config.file).parent_path() : config.data_dir).string() << "\n\n"
            << "  configuration   " << config.file.string() << "\n"
            << (apart ? "  data directory  " + config.data_dir.string() + "\n" : "")
            << "  account         default (may send from: ";
  for (size_t i = 0; i < domains.size(); ++i) std::cout << (i ? ", " : "") << domains[i];
  std::cout << ")\n";
  if (config.submission.enabled) std::cout << "  submission      " << config.submission.listen << " (STARTTLS)\n";
  if (config.submissions.enabled) std::cout << "  submissions     " << config.submissions.listen << " (implicit TLS)\n";
  if (config.api.enabled) std::cout << "  HTTP API        " << api_url << " (OpenAPI document: " << api_url << "/v1/openapi.json)\n";
  std::cout << "  SMTP username   default\n"
            << "  SMTP password   " << c.password << "\n"
            << "  API key         " << c.api_key << "\n"
            << "  TLS certificate " << config.tls_certificate.string()
            << (self_signed ? " (self-signed: clients trust it with this file, e.g. swaks --tls-verify --tls-ca-path FILE, "
                              "curl --cacert FILE)\n"
                            : " (reloaded when it changes, e.g. renewed by certbot, and on SIGHUP)\n")
            << "\nThe password and the API key are shown only now; kurier keeps only their hashes.\n"
            << "Start the server with: kurier serve --config " << config.file.string() << "\n";
  if (config.api.enabled)
    std::cout << "Then try the API:      curl -H 'Authorization: Bearer " << c.api_key << "' " << api_url << "/v1/events\n";
}

[[noreturn]] void FailInit(Staging& staging, const std::exception& e) {
  const std::string temporaries = staging.Temporaries();
  staging.Discard();  // now: Fail exits without unwinding
  Fail(std::string("init failed: ") + e.what() + "\nNothing was installed" +
       (temporaries.empty() ? "" : " (" + temporaries + ")") + "; fix the cause and run init again.");
}

void RunInitFromConfig(InitOptions o);

void RunInit(InitOptions o) {
  if (!o.config.empty()) return RunInitFromConfig(o);
  if (o.dir.empty())
    throw CLI::ValidationError("init needs --dir DIR (a new directory for the configuration and the data) or --config "
                               "FILE (an existing configuration, e.g. /etc/kurier/kurier.toml: init creates the "
                               "server.data_dir it names)");
  fs::path dir = fs::absolute(o.dir).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();
  if (auto why = Occupied(dir, "--dir"); !why.empty()) Fail(why);
  auto text = RenderConfigTemplate(Overrides(o));
  if (!text) Fail("invalid --set:\n" + text.error().message);
  if (o.sender_domains.empty()) o.sender_domains.push_back("example.com");
  Staging staging;
  try {
    fs::path temp = staging.Add(dir, "--dir");
    {
      std::ofstream out(temp / "kurier.toml");
      out << text.value();
      out.flush();
      if (!out) throw InitError("cannot write " + (temp / "kurier.toml").string());
    }
    // Loaded from its staged place: a relative server.data_dir is staged with it; one elsewhere gets a
    // temporary twin of its own.
    auto config = LoadConfig(temp / "kurier.toml");
    if (!config) throw InitError("invalid configuration:\n" + config.error().message);
    if (staging.Map(config->data_dir).empty()) staging.Add(config->data_dir, "server.data_dir");
    fs::path data = staging.Map(config->data_dir);
    std::error_code ec;
    fs::create_directories(data, ec);
    if (ec) throw InitError("cannot create " + data.string() + ": " + ec.message());
    Created created = Populate(config.value(), staging, o.tls_cert.empty(), o.sender_domains);
    staging.Commit();
    auto final_config = LoadConfig(dir / "kurier.toml");
    if (!final_config) throw InitError(final_config.error().message);
    PrintInitialised(final_config.value(), o, o.sender_domains, created);
  } catch (const std::exception& e) {
    FailInit(staging, e);
  }
}

// `init --config FILE`: the configuration exists (the Debian package installs /etc/kurier/kurier.toml);
// init creates the data directory it names, apart from it (server.data_dir = "/var/lib/kurier"), and
// leaves the file as it is.
void RunInitFromConfig(InitOptions o) {
  if (!o.dir.empty() || !o.sets.empty() || !o.tls_cert.empty() || !o.tls_key.empty())
    throw CLI::ValidationError("init --config " + o.config + " uses the file as it is: give neither --dir nor --set, "
                               "--tls-cert or --tls-key (set tls.certificate and tls.private_key in the file instead)");
  std::error_code ec;
  if (!fs::is_regular_file(o.config, ec))
    Fail("configuration file " + o.config + " not found; 'kurier config template > FILE' writes one, or use "
         "'kurier init --dir DIR' to create a configuration and its data directory together");
  auto config = LoadConfig(o.config);
  if (!config) Fail("invalid configuration " + o.config + ":\n" + config.error().message);
  const fs::path data_dir = config->data_dir;
  if (data_dir == config->file.parent_path() || IsUnder(config->file, data_dir))
    Fail("server.data_dir of " + config->file.string() + " is " + data_dir.string() + ", which holds the file itself; init "
         "--config keeps the configuration apart from its data: set server.data_dir to a directory of its own (e.g. "
         "\"/var/lib/kurier\"), or use 'kurier init --dir DIR' for both in one directory");
  if (InstallProblem(config.value()).empty())
    Fail(data_dir.string() + " already holds a kurier install (server.data_dir of " + config->file.string() +
         "); init never overwrites one. Start it with 'kurier serve --config " + config->file.string() + "'");
  if (o.sender_domains.empty()) o.sender_domains.push_back("example.com");
  Staging staging;
  try {
    fs::path data = staging.Add(data_dir, "server.data_dir");
    fs::create_directories(data, ec);
    if (ec) throw InitError("cannot create " + data.string() + ": " + ec.message());
    // A certificate under the data directory is made (self-signed); one elsewhere (certbot's) must be there.
    const bool self_signed = !staging.Map(config->tls_certificate).empty();
    if (!self_signed) {
      auto checked = smtp::server::CheckCertificatePair(config->tls_certificate, config->tls_private_key, "tls.certificate",
                                                        "tls.private_key");
      if (!checked) throw InitError(checked.error().message);
    }
    Created created = Populate(config.value(), staging, self_signed, o.sender_domains);
    staging.Commit();
    o.tls_cert = self_signed ? "" : config->tls_certificate.string();  // for the summary
    PrintInitialised(config.value(), o, o.sender_domains, created);
  } catch (const std::exception& e) {
    FailInit(staging, e);
  }
}

}  // namespace

std::map<std::string, std::string> SetOverrides(const std::vector<std::string>& sets) {
  std::map<std::string, std::string> overrides;
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) Fail("--set " + s + ": write KEY=VALUE, e.g. --set smtp.submission.listen=127.0.0.1:2587");
    overrides[s.substr(0, eq)] = ToTomlLiteral(s.substr(eq + 1));
  }
  return overrides;
}

void AddInitCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("init", "Create a data directory: configuration, database, TLS certificate, "
                                         "the 'default' account, an SMTP credential and an API key. It is written "
                                         "beside DIR and renamed into place when complete: a failed init leaves nothing");
  static InitOptions o;
  cmd->add_option("--dir", o.dir, "Directory to create (must not exist or be empty)");
  cmd->add_option("--config", o.config, "Instead of --dir: an existing configuration (e.g. /etc/kurier/kurier.toml of "
                                        "the Debian package); init creates the data directory it names "
                                        "(server.data_dir, apart from the file) and leaves the file as it is");
  cmd->add_flag("--json", o.json, "Print one JSON object with listen addresses and credentials");
  cmd->add_option("--set", o.sets, "Override a configuration key in the written file: KEY=VALUE (repeatable)");
  cmd->add_option("--sender-domain", o.sender_domains, "Domain the default account may send from (repeatable; default example.com)");
  cmd->add_option("--tls-cert", o.tls_cert, "PEM certificate chain to use instead of a self-signed one (e.g. certbot's "
                                            "/etc/letsencrypt/live/NAME/fullchain.pem); kept where it is and reloaded when it changes");
  cmd->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert (e.g. certbot's privkey.pem)");
  cmd->callback([] { RunInit(o); });
}

}  // namespace kurier::app
