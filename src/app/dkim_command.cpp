// dkim_command.cpp - `kurier dkim keygen|sign`: DKIM keys and signatures by hand (the signer that
// delivery will use), for checking a setup and for tests against independent verifiers.
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
#include "dkim/signer.hpp"

namespace kurier::app {

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
    std::ifstream kf(key_file);
    std::string pem((std::istreambuf_iterator<char>(kf)), std::istreambuf_iterator<char>());
    auto key = dkim::PrivateKey::FromPem(pem);
    if (!key) Fail(key_file + ": " + key.error().message);
    std::string in((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::string msg;  // CRLF line endings, as on the wire
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) msg += '\r';
      msg += in[i];
    }
    dkim::SignOptions o;
    o.domain = domain;
    o.selector = selector;
    o.timestamp = timestamp ? timestamp : NowMicros() / 1000000;
    o.headers = dkim::DefaultSignedHeaders(msg);
    auto sig = dkim::Sign(msg, key.value(), o);
    if (!sig) Fail(sig.error().message);
    std::cout << sig.value() << msg;
  });
}

}  // namespace kurier::app
