// templates.cpp - Mustache templates over JSON variables, with the names a render could not find.
//
// SECURITY: templates and variables come from API callers. A template is scanned before the library sees
// it, so sections nest at most kMaxSectionDepth deep (the library renders recursively) and every
// structural error is reported with its line and column; variables nest at most kMaxVariableDepth deep.
// Output is escaped for HTML only where asked (html bodies): subjects and text bodies are checked by the
// MIME builder, which refuses control characters in a subject.
// STANDARDS: the Mustache specification (mustache/spec v1.x: interpolation, sections, inverted, comments,
// delimiters), minus partials and lambdas. Rendering is kainjow-mustache 4.1 (Debian).
#include "templates/templates.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <kainjow/mustache.hpp>

#include "common/encoding.hpp"

namespace kurier::templates {

namespace mustache = kainjow::mustache;

namespace {

Error SyntaxError(std::string what) {
  return MakeError(ErrorCode::kInvalidArgument, "template syntax error: " + std::move(what));
}

// "line L, column C" of byte `offset`; columns count characters (UTF-8 sequences), from 1.
std::string Where(std::string_view s, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xc0) != 0x80) {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// The white space kainjow's trim() removes.
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// kainjow's parse_set_delimiter_tag: "=<begin> <end>=" with neither holding '=' or white space.
bool ParseDelimiters(std::string_view contents, std::string& begin, std::string& end) {
  if (contents.size() < 5 || contents.back() != '=') return false;
  std::string_view inner = Trim(contents.substr(1, contents.size() - 2));
  auto space = inner.find(' ');
  if (space == std::string_view::npos) return false;
  auto next = inner.find_first_not_of(' ', space + 1);
  if (next == std::string_view::npos) return false;
  std::string_view b = inner.substr(0, space), e = inner.substr(next);
  for (std::string_view d : {b, e})
    for (char c : d)
      if (c == '=' || IsSpace(c)) return false;
  begin = b;
  end = e;
  return true;
}

// A template whose only tags are interpolations ({{name}}, {{{name}}}, {{&name}}) with the default
// delimiters renders as its text with the values put in: no section, comment or delimiter tag, so no
// standalone-line rule applies. Such templates (most subjects and bodies) are rendered from this flat
// form; kainjow would walk one component per space and line break of the text for every recipient.
struct Segment {
  std::string text;  ///< literal text, or the variable's name
  bool variable = false;
  bool escaped = false;  ///< {{name}} (escaped when rendering HTML), not {{{name}}} or {{&name}}
};

// Walks the tags exactly as kainjow's parser finds them, checking what it does not: section names match,
// nesting depth, empty tags, partials. Malformed tags and delimiters are left to kainjow's own errors.
// `flat` receives the template as text and interpolations, or nullopt when it has any other tag.
Result<void> Scan(std::string_view s, std::optional<std::vector<Segment>>& flat) {
  flat.emplace();
  std::size_t text_from = 0;  // where the text since the last tag starts
  struct Open {
    std::string name;
    std::size_t at;
  };
  std::vector<Open> open;
  std::string begin = "{{", end = "}}";
  bool braces = true;
  for (std::size_t pos = 0; (pos = s.find(begin, pos)) != std::string_view::npos;) {
    std::size_t contents_at = pos + begin.size();
    bool triple = braces && pos != s.size() - 2 && contents_at < s.size() && s[contents_at] == '{';
    if (triple) ++contents_at;
    std::string_view close = triple ? std::string_view("}}}") : std::string_view(end);
    auto close_at = s.find(close, contents_at);
    if (close_at == std::string_view::npos) {
      flat.reset();
      return {};
    }
    std::string_view contents = Trim(s.substr(contents_at, close_at - contents_at));
    std::string tag(s.substr(pos, close_at + close.size() - pos));
    if (flat && pos > text_from) flat->push_back({std::string(s.substr(text_from, pos - text_from))});
    text_from = close_at + close.size();
    if (!triple && !contents.empty() && contents.front() == '=') {
      flat.reset();
      if (!ParseDelimiters(contents, begin, end)) return {};
      braces = begin == "{{" && end == "}}";
    } else if (triple) {
      if (contents.empty()) return SyntaxError("empty tag " + tag + " at " + Where(s, pos) + ": name a variable");
      if (flat) flat->push_back({std::string(contents), true, false});
    } else {
      char kind = contents.empty() ? '\0' : contents.front();
      std::string name(kind == '#' || kind == '^' || kind == '/' || kind == '>' || kind == '&' || kind == '!'
                           ? Trim(contents.substr(1))
                           : contents);
      if (kind != '&' && kind != '!' && name != contents) {
        flat.reset();  // a section, inverted section, closing tag or partial
      } else if (flat && kind != '!' && !name.empty()) {
        flat->push_back({name, true, kind != '&'});
      }
      if (kind == '!') {
        flat.reset();  // comment (kept out of the flat form for kainjow's standalone-line rule)
      } else if (name.empty()) {
        return SyntaxError("empty tag " + tag + " at " + Where(s, pos) + ": name a variable");
      } else if (kind == '#' || kind == '^') {
        if (open.size() == kMaxSectionDepth)
          return SyntaxError("sections nested more than " + std::to_string(kMaxSectionDepth) + " deep at " + Where(s, pos));
        open.push_back({name, pos});
      } else if (kind == '/') {
        if (open.empty())
          return SyntaxError(tag + " at " + Where(s, pos) + " closes a section that was never opened");
        if (open.back().name != name)
          return SyntaxError("section \"" + open.back().name + "\" opened at " + Where(s, open.back().at) +
                             " is closed by " + tag + " at " + Where(s, pos) + ": close it with {{/" +
                             open.back().name + "}} first");
        open.pop_back();
      } else if (kind == '>') {
        return SyntaxError("partials are not supported: " + tag + " at " + Where(s, pos));
      }
    }
    pos = close_at + close.size();
  }
  if (!open.empty())
    return SyntaxError("unclosed section \"" + open.back().name + "\" opened at " + Where(s, open.back().at) +
                       ": add {{/" + open.back().name + "}}");
  if (flat && text_from < s.size()) flat->push_back({std::string(s.substr(text_from))});
  return {};
}

// kainjow reports "Unclosed tag at 12": the byte offset becomes a line and column.
Error LibraryError(std::string_view source, const std::string& message) {
  std::string text = message;
  auto at = text.rfind(" at ");
  if (at != std::string::npos) {
    std::size_t offset = 0;
    auto [p, ec] = std::from_chars(text.data() + at + 4, text.data() + text.size(), offset);
    if (ec == std::errc() && p == text.data() + text.size()) text = text.substr(0, at) + " at " + Where(source, offset);
  }
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return SyntaxError(text);
}

std::string NoEscape(const std::string& s) { return s; }

Result<mustache::data> ToData(const boost::json::value& v, std::size_t depth) {
  if (depth > kMaxVariableDepth)
    return MakeError(ErrorCode::kInvalidArgument,
                     "variables nest deeper than " + std::to_string(kMaxVariableDepth) + " levels");
  switch (v.kind()) {
    case boost::json::kind::object: {
      mustache::data d(mustache::data::type::object);
      for (const auto& kv : v.get_object()) {
        auto child = ToData(kv.value(), depth + 1);
        if (!child) return child.error();
        d[std::string(kv.key())] = std::move(*child);
      }
      return d;
    }
    case boost::json::kind::array: {
      mustache::list items;
      items.reserve(v.get_array().size());
      for (const auto& e : v.get_array()) {
        auto child = ToData(e, depth + 1);
        if (!child) return child.error();
        items.push_back(std::move(*child));
      }
      return mustache::data(items);
    }
    case boost::json::kind::string: {
      const auto& s = v.get_string();
      // "" is falsey for sections (as in mustache.js) and renders as nothing either way.
      if (s.empty()) return mustache::data(false);
      return mustache::data(std::string(s.data(), s.size()));
    }
    case boost::json::kind::bool_:
      return mustache::data(v.get_bool());
    case boost::json::kind::int64:
      return mustache::data(std::to_string(v.get_int64()));
    case boost::json::kind::uint64:
      return mustache::data(std::to_string(v.get_uint64()));
    case boost::json::kind::double_: {
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
      return mustache::data(std::string(buf, ec == std::errc() ? p : buf));
    }
    case boost::json::kind::null:
      break;
  }
  return mustache::data(false);
}

// The lookup of the Mustache spec (the first name of a dotted path through the context stack, the rest
// within what it found), recording every name that resolves to nothing.
class TrackingContext : public mustache::basic_context<std::string> {
 public:
  explicit TrackingContext(const mustache::data* root) { stack_.push_back(root); }
  void push(const mustache::data* d) override { stack_.push_back(d); }
  void pop() override { stack_.pop_back(); }

  const mustache::data* get(const std::string& name) const override {
    if (name == ".") return stack_.back();
    auto dot = name.find('.');
    std::string first = name.substr(0, dot);
    const mustache::data* found = nullptr;
    for (auto it = stack_.rbegin(); it != stack_.rend() && !found; ++it) found = (*it)->get(first);
    while (found && dot != std::string::npos) {
      auto next = name.find('.', dot + 1);
      found = found->get(name.substr(dot + 1, next == std::string::npos ? std::string::npos : next - dot - 1));
      dot = next;
    }
    if (!found && std::find(missing_.begin(), missing_.end(), name) == missing_.end()) missing_.push_back(name);
    return found;
  }
  const mustache::data* get_partial(const std::string&) const override { return nullptr; }

  std::vector<std::string> TakeMissing() { return std::move(missing_); }

 private:
  std::vector<const mustache::data*> stack_;
  mutable std::vector<std::string> missing_;
};

}  // namespace

struct Template::Impl {
  explicit Impl(const std::string& source) : tmpl(source) {}
  mutable mustache::mustache tmpl;  // render() is not const in kainjow, though it changes nothing we use
  std::optional<std::vector<Segment>> flat;
};

namespace {

Result<mustache::data> Variables(const boost::json::value& variables) {
  if (!variables.is_object() && !variables.is_null())
    return MakeError(ErrorCode::kInvalidArgument, "variables must be a JSON object such as {\"name\": \"Ada\"}");
  return variables.is_null() ? Result<mustache::data>(mustache::data(mustache::data::type::object)) : ToData(variables, 0);
}

}  // namespace

Template::Template(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
bool Template::flat() const { return impl_->flat.has_value(); }
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
Template::~Template() = default;

Result<Template> Template::Parse(std::string_view source) {
  std::optional<std::vector<Segment>> flat;
  if (auto scanned = Scan(source, flat); !scanned) return scanned.error();
  try {
    std::string text(source);
    auto impl = std::make_unique<Impl>(text);
    impl->flat = std::move(flat);
    if (!impl->tmpl.is_valid()) return LibraryError(source, impl->tmpl.error_message());
    return Template(std::move(impl));
  } catch (const std::exception& e) {
    return SyntaxError(std::string("the template could not be parsed (") + e.what() + ")");
  }
}

Result<RenderOutput> Template::Render(const boost::json::value& variables, bool html_escape) const {
  if (!impl_->flat) return RenderByLibrary(variables, html_escape);
  auto data = Variables(variables);
  if (!data) return data.error();
  TrackingContext context(&*data);
  RenderOutput out;
  for (const auto& seg : *impl_->flat) {
    if (!seg.variable) {
      out.text += seg.text;
      continue;
    }
    // As kainjow's render_variable: a string renders (escaped for HTML where asked), anything else
    // (false for "", null and booleans; objects; lists) renders nothing.
    const mustache::data* v = context.get(seg.text);
    if (v && v->is_string()) out.text += seg.escaped && html_escape ? HtmlEscape(v->string_value()) : v->string_value();
  }
  out.missing = context.TakeMissing();
  return out;
}

Result<RenderOutput> Template::RenderByLibrary(const boost::json::value& variables, bool html_escape) const {
  auto data = Variables(variables);
  if (!data) return data.error();
  try {
    TrackingContext context(&*data);
    if (html_escape) impl_->tmpl.set_custom_escape([](const std::string& s) { return HtmlEscape(s); });
    else impl_->tmpl.set_custom_escape(NoEscape);
    // Appended straight to a string (kainjow's own render(context) goes through an ostringstream).
    struct Sink {
      std::string text;
      Sink& operator<<(const std::string& s) {
        text += s;
        return *this;
      }
    } sink;
    impl_->tmpl.render(context, sink);
    RenderOutput out;
    out.text = std::move(sink.text);
    if (!impl_->tmpl.is_valid())
      return MakeError(ErrorCode::kInvalidArgument, "template rendering failed: " + impl_->tmpl.error_message());
    out.missing = context.TakeMissing();
    return out;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("template rendering failed: ") + e.what());
  }
}

Result<RenderOutput> Render(std::string_view tmpl, const boost::json::value& variables, bool html_escape) {
  auto parsed = Template::Parse(tmpl);
  if (!parsed) return parsed.error();
  return parsed->Render(variables, html_escape);
}

}  // namespace kurier::templates
