// templates.hpp - Mustache-compatible templates for the subject, text and html of API messages; no I/O.
// Rendering is kainjow-mustache (Debian libkainjow-mustache-dev), kept out of this header.
#pragma once
#include <boost/json/fwd.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kurier::templates {

struct RenderOutput {
  std::string text;
  /// Names referenced by a rendered tag but absent from the variables, as written in the template
  /// (dotted paths like "order.id"), each once, in order of first use. Tags inside a section that was not
  /// rendered are not looked up, so they are not listed. A variable set to null counts as present.
  std::vector<std::string> missing;
};

/// A parsed template, rendered any number of times (one batch request renders one per recipient).
/// Supported: {{name}}, {{{name}}} and {{&name}}, dotted names, sections over lists and objects,
/// inverted sections, comments, set delimiters. Not supported: partials ({{> name}}) and lambdas.
/// Variables come from JSON: objects and arrays as Mustache contexts and lists; strings as they are;
/// numbers in their shortest form (42, 1.5); true and false for sections. Falsey for sections: false,
/// null, "" and []; numbers (0 included) are truthy, and a boolean in a {{variable}} renders nothing
/// (mustache.js prints "true"/"false").
class Template {
 public:
  /// Fails with kInvalidArgument naming the problem and where it is ("unclosed section "items" opened at
  /// line 3, column 5"). Sections may nest at most kMaxSectionDepth deep.
  static Result<Template> Parse(std::string_view source);

  /// `variables` must be an object (or null: none). `html_escape` escapes & < > " ' in {{name}} output
  /// (use it for html, not for text or subject); {{{name}}} and {{&name}} are never escaped.
  /// Not safe to call on one Template from two threads at once.
  Result<RenderOutput> Render(const boost::json::value& variables, bool html_escape) const;
  /// The same render through kainjow alone (Render takes a faster path for templates whose only tags
  /// are interpolations; tests compare the two).
  Result<RenderOutput> RenderByLibrary(const boost::json::value& variables, bool html_escape) const;
  bool flat() const;  ///< whether Render takes that faster path

  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;
  ~Template();

 private:
  struct Impl;
  explicit Template(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Parse and render in one go.
Result<RenderOutput> Render(std::string_view tmpl, const boost::json::value& variables, bool html_escape);

inline constexpr std::size_t kMaxSectionDepth = 64;
inline constexpr std::size_t kMaxVariableDepth = 64;  ///< nesting of the variables' objects and arrays

}  // namespace kurier::templates
