// json_body.hpp - request bodies as JSON (RFC 8259), parsed with the API's nesting limit; a syntax
// error says where it is (line and column), as a client needs to find it in what it sent.
#pragma once
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace kurier::api {

/// Parses `body` into `out`: "" when it is one JSON value (white space around it allowed), else what is
/// wrong and where, e.g. "syntax error at line 3, column 14" (1-based; columns count octets).
std::string ParseJson(std::string_view body, boost::json::value& out, int max_depth = 64);

}  // namespace kurier::api
