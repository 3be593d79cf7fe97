// http.cpp - problem details (RFC 9457), percent-decoding (RFC 3986 2.1), JSON pointers (RFC 6901).
#include "api/http.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <ctime>

#include "common/encoding.hpp"

namespace kurier::api {

const std::string& HttpRequest::Header(const std::string& lower_name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return kEmpty;
}

namespace {
std::string Slug(const std::string& title) {
  std::string out;
  for (char c : title) {
    if (c >= 'A' && c <= 'Z') out += static_cast<char>(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out += c;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}
// Texts that may quote what the client sent (a path, a field name) as valid UTF-8: Boost.JSON writes
// string bytes as they are, so an invalid sequence would make the whole problem invalid JSON. Each
// byte that does not start a valid sequence becomes U+FFFD.
std::string ValidUtf8(const std::string& s) {
  if (IsValidUtf8(s)) return s;
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}
}  // namespace

HttpResponse Problem(int status, const std::string& title, const std::string& detail,
                     const std::vector<FieldError>& errors) {
  boost::json::object o{{"type", "urn:kurier:problem:" + Slug(title)}, {"title", ValidUtf8(title)}, {"status", status},
                        {"detail", ValidUtf8(detail)}};
  if (!errors.empty()) {
    boost::json::array arr;
    for (const auto& e : errors)
      arr.push_back(boost::json::object{{"pointer", ValidUtf8(e.pointer)}, {"detail", ValidUtf8(e.detail)}});
    o["errors"] = std::move(arr);
  }
  return HttpResponse{status, "application/problem+json", {}, boost::json::serialize(o)};
}

HttpResponse Invalid(const std::vector<FieldError>& errors) {
  std::string detail = errors.size() == 1 ? errors[0].pointer + ": " + errors[0].detail
                                          : std::to_string(errors.size()) + " fields are invalid; see errors";
  return Problem(422, "Invalid Request", detail, errors);
}

HttpResponse Json(int status, std::string body) { return HttpResponse{status, "application/json", {}, std::move(body)}; }

HttpResponse InternalError() {
  return Problem(500, "Internal Error",
                 "an internal error happened while handling the request and was logged (see the server log); the "
                 "request may not have been carried out: check its effect before retrying");
}

void AnswerOnThrow(const Reply& reply, const std::string& what, const std::function<void()>& work) noexcept {
  try {
    try {
      work();
      return;
    } catch (const std::exception& e) {
      spdlog::error("api: {} failed with an exception: {}", what, e.what());
    } catch (...) {
      spdlog::error("api: {} failed with an exception that is not a std::exception", what);
    }
    reply(InternalError());
  } catch (...) {
    // reply() itself failed (out of memory): nothing more can be done for this request.
  }
}

bool PercentDecode(const std::string& in, std::string& out, bool plus_is_space) {
  out.clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int h = hex(in[i + 1]), l = hex(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return true;
}

bool ParseQuery(const std::string& query, std::map<std::string, std::string>& out) {
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    pos = amp == std::string::npos ? query.size() : amp + 1;
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string k, v;
    if (!PercentDecode(part.substr(0, eq), k, true)) return false;
    if (eq != std::string::npos && !PercentDecode(part.substr(eq + 1), v, true)) return false;
    out[k] = v;
  }
  return true;
}

bool ParseTarget(const std::string& target, std::string& path, std::map<std::string, std::string>& query) {
  const auto qpos = target.find('?');
  if (!PercentDecode(target.substr(0, qpos), path, false)) return false;
  return qpos == std::string::npos || ParseQuery(target.substr(qpos + 1), query);
}

std::string FramingProblem(unsigned version, const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::string> codings;
  int te_fields = 0, cl_fields = 0, host_fields = 0;
  auto trim = [](std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
    size_t b = s.find_first_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b);
  };
  for (const auto& [name, value] : headers) {
    if (name == "transfer-encoding") {
      ++te_fields;
      size_t pos = 0;
      for (;;) {
        size_t comma = value.find(',', pos);
        std::string tok = trim(value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
        if (!tok.empty()) {
          for (auto& c : tok) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          codings.push_back(std::move(tok));
        }
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    } else if (name == "content-length") {
      ++cl_fields;
    } else if (name == "host") {
      ++host_fields;
    }
  }
  if (te_fields > 0) {
    if (version < 11) return "an HTTP/1.0 request cannot use Transfer-Encoding (RFC 9112 6.1); send Content-Length instead";
    if (cl_fields > 0)
      return "the request has both Transfer-Encoding and Content-Length (RFC 9112 6.1); send only one of them";
    if (codings.size() != 1 || codings[0] != "chunked")
      return "Transfer-Encoding must be exactly \"chunked\" (RFC 9112 6.1); this server decodes no other coding";
  }
  if (version >= 11 && host_fields != 1)
    return host_fields == 0 ? "an HTTP/1.1 request needs a Host header field (RFC 9112 3.2)"
                            : "the request has more than one Host header field (RFC 9112 3.2)";
  return "";
}

}  // namespace kurier::api

namespace kurier::api {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

bool ParseInteger(const std::string& text, long long lo, long long hi, long long& out) {
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno == ERANGE || n < lo || n > hi) return false;
  out = n;
  return true;
}

std::optional<int64_t> ParseRfc3339(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi;
  double sec;
  char rest[16] = {0};
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf%15s", &y, &mo, &d, &h, &mi, &sec, rest) < 6) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61) return std::nullopt;
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = 0;
  int64_t t = timegm(&tm);
  std::string r = rest;
  int64_t offset = 0;
  if (r.empty()) return std::nullopt;  // RFC 3339 requires an offset
  if (r == "Z" || r == "z") {
  } else if ((r[0] == '+' || r[0] == '-') && r.size() == 6 && r[3] == ':' && std::isdigit(static_cast<unsigned char>(r[1])) &&
             std::isdigit(static_cast<unsigned char>(r[2])) && std::isdigit(static_cast<unsigned char>(r[4])) &&
             std::isdigit(static_cast<unsigned char>(r[5]))) {
    offset = (std::stoi(r.substr(1, 2)) * 60 + std::stoi(r.substr(4, 2))) * 60;
    if (r[0] == '-') offset = -offset;
  } else {
    return std::nullopt;
  }
  return (t - offset) * 1'000'000 + static_cast<int64_t>(sec * 1'000'000);
}

}  // namespace kurier::api
