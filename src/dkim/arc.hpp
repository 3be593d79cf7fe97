// arc.hpp - ARC sealing (RFC 8617, Authenticated Received Chain) for mail kurier relays on behalf of
// others: the ARC set kurier adds as an intermediary, signed like DKIM (signer.hpp).
//
// What is supported: starting a chain. A message without ARC header fields gets the set with i=1 and
// cv=none. A message that already carries ARC header fields is NOT sealed: extending a chain requires
// validating it first (RFC 8617 5.2: DNS look-ups of every earlier sealer's key), which kurier does
// not do yet, and sealing an unvalidated chain with cv=pass would vouch for something unchecked.
// Keys are RSA only: RFC 8617 defines ARC with rsa-sha256, and verifiers (dkimpy's arc_verify among
// them) refuse any other a= value, so an Ed25519 key is refused rather than making seals nobody checks.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "dkim/signer.hpp"

namespace kurier::dkim {

struct ArcSealOptions {
  std::string domain;       ///< d= of the AMS and the AS: the sealer's domain
  std::string selector;     ///< s=: the key's record is SELECTOR._domainkey.DOMAIN
  std::string authserv_id;  ///< authserv-id of the ARC-Authentication-Results (RFC 8601 2.5), e.g. the host name
  int64_t timestamp = 0;    ///< t= (seconds)
  /// The results after the authserv-id, RFC 8601 resinfo syntax without the leading ";" between
  /// them, e.g. "arc=none smtp.remote-ip=192.0.2.1"; empty: "none" (no results).
  std::string results;
};

/// The three header fields of one ARC set, each folded and ending in CRLF.
struct ArcSet {
  int instance = 0;                    ///< i=
  std::string seal;                    ///< ARC-Seal
  std::string message_signature;       ///< ARC-Message-Signature
  std::string authentication_results;  ///< ARC-Authentication-Results
  /// The three fields in the order to prepend them: ARC-Seal on top.
  std::string Headers() const { return seal + message_signature + authentication_results; }
};

/// The highest i= among the ARC header fields of `message` (0: none). A field whose i= cannot be
/// read counts as instance 1, so that it is never overlooked.
int HighestArcInstance(std::string_view message);

/// Seals `message` (CRLF line endings): the ARC set with i=1, cv=none, to be prepended. The AMS signs
/// the body and the header fields of DefaultSignedHeaders(message) plus every DKIM-Signature present
/// (RFC 8617 4.1.2), never ARC fields or Authentication-Results; the AS signs the AAR, the AMS and
/// itself (RFC 8617 5.1.1). Fails when the message already carries ARC header fields, or `key` is not RSA
/// (see above).
Result<ArcSet> Seal(std::string_view message, const PrivateKey& key, const ArcSealOptions& options);

}  // namespace kurier::dkim
