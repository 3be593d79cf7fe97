// tls_context.cpp - server TLS set-up of every SMTP listener (submission and relay STARTTLS, implicit
// TLS on submissions, the bounce listener's STARTTLS): one context, shared by all of them, replaced by a
// new one when the certificate files change (ServerTlsContext).
// SECURITY: protects credentials in AUTH. The protocol and cipher policy is tls.ciphers
// (net/tls_policy.cpp): TLS 1.2 at least (RFC 8996 deprecates 1.0/1.1, RFC 8314 asks for TLS 1.2 or
// later), forward-secret AEAD suites only, no renegotiation, no compression (CRIME).
#include "smtp/server/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "net/tls_policy.hpp"

namespace kurier::smtp::server {

Result<void> ConfigureServerTls(boost::asio::ssl::context& ctx, const Config& config) {
  namespace ssl = boost::asio::ssl;
  boost::system::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                      ssl::context::single_dh_use,
                  ec);
  SSL_CTX* native = ctx.native_handle();
  if (auto r = net::ApplyTlsPolicy(native, config.tls_ciphers, net::TlsRole::kServer, config.tls_min_version); !r)
    return r;
  ctx.use_certificate_chain_file(config.tls_certificate.string(), ec);
  if (ec)
    return MakeError(ErrorCode::kConfig, "tls.certificate: cannot load " + config.tls_certificate.string() + ": " +
                                             ec.message() + "; point it at a PEM certificate chain");
  ctx.use_private_key_file(config.tls_private_key.string(), ssl::context::pem, ec);
  if (ec)
    return MakeError(ErrorCode::kConfig, "tls.private_key: cannot load " + config.tls_private_key.string() + ": " +
                                             ec.message() + "; point it at the PEM key of tls.certificate");
  if (SSL_CTX_check_private_key(native) != 1)
    return MakeError(ErrorCode::kConfig, "tls.private_key does not match tls.certificate; use the key the certificate was issued for");
  return {};
}

namespace {

// The whole file, or why it cannot be read.
Result<std::string> ReadPem(const std::filesystem::path& path, const std::string& label) {
  std::error_code ec;
  const std::string where = label + " " + path.string();
  if (!std::filesystem::exists(path, ec)) return MakeError(ErrorCode::kNotFound, where + ": no such file");
  if (!std::filesystem::is_regular_file(path, ec)) return MakeError(ErrorCode::kInvalidArgument, where + ": not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kIo, where + ": cannot read it: " + std::strerror(errno) +
                                                "; kurier runs as this user and must be able to read it");
  std::ostringstream os;
  os << in.rdbuf();
  if (os.str().size() > (1 << 20)) return MakeError(ErrorCode::kInvalidArgument, where + ": larger than 1 MiB, not a PEM file");
  return os.str();
}

std::string Text(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* p = nullptr;
  long n = BIO_get_mem_data(bio.get(), &p);
  return std::string(p, static_cast<size_t>(n));
}

std::string Text(const ASN1_TIME* t) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  ASN1_TIME_print(bio.get(), t);
  char* p = nullptr;
  long n = BIO_get_mem_data(bio.get(), &p);
  return std::string(p, static_cast<size_t>(n));
}

long long Nanos(const timespec& t) { return static_cast<long long>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

}  // namespace

Result<CertificateSummary> CheckCertificatePair(const std::filesystem::path& cert, const std::filesystem::path& key,
                                                const std::string& cert_label, const std::string& key_label) {
  auto cert_pem = ReadPem(cert, cert_label);
  if (!cert_pem) return cert_pem.error();
  auto key_pem = ReadPem(key, key_label);
  if (!key_pem) return key_pem.error();
  const std::string cert_where = cert_label + " " + cert.string(), key_where = key_label + " " + key.string();
  auto bio = [](const std::string& text) {
    return std::unique_ptr<BIO, decltype(&BIO_free)>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  };
  std::unique_ptr<X509, decltype(&X509_free)> x(PEM_read_bio_X509(bio(*cert_pem).get(), nullptr, nullptr, nullptr), X509_free);
  if (!x) {
    ERR_clear_error();
    if (cert_pem->find("PRIVATE KEY-----") != std::string::npos)
      return MakeError(ErrorCode::kInvalidArgument, cert_where + " is a private key, not a certificate; were " + cert_label +
                                                        " and " + key_label + " swapped?");
    return MakeError(ErrorCode::kInvalidArgument, cert_where + " holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' "
                                                  "block); give the certificate chain, e.g. certbot's fullchain.pem");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(bio(*key_pem).get(), nullptr, nullptr, const_cast<char*>("")), EVP_PKEY_free);
  if (!pkey) {
    ERR_clear_error();
    if (key_pem->find("ENCRYPTED") != std::string::npos)
      return MakeError(ErrorCode::kInvalidArgument, key_where + " is encrypted with a passphrase; give the key unencrypted "
                                                        "(openssl pkey -in KEY -out KEY.pem), readable by kurier only");
    if (key_pem->find("-----BEGIN CERTIFICATE-----") != std::string::npos)
      return MakeError(ErrorCode::kInvalidArgument, key_where + " is a certificate, not a private key; were " + cert_label +
                                                        " and " + key_label + " swapped?");
    return MakeError(ErrorCode::kInvalidArgument, key_where + " holds no PEM private key (a '-----BEGIN PRIVATE KEY-----' "
                                                  "block); give the key, e.g. certbot's privkey.pem");
  }
  if (X509_check_private_key(x.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return MakeError(ErrorCode::kInvalidArgument, key_where + " is not the key of the certificate in " + cert_where +
                                                      " (their public keys differ); give the key the certificate was "
                                                      "issued for (certbot: privkey.pem beside fullchain.pem)");
  }
  CertificateSummary s;
  s.subject = Text(X509_get_subject_name(x.get()));
  s.not_after = Text(X509_get0_notAfter(x.get()));
  s.self_signed = X509_check_issued(x.get(), x.get()) == X509_V_OK;
  s.expired = X509_cmp_current_time(X509_get0_notAfter(x.get())) < 0;
  return s;
}

ServerTlsContext::ServerTlsContext(const Config& config) : config_(config) {}
ServerTlsContext::~ServerTlsContext() = default;

ServerTlsContext::Stamp ServerTlsContext::Read() const {
  Stamp s;
  int i = 0;
  for (const auto* p : {&config_.tls_certificate, &config_.tls_private_key}) {
    struct stat st {};
    if (::stat(p->c_str(), &st) == 0) {
      s.dev[i] = st.st_dev;
      s.ino[i] = st.st_ino;
      s.size[i] = st.st_size;
      s.mtime_ns[i] = Nanos(st.st_mtim);
      s.ctime_ns[i] = Nanos(st.st_ctim);
    }
    ++i;
  }
  return s;
}

bool ServerTlsContext::Poll() {
  Stamp now = Read();
  std::lock_guard l(mu_);
  if (!(now == last_seen_)) {  // changing: look again next time, when it may be complete
    last_seen_ = now;
    return false;
  }
  return !(now == loaded_);
}

Result<CertificateSummary> ServerTlsContext::Reload() {
  Stamp stamp = Read();  // before reading: a change made while loading is seen by the next Poll
  {
    std::lock_guard l(mu_);
    loaded_ = last_seen_ = stamp;
  }
  auto summary = CheckCertificatePair(config_.tls_certificate, config_.tls_private_key);
  if (!summary) return summary.error();
  auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  if (auto r = ConfigureServerTls(*ctx, config_); !r) return r.error();
  std::lock_guard l(mu_);
  current_ = std::move(ctx);
  return summary;
}

std::shared_ptr<boost::asio::ssl::context> ServerTlsContext::Current() const {
  std::lock_guard l(mu_);
  return current_;
}

}  // namespace kurier::smtp::server
