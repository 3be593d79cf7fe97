// templates_api.hpp - the request checks of the /v1/templates routes, pure so that unit tests call them
// directly. The routes themselves are registered by AddTemplateRoutes (api_service.hpp).
#pragma once
#include <boost/json/fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/http.hpp"

namespace kurier::api {

inline constexpr std::size_t kMaxTemplateNameLength = 100;

/// Why `name` cannot name a template, or nullopt. Names are 1-100 letters, digits, '.', '_' and '-',
/// starting with a letter or digit (they appear in URL paths), and may not start with "tmpl_" (ids do).
std::optional<std::string> TemplateNameProblem(const std::string& name);

/// The fields of a create, PUT or PATCH body; absent fields stay nullopt.
struct TemplateFields {
  std::optional<std::string> name, subject, text, html;
  std::optional<bool> publish;
};

/// Reads `body` into `out`, adding an error (with its JSON pointer) for each unknown field, wrong type,
/// invalid name, or subject/text/html that is not a valid template (the parser's message: line, column,
/// what to do). A subject must be one line.
void ParseTemplateFields(const boost::json::object& body, TemplateFields& out, std::vector<FieldError>& errors);

/// A version must have a subject and a text or html body; adds an error for each that is missing.
void RequireTemplateContent(const std::string& subject, const std::string& text, const std::string& html,
                            std::vector<FieldError>& errors);

/// A version number from a URL path segment ("3"); nullopt unless it is a positive decimal integer.
std::optional<int> ParseVersionNumber(const std::string& segment);

}  // namespace kurier::api
