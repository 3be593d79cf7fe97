// transforms.hpp - what happens to a message as it leaves, before it goes on the wire: open/click
// tracking and List-Unsubscribe (tracking::TrackSubmitted, with DeliveryManager::SetTracking's inputs), the signed
// VERP return path, DKIM signatures with the keys of the From: domain (cached, reloaded every minute)
// and the ARC seal of relayed mail. No I/O but the key files; the store is reached through a listing.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"
#include "delivery/delivery_manager.hpp"
#include "delivery/job.hpp"
#include "dkim/signer.hpp"
#include "tracking/outbound.hpp"

namespace kurier::store {
struct DkimKey;
}
namespace kurier::smtp::proto {
struct OutboundMessage;
}

namespace kurier::delivery {

/// The domain of the first address in the From: header field (DKIM d= aligns with it for DMARC).
std::string FromDomain(std::string_view message);
/// The envelope or an address needs SMTPUTF8 (RFC 6531).
bool NeedsSmtpUtf8(const spool::SpoolMessage& m);

class Transforms {
 public:
  using KeyListing = std::function<Result<std::vector<store::DkimKey>>()>;
  Transforms(const Config& config, KeyListing list_keys, Clock clock);

  /// Reads the VERP secret (server.secret_file, when domains.verp) and the ARC key (when arc.enabled).
  Result<void> Load();
  /// Tracking as mail leaves (tracking::TrackSubmitted with `outbound`); none until it is set.
  void SetTracking(tracking::Outbound outbound) { tracking_ = std::move(outbound); }

  /// A message on its way out. `data()` is what goes on the wire; it points into this object or into
  /// the spooled message, so a Prepared stays where it was filled (on the caller's frame) until sent.
  struct Prepared {
    DeliveryManager::Transformed changed;   ///< the tracked copy ("": the message as stored)
    std::string signed_data;                ///< signatures + the message, when anything was signed
    std::vector<std::string> selectors;     ///< the DKIM keys that signed
  };
  /// Step 1: tracking, in the copy for the recipient at `recipient` (its index in the message).
  /// Throws where a bug would (tests: KURIER_TEST_THROW); the caller defers the message.
  void Track(const spool::SpoolMessage& m, int recipient, Prepared& out);
  /// Step 2: the envelope (return path, SMTPUTF8, 8BITMIME) and the data, signed and sealed. The
  /// recipients are the caller's.
  void Seal(const spool::SpoolMessage& m, Prepared& p, smtp::proto::OutboundMessage& om);

  /// The envelope sender used on the wire (a signed VERP address for mail from a sending domain).
  std::string ReturnPath(const spool::SpoolMessage& m);
  /// DKIM-Signature fields for the From: domain, prepended; empty when it has no keys.
  std::string SignatureHeaders(std::string_view data, std::vector<std::string>& selectors);
  /// The ARC set of a relayed message; empty when sealing is off or does not apply.
  std::string ArcHeaders(const spool::SpoolMessage& m, std::string_view data);

 private:
  struct SigningKey {
    std::string selector;
    dkim::PrivateKey key;
  };
  const std::vector<SigningKey>* KeysFor(const std::string& domain);

  const Config& config_;
  KeyListing list_keys_;
  Clock now_;
  std::map<std::string, std::vector<SigningKey>> dkim_keys_;  // by domain, reloaded every minute
  int64_t dkim_loaded_at_ = 0;
  std::optional<dkim::PrivateKey> arc_key_;  // arc.key_file, loaded by Load() when arc.enabled
  std::string secret_;                       // server.secret_file: signs VERP return paths
  std::optional<tracking::Outbound> tracking_;  // tracking as mail leaves
};

}  // namespace kurier::delivery
