// signer.cpp - DKIM signing on OpenSSL 3 (keys, RSA) and libsodium (Ed25519 signatures).
// SECURITY: handles the domain's private key (kept in memory only while signing). The message is
// read, never changed; the returned header is built from our own values only.
// STANDARDS: RFC 6376 (DKIM: 3.4.2/3.4.4 relaxed canonicalization, 3.5 tags, 3.7 hash computation,
// 5.4 header selection, 8.15 over-signing), RFC 8463 (Ed25519-SHA256), RFC 8301 (RSA >= 1024, SHA-256).
#include "dkim/signer.hpp"

#include <sodium.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>

#include "common/encoding.hpp"

namespace kurier::dkim {

namespace {

std::shared_ptr<EVP_PKEY> Wrap(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

Result<Algorithm> AlgorithmOf(EVP_PKEY* k) {
  switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(k) < 1024)
        return MakeError(ErrorCode::kInvalidArgument, "RSA key shorter than 1024 bits (RFC 8301): use 2048 bits");
      return Algorithm::kRsaSha256;
    case EVP_PKEY_ED25519: return Algorithm::kEd25519Sha256;
    default: return MakeError(ErrorCode::kInvalidArgument, "DKIM keys must be RSA or Ed25519");
  }
}

// Fetched once: OpenSSL 3 looks an algorithm up in its providers on every implicit use.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

std::string Sha256(std::string_view data) {
  unsigned char out[32];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, Sha256Md(), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

}  // namespace

// ---- keys ----------------------------------------------------------------------------------------

PrivateKey::PrivateKey(std::shared_ptr<EVP_PKEY> key, Algorithm a) : key_(std::move(key)), algorithm_(a) {
  if (a == Algorithm::kEd25519Sha256) {
    // The same key for libsodium: Ed25519 is deterministic, so its signatures are OpenSSL's, bit for bit.
    unsigned char seed[32];
    size_t len = sizeof seed;
    if (sodium_init() >= 0 && EVP_PKEY_get_raw_private_key(key_.get(), seed, &len) == 1 && len == sizeof seed) {
      auto sk = std::shared_ptr<std::array<unsigned char, 64>>(new std::array<unsigned char, 64>, [](auto* p) {
        sodium_memzero(p->data(), p->size());
        delete p;
      });
      unsigned char pk[32];
      if (crypto_sign_seed_keypair(pk, sk->data(), seed) == 0) ed25519_ = std::move(sk);
    }
    sodium_memzero(seed, sizeof seed);
  }
  template_ = std::shared_ptr<EVP_MD_CTX>(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  // RSA hashes inside the signature (SHA-256); Ed25519 signs the SHA-256 digest we compute (RFC 8463).
  if (EVP_DigestSignInit(template_.get(), nullptr, a == Algorithm::kRsaSha256 ? Sha256Md() : nullptr, nullptr,
                         key_.get()) != 1)
    template_.reset();
}

Result<PrivateKey> PrivateKey::FromPemFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return MakeError(ErrorCode::kIo, path + " cannot be read");
  std::string pem((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto key = FromPem(pem);
  if (!key) return MakeError(key.error().code, path + ": " + key.error().message);
  return key;
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!k) return MakeError(ErrorCode::kInvalidArgument, "not a PEM private key");
  auto key = Wrap(k);
  auto alg = AlgorithmOf(k);
  if (!alg) return alg.error();
  return PrivateKey(key, alg.value());
}

Result<PrivateKey> PrivateKey::FromEd25519Seed(std::string_view base64_seed) {
  auto seed = Base64Decode(base64_seed);
  if (!seed || seed->size() != 32) return MakeError(ErrorCode::kInvalidArgument, "an Ed25519 seed is 32 bytes, base64-encoded");
  EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(seed->data()), seed->size());
  if (!k) return MakeError(ErrorCode::kInternal, "OpenSSL rejected the Ed25519 seed");
  return PrivateKey(Wrap(k), Algorithm::kEd25519Sha256);
}

Result<PrivateKey> PrivateKey::Generate(Algorithm a) {
  EVP_PKEY* k = a == Algorithm::kRsaSha256 ? EVP_RSA_gen(2048) : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!k) return MakeError(ErrorCode::kInternal, "OpenSSL could not generate a key");
  return PrivateKey(Wrap(k), a);
}

std::string PrivateKey::ToPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string PrivateKey::PublicKeyForDns() const {
  if (algorithm_ == Algorithm::kEd25519Sha256) {
    unsigned char raw[32];
    size_t len = sizeof raw;
    EVP_PKEY_get_raw_public_key(key_.get(), raw, &len);
    return Base64Encode(std::string_view(reinterpret_cast<char*>(raw), len));
  }
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key_.get(), &der);
  std::string out = Base64Encode(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(n)));
  OPENSSL_free(der);
  return out;
}

// ---- message parts -------------------------------------------------------------------------------

std::vector<HeaderField> ParseHeaders(std::string_view m) {
  std::vector<HeaderField> out;
  size_t pos = 0;
  while (pos < m.size()) {
    size_t eol = m.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = m.size();
    std::string_view line = m.substr(pos, eol - pos);
    if (line.empty()) break;  // end of the header section
    if (IsWsp(line.front()) && !out.empty()) {
      out.back().value += "\r\n";
      out.back().value += line;
    } else {
      auto colon = line.find(':');
      if (colon != std::string_view::npos)
        out.push_back(HeaderField{std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    }
    pos = eol + 2;
  }
  return out;
}

std::string_view BodyOf(std::string_view m) {
  if (m.substr(0, 2) == "\r\n") return m.substr(2);
  auto p = m.find("\r\n\r\n");
  return p == std::string_view::npos ? std::string_view() : m.substr(p + 4);
}

// ---- canonicalization ----------------------------------------------------------------------------

std::string RelaxedHeader(std::string_view name, std::string_view value) {
  std::string out = ToLowerAscii(name);
  while (!out.empty() && IsWsp(out.back())) out.pop_back();
  out += ':';
  std::string v;
  bool in_wsp = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;  // unfold
    if (IsWsp(c)) {
      in_wsp = true;
      continue;
    }
    if (in_wsp && !v.empty()) v += ' ';
    in_wsp = false;
    v += c;
  }
  out += v;  // leading WSP dropped (v starts empty), trailing WSP never added
  out += "\r\n";
  return out;
}

std::string RelaxedBody(std::string_view body) {
  // Runs of ordinary text are copied whole: this runs over every byte of every signed message.
  std::string out;
  out.reserve(body.size() + 2);
  size_t keep = 0;  // length of `out` up to the end of the last non-empty line
  bool content = false;
  const size_t n = body.size();
  const char* p = body.data();
  size_t i = 0;
  while (i < n) {
    // A run: no tab, no CR, and spaces only where a single space precedes ordinary text.
    size_t j = i;
    while (j < n) {
      char c = p[j];
      if (c == '\t' || c == '\r') break;
      if (c == ' ' && (j + 1 >= n || p[j + 1] == ' ' || p[j + 1] == '\t' || p[j + 1] == '\r')) break;
      ++j;
    }
    if (j > i) {  // a run always holds ordinary text (it never ends in a space)
      out.append(p + i, j - i);
      content = true;
      i = j;
      continue;
    }
    if (p[i] == '\r') {
      if (i + 1 < n && p[i + 1] == '\n') {
        out += "\r\n";
        if (content) keep = out.size();
        content = false;
        i += 2;
      } else {  // a bare CR is ordinary text
        out += '\r';
        content = true;
        ++i;
      }
      continue;
    }
    size_t k = i;  // a run of WSP: one SP, or nothing at the end of a line
    while (k < n && (p[k] == ' ' || p[k] == '\t')) ++k;
    bool at_eol = k >= n || (p[k] == '\r' && k + 1 < n && p[k + 1] == '\n');
    if (!at_eol) out += ' ';
    i = k;
  }
  if (content) {  // a last line without CRLF gets one
    out += "\r\n";
    keep = out.size();
  }
  out.resize(keep);  // empty lines at the end are ignored; an empty body stays empty
  return out;
}

// ---- signing -------------------------------------------------------------------------------------

std::vector<std::string> DefaultSignedHeaders(std::string_view message) {
  static const std::vector<std::string> kSigned = {
      "from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to", "references",
      "mime-version", "content-type", "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post",
      "list-id", "feedback-id"};
  static const std::vector<std::string> kOverSigned = {"from", "to", "cc", "subject", "date", "reply-to",
                                                       "list-unsubscribe", "list-unsubscribe-post", "mime-version"};
  std::map<std::string, int> present;
  for (const auto& f : ParseHeaders(message)) present[ToLowerAscii(f.name)]++;
  std::vector<std::string> out;
  for (const auto& name : kSigned) {
    int n = present.count(name) ? present[name] : 0;
    bool over = std::find(kOverSigned.begin(), kOverSigned.end(), name) != kOverSigned.end();
    for (int i = 0; i < n + (over ? 1 : 0); ++i) out.push_back(name);
  }
  return out;
}

const char* AlgorithmTag(Algorithm a) { return a == Algorithm::kRsaSha256 ? "rsa-sha256" : "ed25519-sha256"; }

std::string BodyHash(std::string_view message) { return Base64Encode(Sha256(RelaxedBody(BodyOf(message)))); }

std::string SelectedHeaders(const std::vector<HeaderField>& fields, const std::vector<std::string>& names) {
  // Each name picks the next instance of that field from the bottom (RFC 6376 5.4.2); a name with no
  // instance left contributes nothing.
  std::map<std::string, int> used;
  std::string input;
  for (const auto& name : names) {
    std::string lname = ToLowerAscii(name);
    int skip = used[lname]++;
    for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
      if (ToLowerAscii(it->name) != lname) continue;
      if (skip-- > 0) continue;
      input += RelaxedHeader(it->name, it->value);
      break;
    }
  }
  return input;
}

std::string FoldTags(size_t name_length, const std::vector<std::string>& tags) {
  std::string value;
  size_t line = name_length + 2;  // "Name: "
  for (const auto& t : tags) {
    std::string piece = t + ";";
    if (!value.empty()) {
      if (line + 1 + piece.size() > 76) {
        value += "\r\n\t";
        line = 1;
      } else {
        value += " ";
        line += 1;
      }
    }
    value += piece;
    line += piece.size();
  }
  return value + "\r\n\tb=";
}

// The b= value: base64, folded every 72 characters.
static std::string FoldSignature(const std::string& sig) {
  std::string b64 = Base64Encode(sig);
  std::string folded;
  for (size_t i = 0; i < b64.size(); i += 72) folded += (i ? "\r\n\t " : "") + b64.substr(i, 72);
  return folded;
}

Result<std::string> SignCanonical(const PrivateKey& key, std::string_view to_sign) {
  if (key.algorithm() == Algorithm::kEd25519Sha256 && key.ed25519_secret()) {
    // RFC 8463 3: PureEdDSA over the SHA-256 hash of the canonicalized data.
    const std::string digest = Sha256(to_sign);
    std::string sig(crypto_sign_BYTES, '\0');
    if (crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                             reinterpret_cast<const unsigned char*>(digest.data()), digest.size(), key.ed25519_secret()) != 0)
      return MakeError(ErrorCode::kInternal, "Ed25519 signing failed");
    return FoldSignature(sig);
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!key.sign_template() || EVP_MD_CTX_copy_ex(ctx.get(), key.sign_template()) != 1)
    return MakeError(ErrorCode::kInternal, "OpenSSL could not prepare a signing context for this key");
  std::string sig;
  size_t siglen = 0;
  if (key.algorithm() == Algorithm::kRsaSha256) {
    if (EVP_DigestSign(ctx.get(), nullptr, &siglen, reinterpret_cast<const unsigned char*>(to_sign.data()), to_sign.size()) != 1)
      return MakeError(ErrorCode::kInternal, "RSA signing failed");
    sig.resize(siglen);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &siglen,
                       reinterpret_cast<const unsigned char*>(to_sign.data()), to_sign.size()) != 1)
      return MakeError(ErrorCode::kInternal, "RSA signing failed");
  } else {
    // RFC 8463 3: PureEdDSA over the SHA-256 hash of the canonicalized data.
    const std::string digest = Sha256(to_sign);
    siglen = 64;
    sig.resize(siglen);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &siglen,
                       reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) != 1)
      return MakeError(ErrorCode::kInternal, "Ed25519 signing failed");
  }
  sig.resize(siglen);
  return FoldSignature(sig);
}

Result<std::string> Sign(std::string_view message, const PrivateKey& key, const SignOptions& o) {
  if (o.domain.empty() || o.selector.empty()) return MakeError(ErrorCode::kInvalidArgument, "DKIM signing needs d= and s=");
  const std::string bh = BodyHash(message);
  const std::string input = SelectedHeaders(ParseHeaders(message), o.headers);

  // The signature header, folded between tags; b= empty while hashing.
  std::vector<std::string> tags = {"v=1", std::string("a=") + AlgorithmTag(key.algorithm()), "c=relaxed/relaxed",
                                   "d=" + o.domain};
  if (!o.identity.empty()) tags.push_back("i=" + o.identity);
  if (o.query_tag) tags.push_back("q=dns/txt");
  tags.push_back("s=" + o.selector);
  tags.push_back("t=" + std::to_string(o.timestamp));
  std::string h = "h=";
  for (size_t i = 0; i < o.headers.size(); ++i) h += (i ? o.header_separator : "") + ToLowerAscii(o.headers[i]);
  tags.push_back(h);
  tags.push_back("bh=" + bh);
  const std::string value = FoldTags(14, tags);
  std::string to_sign = input + RelaxedHeader("DKIM-Signature", " " + value);
  to_sign.resize(to_sign.size() - 2);  // the signature header is hashed without its CRLF (RFC 6376 3.7)
  auto b = SignCanonical(key, to_sign);
  if (!b) return b.error();
  return "DKIM-Signature: " + value + b.value() + "\r\n";
}

}  // namespace kurier::dkim
