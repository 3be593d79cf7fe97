// Tests of the webhook POST client against real local servers (plain and TLS with a CA made here).
#include "webhooks/client.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include <unistd.h>

#include "webhooks/signature.hpp"

namespace kurier::webhooks {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

TEST(WebhookUrl, Table) {
  struct Row {
    const char* url;
    bool ok;
    bool https;
    const char* host;
    uint16_t port;
    const char* target;
    const char* authority;
  } rows[] = {
      {"https://hooks.example.com/kurier", true, true, "hooks.example.com", 443, "/kurier", "hooks.example.com"},
      {"HTTP://Hooks.Example.COM", true, false, "hooks.example.com", 80, "/", "hooks.example.com"},
      {"http://127.0.0.1:8080/in?token=a%2Fb&x=1", true, false, "127.0.0.1", 8080, "/in?token=a%2Fb&x=1",
       "127.0.0.1:8080"},
      {"https://[::1]:8443/h", true, true, "::1", 8443, "/h", "[::1]:8443"},
      {"https://[2001:DB8::1]/", true, true, "2001:db8::1", 443, "/", "[2001:db8::1]"},
      {"https://hooks.example.com:443?x=1", true, true, "hooks.example.com", 443, "/?x=1", "hooks.example.com"},
      {"http://my_host.internal:80/a/b/", true, false, "my_host.internal", 80, "/a/b/", "my_host.internal"},
      {"", false},
      {"hooks.example.com/path", false},                      // no scheme
      {"ftp://hooks.example.com/", false},                    // scheme
      {"javascript://hooks.example.com/", false},             // scheme
      {"https://user:pw@hooks.example.com/", false},          // userinfo
      {"https://hooks.example.com@evil.example/", false},     // userinfo in disguise
      {"https://hooks.example.com/#frag", false},             // fragment
      {"https://hooks.example.com/a b", false},               // space
      {"https://hooks.example.com/a\r\nHost: evil", false},   // CR LF
      {"https://hooks.example.com/\xc3\xa9", false},          // non-ASCII
      {"https://hooks.example.com/a\\b", false},              // backslash
      {"https://hooks.example.com/%zz", false},               // bad escape
      {"https://hooks.example.com/%4", false},                // short escape
      {"https://", false},                                    // no host
      {"https://:443/", false},                               // no host
      {"https://hooks.example.com:/", false},                 // empty port
      {"https://hooks.example.com:0/", false},                // port 0
      {"https://hooks.example.com:65536/", false},            // port too large
      {"https://hooks.example.com:44x/", false},              // port not a number
      {"https://hooks..example.com/", false},                 // empty label
      {"https://hooks.example.com./", false},                 // trailing dot
      {"https://[::1/", false},                               // unclosed bracket
      {"https://[fe80::1%25eth0]/", false},                   // zone id
      {"https://[not-v6]/", false},                           // bad literal
      {"https://[::1]x/", false},                             // junk after literal
      {"https://a:b:c/", false},                              // colon in host
  };
  for (const auto& r : rows) {
    auto got = ParseWebhookUrl(r.url);
    ASSERT_EQ(got.ok(), r.ok) << r.url << (got.ok() ? "" : ": " + got.error().message);
    if (!r.ok) {
      EXPECT_NE(got.error().message.find("write it as https://"), std::string::npos) << got.error().message;
      continue;
    }
    EXPECT_EQ(got->https, r.https) << r.url;
    EXPECT_EQ(got->host, r.host) << r.url;
    EXPECT_EQ(got->port, r.port) << r.url;
    EXPECT_EQ(got->target, r.target) << r.url;
    EXPECT_EQ(got->Authority(), r.authority) << r.url;
  }
  EXPECT_TRUE(ParseWebhookUrl("https://h.example/" + std::string(2048 - 18, 'a')).ok());
  EXPECT_FALSE(ParseWebhookUrl("https://h.example/" + std::string(2048 - 17, 'a')).ok());
  auto secret = ParseWebhookUrl("https://user:s3cr3t@h.example/");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.error().message.find("s3cr3t"), std::string::npos) << "the error must not echo credentials";
}

// ---------------------------------------------------------------------------------------------------
// A test CA and a server certificate for "localhost", made with OpenSSL at test time.

struct Pki {
  std::string ca_pem, cert_pem, key_pem;
};

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

std::string ToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

X509* MakeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, long serial,
               const std::vector<std::pair<int, const char*>>& extensions) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    EXPECT_NE(ext, nullptr) << value;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, issuer_key, EVP_sha256());
  return x;
}

const Pki& TestPki() {
  static const Pki pki = [] {
    EVP_PKEY* ca_key = EVP_EC_gen("P-256");
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* ca = MakeCert(ca_key, "kurier test CA", nullptr, ca_key, 1,
                        {{NID_basic_constraints, "critical,CA:TRUE"},
                         {NID_key_usage, "critical,keyCertSign,cRLSign"},
                         {NID_subject_key_identifier, "hash"}});
    X509* cert = MakeCert(key, "localhost", ca, ca_key, 2,
                          {{NID_basic_constraints, "critical,CA:FALSE"},
                           {NID_key_usage, "critical,digitalSignature"},
                           {NID_ext_key_usage, "serverAuth"},
                           {NID_subject_alt_name, "DNS:localhost"},
                           {NID_authority_key_identifier, "keyid"}});
    Pki out{ToPem(ca), ToPem(cert), ToPem(key)};
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return out;
  }();
  return pki;
}

// ---------------------------------------------------------------------------------------------------
// A one-thread HTTP(S) server on 127.0.0.1 that records each request and sends a canned answer.

class TestServer {
 public:
  enum class Mode { kAnswer, kSilent };

  /// `tls_ciphers`, when given, limits the TLS server to TLS 1.2 and that OpenSSL cipher list (a
  /// receiver with an old configuration).
  explicit TestServer(std::string answer, Mode mode = Mode::kAnswer, bool tls = false, const char* tls_ciphers = nullptr)
      : answer_(std::move(answer)), mode_(mode), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    if (tls) {
      tls_.emplace(asio::ssl::context::tls_server);
      tls_->use_certificate_chain(asio::buffer(TestPki().cert_pem));
      tls_->use_private_key(asio::buffer(TestPki().key_pem), asio::ssl::context::pem);
      if (tls_ciphers) {
        SSL_CTX_set_max_proto_version(tls_->native_handle(), TLS1_2_VERSION);
        SSL_CTX_set_cipher_list(tls_->native_handle(), tls_ciphers);
      }
    }
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Loop(); });
  }

  ~TestServer() {
    stopping_ = true;
    boost::system::error_code ec;
    tcp::socket wake(ioc_);
    wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/hook") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  std::optional<http::request<http::string_body>> last() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  void Loop() {
    while (!stopping_) {
      tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (stopping_ || ec) return;
      if (tls_) {
        asio::ssl::stream<tcp::socket&> stream(sock, *tls_);
        stream.handshake(asio::ssl::stream_base::server, ec);
        if (!ec) Serve(stream);
      } else {
        Serve(sock);
      }
    }
  }

  template <typename Stream>
  void Serve(Stream& stream) {
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    http::read(stream, buffer, req, ec);
    if (ec) return;
    {
      std::lock_guard lock(mu_);
      last_ = req;
    }
    if (mode_ == Mode::kSilent) {
      while (!stopping_) std::this_thread::sleep_for(10ms);
      return;
    }
    asio::write(stream, asio::buffer(answer_), ec);  // the client may hang up early (oversized answers)
  }

  std::string answer_;
  Mode mode_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> tls_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::optional<http::request<http::string_body>> last_;
  std::thread thread_;
};

std::string Answer(std::string_view status_line, std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 " + std::string(status_line) + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n" + std::string(extra) + "\r\n" + std::string(body);
}

WebhookResponse PostAndWait(const WebhookClient& client, asio::io_context& ioc, WebhookRequest req) {
  std::optional<WebhookResponse> got;
  int calls = 0;
  client.Post(std::move(req), [&](WebhookResponse r) {
    ++calls;
    got = std::move(r);
  });
  EXPECT_FALSE(got) << "done must not run inside Post";
  ioc.restart();
  ioc.run();
  EXPECT_EQ(calls, 1);
  return got ? *got : WebhookResponse{};
}

WebhookClient MakeClient(asio::io_context& ioc, WebhookClientOptions options = {}) {
  auto client = WebhookClient::Create(ioc, std::move(options));
  EXPECT_TRUE(client.ok()) << (client.ok() ? "" : client.error().message);
  return std::move(client).value();
}

TEST(WebhookClient, Delivers200AndSendsTheSignedRequest) {
  TestServer server(Answer("200 OK", "thanks"));
  asio::io_context ioc;
  auto client = MakeClient(ioc);
  std::string secret = GenerateSecret();
  std::string body = R"({"type":"delivered","data":{"message_id":"06h1"}})";
  auto signature = SignatureHeader({secret}, "evt_1", 1700000000, body);
  ASSERT_TRUE(signature.ok());
  WebhookRequest req{server.url("/hook?x=1"), body,
                     {{"webhook-id", "evt_1"}, {"webhook-timestamp", "1700000000"}, {"webhook-signature", *signature}}};
  auto r = PostAndWait(client, ioc, req);
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "thanks");
  EXPECT_FALSE(r.body_truncated);
  EXPECT_EQ(r.remote, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_TRUE(r.tls.empty());

  auto seen = server.last();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->method(), http::verb::post);
  EXPECT_EQ(seen->target(), "/hook?x=1");
  EXPECT_EQ((*seen)[http::field::host], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ((*seen)[http::field::content_type], "application/json");
  EXPECT_EQ((*seen)[http::field::user_agent], "kurier-webhooks/1");
  EXPECT_EQ(seen->body(), body);
  // The receiver's check, from what arrived on the wire.
  EXPECT_TRUE(VerifySignature(secret, (*seen)["webhook-id"], (*seen)["webhook-timestamp"], seen->body(),
                              (*seen)["webhook-signature"], 1700000000));
}

TEST(WebhookClient, ServerErrorsAreFailuresWithTheStatus) {
  struct Row {
    std::string answer;
    int status;
    const char* error_part;
  } rows[] = {
      {Answer("500 Internal Server Error", "boom"), 500, "answered 500 Internal Server Error"},
      {Answer("410 Gone", ""), 410, "answered 410 Gone"},
      {Answer("503 Service Unavailable", "later", "Retry-After: 120\r\n"), 503, "answered 503"},
      {Answer("404 Not Found", ""), 404, "check the URL's path"},
  };
  for (const auto& row : rows) {
    TestServer server(row.answer);
    asio::io_context ioc;
    auto client = MakeClient(ioc);
    auto r = PostAndWait(client, ioc, {server.url(), "{}"});
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status, row.status);
    EXPECT_NE(r.error.find(row.error_part), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << r.error;
    if (row.status == 503) {
      EXPECT_EQ(r.retry_after, 120);
      EXPECT_EQ(r.body, "later");
    }
  }
}

TEST(WebhookClient, RedirectIsNotFollowed) {
  TestServer target(Answer("200 OK", "should not be reached"));
  TestServer server(Answer("301 Moved Permanently", "", "Location: " + target.url("/elsewhere") + "\r\n"));
  asio::io_context ioc;
  auto client = MakeClient(ioc);
  auto r = PostAndWait(client, ioc, {server.url(), "{}"});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.location, target.url("/elsewhere"));
  EXPECT_NE(r.error.find("redirects to " + target.url("/elsewhere")), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("not followed"), std::string::npos) << r.error;
  EXPECT_FALSE(target.last()) << "the redirect target received a request";
}

TEST(WebhookClient, SilentServerTimesOut) {
  TestServer server("", TestServer::Mode::kSilent);
  asio::io_context ioc;
  auto client = MakeClient(ioc);
  auto started = std::chrono::steady_clock::now();
  auto r = PostAndWait(client, ioc, {server.url(), "{}", {}, 1s});
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("no answer within 1 s from 127.0.0.1:"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("request was sent"), std::string::npos) << r.error;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(server.last()) << "the request itself arrived";
}

TEST(WebhookClient, ConnectionRefused) {
  uint16_t port;
  {
    asio::io_context probe;
    tcp::acceptor a(probe, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  asio::io_context ioc;
  auto client = MakeClient(ioc);
  auto r = PostAndWait(client, ioc, {"http://127.0.0.1:" + std::to_string(port) + "/", "{}"});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connection to 127.0.0.1:" + std::to_string(port) + " refused (nothing listens there)");
}

TEST(WebhookClient, OversizedResponseIsBounded) {
  std::string huge(10 * 1024 * 1024, 'a');
  huge.replace(0, 3, "\xe2\x82\xac");  // a multi-octet character at the start is kept whole
  TestServer server(Answer("200 OK", huge));
  asio::io_context ioc;
  auto client = MakeClient(ioc);
  auto started = std::chrono::steady_clock::now();
  auto r = PostAndWait(client, ioc, {server.url(), "{}", {}, 5s});
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), kMaxResponseKept);
  EXPECT_EQ(r.body.substr(0, 3), "\xe2\x82\xac");
  EXPECT_TRUE(r.body_truncated);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s) << "it should stop reading, not wait for 10 MB";
}

TEST(WebhookClient, BodyWithoutLengthAndCutAtOneKiB) {
  // No Content-Length: the body ends when the server closes. 1500 octets: one KiB kept.
  TestServer server("HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\n" + std::string(1500, 'b'));
  asio::io_context ioc;
  auto client = MakeClient(ioc);
  auto r = PostAndWait(client, ioc, {server.url(), "{}"});
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, std::string(1024, 'b'));
  EXPECT_TRUE(r.body_truncated);
}

TEST(WebhookClient, BadRequestsFailWithoutConnecting) {
  asio::io_context ioc;
  auto client = MakeClient(ioc);
  auto r = PostAndWait(client, ioc, {"ftp://127.0.0.1/", "{}"});
  EXPECT_NE(r.error.find("only http and https"), std::string::npos) << r.error;
  r = PostAndWait(client, ioc, {"http://127.0.0.1:1/", "{}", {{"webhook-id", "a\r\nX-Evil: 1"}}});
  EXPECT_NE(r.error.find("control character"), std::string::npos) << r.error;
  r = PostAndWait(client, ioc, {"http://127.0.0.1:1/", "{}", {{"Host", "evil.example"}}});
  EXPECT_NE(r.error.find("set by the client"), std::string::npos) << r.error;
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.remote.empty());
}

TEST(WebhookClient, PrivateAddressesCanBeRefused) {
  TestServer server(Answer("200 OK", ""));
  asio::io_context ioc;
  WebhookClientOptions options;
  options.allow_private_addresses = false;
  auto client = MakeClient(ioc, options);
  auto r = PostAndWait(client, ioc, {server.url(), "{}"});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("127.0.0.1 is a private or loopback address"), std::string::npos) << r.error;
  EXPECT_FALSE(server.last()) << "nothing may be sent";
}

class WebhookClientTls : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kurier-webhook-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    ca_file_ = (dir_ / "ca.pem").string();
    std::ofstream(ca_file_) << TestPki().ca_pem;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string ca_file_;
  static inline int counter_ = 0;
};

TEST_F(WebhookClientTls, VerifiesWithTheConfiguredCa) {
  TestServer server(Answer("200 OK", "ok"), TestServer::Mode::kAnswer, /*tls=*/true);
  asio::io_context ioc;
  WebhookClientOptions options;
  options.ca_file = ca_file_;
  auto client = MakeClient(ioc, options);
  auto r = PostAndWait(client, ioc, {"https://localhost:" + std::to_string(server.port()) + "/hook", "{\"a\":1}"});
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.body, "ok");
  EXPECT_NE(r.tls.find("TLSv1."), std::string::npos) << r.tls;
  auto seen = server.last();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->body(), "{\"a\":1}");
  EXPECT_EQ((*seen)[http::field::host], "localhost:" + std::to_string(server.port()));
}

TEST_F(WebhookClientTls, UnknownCaFailsWithAdvice) {
  TestServer server(Answer("200 OK", "ok"), TestServer::Mode::kAnswer, /*tls=*/true);
  asio::io_context ioc;
  auto client = MakeClient(ioc);  // the system store only: it does not know the test CA
  auto r = PostAndWait(client, ioc, {"https://localhost:" + std::to_string(server.port()) + "/hook", "{}"});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("TLS handshake with localhost:" + std::to_string(server.port()) + " failed: certificate "
                         "verify failed (unable to get local issuer certificate); set events.webhook_ca_file"),
            std::string::npos)
      << r.error;
  EXPECT_FALSE(server.last()) << "nothing may be sent over an unverified connection";
}

TEST_F(WebhookClientTls, HostNameMismatchFails) {
  TestServer server(Answer("200 OK", "ok"), TestServer::Mode::kAnswer, /*tls=*/true);
  asio::io_context ioc;
  WebhookClientOptions options;
  options.ca_file = ca_file_;
  auto client = MakeClient(ioc, options);
  // The certificate names localhost, not the address.
  auto r = PostAndWait(client, ioc, {server.url(), "{}"});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("the certificate is not valid for 127.0.0.1 (it names localhost)"), std::string::npos)
      << r.error;
  EXPECT_FALSE(server.last());
}

TEST_F(WebhookClientTls, UnreadableCaFileIsAConfigurationError) {
  asio::io_context ioc;
  auto client = WebhookClient::Create(ioc, {.ca_file = (dir_ / "missing.pem").string()});
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.error().message.find("events.webhook_ca_file " + (dir_ / "missing.pem").string()), std::string::npos)
      << client.error().message;
}

// tls.ciphers applies to the client: a receiver offering only CBC or static-RSA suites over TLS 1.2 is
// refused with an error that names the key, and an AEAD suite over TLS 1.2 still works.
TEST_F(WebhookClientTls, PolicyRefusesCbcAndStaticRsaSuites) {
  struct Case {
    const char* server_ciphers;
    const char* profile;
    bool ok;
  } cases[] = {
      {"ECDHE-ECDSA-AES128-SHA256", "modern", false},        // CBC with HMAC-SHA256
      {"ECDHE-ECDSA-AES128-SHA", "modern", false},           // CBC with HMAC-SHA1
      {"ECDHE-ECDSA-AES256-SHA384", "intermediate", false},  // CBC: not in Mozilla's intermediate either
      {"ECDHE-ECDSA-AES128-GCM-SHA256", "modern", true},
      {"ECDHE-ECDSA-CHACHA20-POLY1305", "modern", true},
      {"ECDHE-ECDSA-AES256-GCM-SHA384", "intermediate", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.server_ciphers) + " / " + c.profile);
    TestServer server(Answer("200 OK", "ok"), TestServer::Mode::kAnswer, /*tls=*/true, c.server_ciphers);
    asio::io_context ioc;
    WebhookClientOptions options;
    options.ca_file = ca_file_;
    options.tls_ciphers = c.profile;
    auto client = MakeClient(ioc, options);
    auto r = PostAndWait(client, ioc, {"https://localhost:" + std::to_string(server.port()) + "/hook", "{}"});
    EXPECT_EQ(r.ok(), c.ok) << r.error;
    if (c.ok) {
      EXPECT_EQ(r.tls, std::string("TLSv1.2 ") + c.server_ciphers);
    } else {
      EXPECT_NE(r.error.find("no TLS version and cipher suite in common"), std::string::npos) << r.error;
      EXPECT_NE(r.error.find(std::string("tls.ciphers = \"") + c.profile + "\""), std::string::npos) << r.error;
      EXPECT_FALSE(server.last()) << "nothing may be sent";
    }
  }
}

TEST(WebhookClient, UnknownTlsPolicyIsAConfigurationError) {
  asio::io_context ioc;
  auto client = WebhookClient::Create(ioc, {.tls_ciphers = "legacy"});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().message, "tls.ciphers: \"legacy\" is not a policy; use \"modern\" or \"intermediate\"");
}

}  // namespace
}  // namespace kurier::webhooks
