// http.hpp - the HTTP API's request and response values and RFC 9457 problem details; no I/O and no
// Boost, so handlers and tests include it freely. The Beast server (http_server.cpp) converts to and
// from these.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/encoding.hpp"

namespace kurier::api {

struct HttpRequest {
  std::string method;  ///< upper case: GET, POST, ...
  std::string path;    ///< percent-decoded path, without the query
  std::map<std::string, std::string> query;  ///< decoded query parameters (the last of repeated names)
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-cased
  std::string body;
  std::string client_ip;

  /// The first value of header `lower_name`, "" when absent.
  const std::string& Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// Completes a request; may be called from any thread, exactly once.
using Reply = std::function<void(HttpResponse)>;

/// One invalid request field: an RFC 6901 JSON pointer into the request body and what to do.
struct FieldError {
  std::string pointer;
  std::string detail;
};

/// Collects the invalid fields of one request.
struct FieldErrors {
  std::vector<FieldError> list;
  void Add(std::string pointer, std::string detail) { list.push_back({std::move(pointer), std::move(detail)}); }
  bool empty() const { return list.empty(); }
};

/// RFC 9457 application/problem+json: type (a URN naming the class), title, status, detail, and for
/// validation failures `errors` with a pointer per invalid field.
HttpResponse Problem(int status, const std::string& title, const std::string& detail,
                     const std::vector<FieldError>& errors = {});

/// 422 Invalid Request naming every invalid field (the detail is the field itself when there is one).
HttpResponse Invalid(const std::vector<FieldError>& errors);
inline HttpResponse Invalid(const FieldErrors& errors) { return Invalid(errors.list); }

/// A JSON body with the given status.
HttpResponse Json(int status, std::string body);

/// 500: an internal error happened (a bug, never bad input) and was logged; the request was not done.
HttpResponse InternalError();

/// Runs `work`, a continuation of the handler of `what` ("POST /v1/messages") on another thread or in a
/// posted callback: an exception it throws is logged (spdlog::error with what()) and answered with
/// InternalError() through `reply` (the Router's replies ignore every call after the first), instead of
/// escaping into a thread that would end the process.
void AnswerOnThrow(const Reply& reply, const std::string& what, const std::function<void()>& work) noexcept;

/// RFC 3986 percent-decoding; false when malformed (a '%' not followed by two hex digits).
bool PercentDecode(const std::string& in, std::string& out, bool plus_is_space);
/// Splits "a=1&b=two" into decoded pairs; false when malformed.
bool ParseQuery(const std::string& query, std::map<std::string, std::string>& out);
/// Splits an origin-form request target "/path?query" (RFC 9112 3.2.1) into the percent-decoded path
/// and the query parameters; false when an escape is malformed.
bool ParseTarget(const std::string& target, std::string& path, std::map<std::string, std::string>& query);
/// RFC 9112 6.1, 6.3 and 3.2: what is wrong with the framing of a request of HTTP `version` (10 for
/// 1.0, 11 for 1.1) with `headers` (names lower-cased, in order), or "" when nothing is. Refused: a
/// Transfer-Encoding other than exactly "chunked", any Transfer-Encoding on HTTP/1.0, Transfer-Encoding
/// with Content-Length, and an HTTP/1.1 request without exactly one Host.
std::string FramingProblem(unsigned version, const std::vector<std::pair<std::string, std::string>>& headers);
/// One RFC 4180 CSV field: as it is, or quoted (quotes doubled) when it holds a comma, quote or line break.
std::string CsvField(const std::string& s);
/// A decimal integer from lo to hi (a query parameter such as limit); false when it is not one.
bool ParseInteger(const std::string& text, long long lo, long long hi, long long& out);

/// RFC 3339 date-time ("2026-11-26T10:00:00Z", "...+01:00") -> microseconds since the epoch.
std::optional<int64_t> ParseRfc3339(const std::string& text);

/// RFC 6901: escapes '~' and '/' in one reference token (the API's name for common/encoding.hpp's
/// JsonPointerToken, which the MIME builder uses too).
inline std::string PointerToken(std::string_view name) { return JsonPointerToken(name); }

}  // namespace kurier::api
