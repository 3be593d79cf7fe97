// transforms.cpp - outgoing transforms (moved out of delivery_manager.cpp): the message transform,
// VERP return paths, DKIM signing with a key cache, ARC sealing.
// STANDARDS: RFC 6376 (DKIM), RFC 8463 (Ed25519-SHA256), RFC 8617 (ARC), RFC 8601 (Authentication-Results
// pvalue), RFC 6531 (SMTPUTF8), RFC 6152 (8BITMIME).
#include "delivery/transforms.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "bounce/verp.hpp"
#include "common/encoding.hpp"
#include "common/secret.hpp"
#include "dkim/arc.hpp"
#include "smtp/proto/client_session.hpp"
#include "spool/spool.hpp"
#include "store/store.hpp"

namespace kurier::delivery {

bool NeedsSmtpUtf8(const spool::SpoolMessage& m) {
  return m.smtputf8 || !IsAscii(m.mail_from) ||
         std::any_of(m.recipients.begin(), m.recipients.end(), [](const std::string& r) { return !IsAscii(r); });
}

// The domain of the first address in the From: header field (DKIM d= aligns with it for DMARC).
std::string FromDomain(std::string_view message) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find("\r\n", pos);
    if (eol == std::string_view::npos || eol == pos) break;  // end of the header section
    std::string_view line = message.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.size() > 5 && IStartsWith(line, "from:")) {
      std::string_view v = line.substr(5);
      // unfold the continuation lines of this field
      std::string value(v);
      while (pos < message.size() && (message[pos] == ' ' || message[pos] == '\t')) {
        size_t e = message.find("\r\n", pos);
        if (e == std::string_view::npos) break;
        value += message.substr(pos, e - pos);
        pos = e + 2;
      }
      auto lt = value.find('<');
      std::string addr = lt == std::string::npos ? value : value.substr(lt + 1);
      auto at = addr.find('@');
      if (at == std::string::npos) return "";
      std::string d = addr.substr(at + 1);
      d = d.substr(0, d.find_first_of("> ,;\t()"));
      return ToLowerAscii(d);
    }
  }
  return "";
}

namespace {
// Tests only: with KURIER_TEST_THROW=TOKEN set, preparing a message that contains TOKEN throws where a
// bug would, so the e2e tests can show that it costs that message a retry, never the connection or the
// server (the same hook as smtp_server.cpp's).
void MaybeThrowForTest(std::string_view where, std::string_view data) {
  static const std::string token = [] {
    const char* v = std::getenv("KURIER_TEST_THROW");
    return v && *v ? std::string(v) : std::string();
  }();
  if (!token.empty() && data.find(token) != std::string_view::npos)
    throw std::runtime_error("KURIER_TEST_THROW fault injected in " + std::string(where));
}
}  // namespace

Transforms::Transforms(const Config& config, KeyListing list_keys, Clock clock)
    : config_(config), list_keys_(std::move(list_keys)), now_(std::move(clock)) {}

Result<void> Transforms::Load() {
  if (config_.domains.verp) {
    auto secret = LoadOrCreateSecret(config_.secret_file);
    if (!secret) return MakeError(ErrorCode::kConfig, "server.secret_file: " + secret.error().message);
    secret_ = std::move(secret.value());
  }
  if (const auto& arc = config_.arc; arc.enabled) {
    auto key = dkim::PrivateKey::FromPemFile(arc.key_file.string());
    if (key && key->algorithm() != dkim::Algorithm::kRsaSha256)
      key = MakeError(ErrorCode::kConfig, arc.key_file.string() + ": an ARC key must be RSA (ARC verifiers accept rsa-sha256 only)");
    if (!key)
      return MakeError(ErrorCode::kConfig, "arc.key_file: " + key.error().message + "; create it with 'kurier dkim keygen --algorithm rsa --out " +
                                               arc.key_file.string() + "' and publish the record it prints");
    arc_key_ = std::move(key.value());
  }
  return {};
}

void Transforms::Track(const spool::SpoolMessage& m, int recipient, Prepared& out) {
  MaybeThrowForTest("preparing a message for delivery", m.data);
  if (tracking_)
    out.changed.data = tracking::TrackSubmitted(*tracking_, m, static_cast<uint32_t>(recipient), &out.changed.per_recipient);
}

void Transforms::Seal(const spool::SpoolMessage& m, Prepared& p, smtp::proto::OutboundMessage& om) {
  om.mail_from = ReturnPath(m);
  om.smtputf8 = NeedsSmtpUtf8(m);
  om.eight_bit = m.body_type == "8BITMIME" || !IsAscii(m.data);
  const std::string& data = p.changed.data.empty() ? m.data : p.changed.data;
  p.signed_data = SignatureHeaders(data, p.selectors);
  if (!p.signed_data.empty()) p.signed_data += data;
  if (std::string arc = ArcHeaders(m, p.signed_data.empty() ? data : p.signed_data); !arc.empty())
    p.signed_data = arc + (p.signed_data.empty() ? data : p.signed_data);
  om.data = p.signed_data.empty() ? std::string_view(data) : std::string_view(p.signed_data);
}

const std::vector<Transforms::SigningKey>* Transforms::KeysFor(const std::string& domain) {
  const int64_t now = now_();
  if (now - dkim_loaded_at_ > 60'000'000) {
    dkim_loaded_at_ = now;
    dkim_keys_.clear();
    auto keys = list_keys_();
    if (!keys) spdlog::error("dkim: cannot list keys: {}", keys.error().message);
    for (const auto& k : keys ? keys.value() : std::vector<store::DkimKey>{}) {
      if (k.state != "active") continue;  // pending keys wait for DNS; retiring ones stopped signing
      auto key = dkim::PrivateKey::FromPemFile(k.key_path);
      if (!key) {
        spdlog::error("dkim: key of {} unusable ({}): mail from {} goes unsigned by it", k.domain,
                      key.error().message, k.domain);
        continue;
      }
      dkim_keys_[k.domain].push_back(SigningKey{k.selector, std::move(key.value())});
    }
  }
  auto it = dkim_keys_.find(domain);
  return it == dkim_keys_.end() ? nullptr : &it->second;
}

// The envelope sender used on the wire: for mail from a sending domain (one with DKIM keys), a signed
// VERP address at its return-path domain, so that later bounces and complaints name the message;
// otherwise the sender as given. The stored sender stays as it was (DSNs kurier writes go there).
std::string Transforms::ReturnPath(const spool::SpoolMessage& m) {
  if (!config_.domains.verp || m.mail_from.empty() || secret_.empty()) return m.mail_from;
  auto at = m.mail_from.rfind('@');
  if (at == std::string::npos) return m.mail_from;
  std::string domain = ToLowerAscii(m.mail_from.substr(at + 1));
  if (!KeysFor(domain)) return m.mail_from;
  return bounce::VerpLocalPart(secret_, m.id, config_.domains.return_path_prefix) + "@" +
         config_.domains.return_path_prefix + "." + domain;
}

// DKIM signatures (RSA and Ed25519, RFC 6376 / RFC 8463) for the From: domain, prepended; empty
// when the domain has no keys. `selectors` says which keys signed.
std::string Transforms::SignatureHeaders(std::string_view data, std::vector<std::string>& selectors) {
  std::string domain = FromDomain(data);
  const auto* keys = domain.empty() ? nullptr : KeysFor(domain);
  if (!keys) return "";
  dkim::SignOptions o;
  o.domain = domain;
  o.timestamp = now_() / 1000000;
  o.headers = dkim::DefaultSignedHeaders(data);
  std::string out;
  for (const auto& k : *keys) {  // each new header goes on top; verifiers find all of them
    o.selector = k.selector;
    auto sig = dkim::Sign(data, k.key, o);
    if (!sig) {
      spdlog::error("dkim: signing for {} with {} failed: {}", domain, k.selector, sig.error().message);
      continue;
    }
    out = sig.value() + out;
    selectors.push_back(k.selector);
  }
  return out;
}

// The ARC set (RFC 8617) for mail relayed on behalf of others: received on the relay listener (no SMTP
// credential) and not a DSN kurier wrote itself (null sender, HELO and address of its own). Empty when
// sealing is off or the message carries an ARC chain already (kurier cannot validate it; arc.hpp).
std::string Transforms::ArcHeaders(const spool::SpoolMessage& m, std::string_view data) {
  if (!arc_key_ || !m.credential.empty()) return "";
  if (m.mail_from.empty() && m.helo == config_.hostname && m.client_ip == "127.0.0.1") return "";
  dkim::ArcSealOptions o;
  o.domain = config_.arc.domain;
  o.selector = config_.arc.selector;
  o.authserv_id = config_.arc.authserv_id;
  o.timestamp = now_() / 1000000;
  // RFC 8601 pvalue: an IPv6 address is not a token, so it is quoted.
  const bool token = m.client_ip.find(':') == std::string::npos;
  o.results = "arc=none smtp.remote-ip=" + (token ? m.client_ip : "\"" + m.client_ip + "\"");
  auto set = dkim::Seal(data, *arc_key_, o);
  if (!set) {
    spdlog::warn("arc: {} goes without an ARC seal: {}", m.id, set.error().message);
    return "";
  }
  return set->Headers();
}

}  // namespace kurier::delivery
