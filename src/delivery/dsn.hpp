// dsn.hpp - delivery status notifications (RFC 3464) sent to the envelope sender when recipients
// fail permanently or expire.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kurier::delivery {

struct DsnRecipient {
  std::string address;
  std::string status;      ///< enhanced status code, e.g. "5.1.1"
  std::string diagnostic;  ///< the remote reply, e.g. "550 5.1.1 no such user" (may be empty)
  std::string remote_mta;  ///< host that answered, empty when kurier decided itself
  bool expired = false;
  bool local = false;  ///< `diagnostic` is kurier's own reply, not a remote server's (Diagnostic-Code: X-Kurier)
};

struct DsnInput {
  std::string reporting_mta;    ///< this node's host name
  std::string queue_id;         ///< of the original message
  std::string original_sender;  ///< the envelope sender the DSN goes to
  int64_t arrival = 0;          ///< when kurier accepted the original (µs)
  std::vector<DsnRecipient> recipients;
  std::string original_message;  ///< its header section is returned (RFC 6522 text/rfc822-headers)
};

/// The complete DSN message (headers and body, CRLF line endings). `boundary` separates the parts;
/// `now` is the Date.
std::string BuildDsn(const DsnInput& in, const std::string& boundary, int64_t now);

}  // namespace kurier::delivery
