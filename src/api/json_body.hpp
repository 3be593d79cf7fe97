// json_body.hpp - request bodies as JSON (RFC 8259), parsed with the API's nesting limit; a syntax
// error says where it is (line and column), as a client needs to find it in what it sent. Responses
// with fractions are written by JsonText in plain decimals.
#pragma once
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace kurier::api {

/// Parses `body` into `out`: "" when it is one JSON value (white space around it allowed), else what is
/// wrong and where, e.g. "syntax error at line 3, column 14" (1-based; columns count octets).
std::string ParseJson(std::string_view body, boost::json::value& out, int max_depth = 64);

/// `value` as JSON text like boost::json::serialize, except that a number with a fraction is written
/// the way people write it (0.25, not Boost's 2.5E-1): shortest round-trip decimal, e.g. for rates.
std::string JsonText(const boost::json::value& value);

}  // namespace kurier::api
