// prepare.hpp - what kurier adds to a message it accepts (SMTP or HTTP) before spooling it: a Received:
// trace header (RFC 5321 4.4) and, when missing, Message-ID: and Date: (RFC 6409 8); and the X-Kurier-*
// fields of a submission, read once at acceptance.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kurier::ingress {

/// The client a message came from, as the Received: line names it.
struct Peer {
  std::string helo;       ///< "api" over HTTP
  std::string client_ip;
  bool esmtp = true, tls = false, authenticated = false;
  std::string tls_version, tls_cipher;
  std::string api_key;  ///< "#12" for a message handed over HTTP with API key 12: "from api ... with HTTP"
};

struct TraceInfo : Peer {
  std::string hostname;  ///< this node
  std::string queue_id;
  bool smtputf8 = false;
  std::vector<std::string> recipients;
  int64_t time = 0;  ///< microseconds since the epoch
};

/// The Received: header field, folded, with CRLF.
std::string ReceivedHeader(const TraceInfo& t);

/// Returns the message with the Received: header prepended and Message-ID:/Date: appended to the
/// header section when absent. The body is left byte for byte as it was.
std::string PrepareMessage(std::string_view message, const TraceInfo& t);

/// What an authenticated SMTP submission asks of kurier in header fields of its own:
///   X-Kurier-Tag: news, spring           tags for events and statistics; the field may repeat (at most
///                                        20 tags of up to 128 characters in all, as the API's `tags`)
///   X-Kurier-Metadata: {"order": "42"}   a JSON object of at most 10000 octets (the API's `metadata`)
///   X-Kurier-Track-Opens: yes|no, X-Kurier-Track-Clicks: yes|no, X-Kurier-List-Unsubscribe: yes|no
///                                        this message's tracking and List-Unsubscribe, over the account's defaults
/// Ingress (Prepare) reads them into the spool message's tags, metadata and SendOptions and removes them.
struct SubmissionOptions {
  std::string tags = "[]";      ///< JSON array
  std::string metadata = "{}";  ///< JSON object
  std::optional<bool> track_opens, track_clicks, list_unsubscribe;
  bool present = false;  ///< the message has at least one of the fields (RemoveSubmissionOptionFields changes it)
  std::string error;  ///< "X-Kurier-... what is wrong" when a field cannot be used; the message is refused
};
SubmissionOptions ReadSubmissionOptions(std::string_view message);
/// `message` without the fields ReadSubmissionOptions reads (continuation lines included); every other
/// octet as it was.
std::string RemoveSubmissionOptionFields(std::string_view message);

}  // namespace kurier::ingress
