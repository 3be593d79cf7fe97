// dkim_command.cpp - `kurier dkim keygen|sign|arc-seal`: DKIM keys, signatures and ARC seals by hand
// (the signer and sealer that delivery uses), for checking a setup and for tests against independent
// verifiers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "app/app.hpp"
#include "common/ids.hpp"
#include "dkim/arc.hpp"
#include "dkim/signer.hpp"

namespace kurier::app {

namespace {

dkim::PrivateKey ReadKeyOrExit(const std::string& path) {
  auto key = dkim::PrivateKey::FromPemFile(path);
  if (!key) Fail(key.error().message);
  return std::move(key.value());
}

// The message on stdin with CRLF line endings, as on the wire.
std::string ReadMessage() {
  std::string in((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string msg;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) msg += '\r';
    msg += in[i];
  }
  return msg;
}

}  // namespace

void AddDkimCommand(CLI::App& app) {
  auto* dk = app.add_subcommand("dkim", "DKIM keys and signatures (RFC 6376, RFC 8463)");
  dk->require_subcommand(1);
  static std::string algorithm = "rsa", out, domain, selector, key_file;
  static int64_t timestamp = 0;
  auto* keygen = dk->add_subcommand("keygen", "Create a private key (file mode 0600) and print its DNS TXT record");
  keygen->add_option("--algorithm", algorithm, "rsa (2048 bits) or ed25519")->check(CLI::IsMember({"rsa", "ed25519"}));
  keygen->add_option("--out", out, "Where to write the PEM private key")->required();
  keygen->callback([] {
    auto key = dkim::PrivateKey::Generate(algorithm == "rsa" ? dkim::Algorithm::kRsaSha256 : dkim::Algorithm::kEd25519Sha256);
    if (!key) Fail(key.error().message);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) Fail("cannot create " + out + " (it must not exist yet): " + std::string(strerror(errno)));
    std::string pem = key->ToPem();
    if (::write(fd, pem.data(), pem.size()) != static_cast<ssize_t>(pem.size())) Fail("cannot write " + out);
    ::close(fd);
    std::cout << "v=DKIM1; k=" << (algorithm == "rsa" ? "rsa" : "ed25519") << "; p=" << key->PublicKeyForDns() << "\n";
  });
  auto* sign = dk->add_subcommand("sign", "Read a message (CRLF or LF lines) on stdin, print it signed");
  sign->add_option("--domain", domain, "d=")->required();
  sign->add_option("--selector", selector, "s=")->required();
  sign->add_option("--key", key_file, "PEM private key")->required();
  sign->add_option("--timestamp", timestamp, "t= (default: now)");
  sign->callback([] {
    dkim::PrivateKey key = ReadKeyOrExit(key_file);
    std::string msg = ReadMessage();
    dkim::SignOptions o;
    o.domain = domain;
    o.selector = selector;
    o.timestamp = timestamp ? timestamp : NowMicros() / 1000000;
    o.headers = dkim::DefaultSignedHeaders(msg);
    auto sig = dkim::Sign(msg, key, o);
    if (!sig) Fail(sig.error().message);
    std::cout << sig.value() << msg;
  });
  static std::string authserv_id, results = "arc=none";
  auto* seal = dk->add_subcommand(
      "arc-seal", "Read a message (CRLF or LF lines) on stdin, print it with an ARC set (RFC 8617, i=1, cv=none) "
                  "on top; a message that already carries ARC fields is refused (exit 1)");
  seal->add_option("--domain", domain, "d= of the sealer")->required();
  seal->add_option("--selector", selector, "s=")->required();
  seal->add_option("--key", key_file, "PEM private key (RSA: ARC verifiers accept rsa-sha256 only)")->required();
  seal->add_option("--authserv-id", authserv_id, "authserv-id of the ARC-Authentication-Results, e.g. the host name")
      ->required();
  seal->add_option("--results", results,
                   "Results after the authserv-id (RFC 8601 resinfo), e.g. \"arc=none smtp.remote-ip=192.0.2.1\"")
      ->capture_default_str();
  seal->add_option("--timestamp", timestamp, "t= (default: now)");
  seal->callback([] {
    dkim::PrivateKey key = ReadKeyOrExit(key_file);
    std::string msg = ReadMessage();
    dkim::ArcSealOptions o;
    o.domain = domain;
    o.selector = selector;
    o.authserv_id = authserv_id;
    o.results = results;
    o.timestamp = timestamp ? timestamp : NowMicros() / 1000000;
    auto set = dkim::Seal(msg, key, o);
    if (!set) Fail(set.error().message);
    std::cout << set->Headers() << msg;
  });
}

}  // namespace kurier::app
