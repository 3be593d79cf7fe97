// json_body.cpp - see json_body.hpp. STANDARDS: RFC 8259.
#include "api/json_body.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <charconv>
#include <cmath>

namespace kurier::api {

namespace {
std::string Where(std::string_view body, std::size_t at) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < at && i < body.size(); ++i) {
    if (body[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return " at line " + std::to_string(line) + ", column " + std::to_string(column);
}
}  // namespace

std::string ParseJson(std::string_view body, boost::json::value& out, int max_depth) {
  boost::json::parse_options po;
  po.max_depth = static_cast<std::size_t>(max_depth);
  boost::json::stream_parser p({}, po);
  boost::system::error_code ec;
  const std::size_t used = p.write_some(body.data(), body.size(), ec);
  if (ec) return ec.message() + Where(body, used);
  const std::size_t rest = body.find_first_not_of(" \t\r\n", used);
  if (rest != std::string_view::npos) return "more text after the JSON value" + Where(body, rest);
  p.finish(ec);
  if (ec) return (body.find_first_not_of(" \t\r\n") == std::string_view::npos ? "the body is empty" : ec.message()) + Where(body, body.size());
  out = p.release();
  return "";
}

namespace {
void Write(const boost::json::value& v, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::double_: {
      double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
        return;
      }
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(boost::json::string_view(key));
        out += ':';
        Write(item, out);
      }
      out += '}';
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        Write(item, out);
      }
      out += ']';
      return;
    }
    default:
      out += boost::json::serialize(v);
  }
}
}  // namespace

std::string JsonText(const boost::json::value& value) {
  std::string out;
  Write(value, out);
  return out;
}

}  // namespace kurier::api
