// send_request.hpp - the body of POST /v1/messages read into a validated request, with no store and no
// I/O (messages_api.cpp reads the account's defaults first; the HTTP request fuzzer calls it directly).
// Boost.JSON values only by reference: the request points into the parsed body, which must outlive it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "api/http.hpp"
#include "common/config.hpp"
#include "mime/build.hpp"

namespace boost::json {
class object;
class value;
}  // namespace boost::json

namespace kurier::api {

struct RecipientEntry {
  std::vector<mime::Address> to, cc, bcc;
  const boost::json::value* variables = nullptr;
  const boost::json::value* metadata = nullptr;
};

/// The validated request.
struct SendRequest {
  mime::MessageSpec base;
  std::vector<RecipientEntry> recipients;  ///< one message each; empty: one message to base.to/cc/bcc
  std::string tags = "[]", metadata = "{}";
  int64_t send_at = 0;
  std::string template_ref;
  int template_version = 0;
  const boost::json::value* variables = nullptr;
  bool track_opens = false, track_clicks = false;  ///< from the defaults unless the request says
  bool list_unsubscribe = false;                   ///< marketing mail: List-Unsubscribe (RFC 8058)
};

/// What a send that does not say gets: the account's defaults, else the server's tracking.* keys.
struct SendDefaults {
  bool track_opens = false, track_clicks = false, list_unsubscribe = false;
};

/// Reads and checks the JSON object of a send request against `limits` (api.max_*); every problem is
/// added to `err` with its JSON pointer.
void ParseSend(const boost::json::object& o, const ApiConfig& limits, const SendDefaults& defaults, SendRequest& r,
               FieldErrors& err);

}  // namespace kurier::api
