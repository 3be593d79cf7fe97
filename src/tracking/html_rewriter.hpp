// html_rewriter.hpp - click tracking and the open pixel, done to an HTML part without re-serialising it:
// the output is the input with only the chosen href values replaced (or one <img> inserted).
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kurier::tracking {

/// Given a link's URL (entities decoded, leading/trailing controls and spaces trimmed, tabs and newlines
/// removed, always starting with http:// or https://) and its position among the trackable links
/// (0, 1, ...), returns the URL to put in its place, or nullopt to leave the link as it is.
using LinkRewriter = std::function<std::optional<std::string>(std::string_view url, std::size_t index)>;

struct RewriteResult {
  std::string html;               ///< the input with the rewritten href values replaced, nothing else changed
  std::vector<std::string> urls;  ///< the original URL of each rewritten link, in document order
  std::size_t rewritten = 0;      ///< urls.size()
  std::size_t candidates = 0;     ///< trackable links offered to the rewriter (the next free index)
  /// False when the scan stopped early: the HTML ended inside a tag, comment or raw-text element, or
  /// reached an <svg> or <math> element (foreign content). What follows was copied unchanged.
  bool complete = true;
};

/// Rewrites the href of each <a> and <area> start tag (the first href, as browsers use) whose value is
/// an http:// or https:// URL, tokenizing as a browser does (WHATWG HTML "Tokenization"): never inside
/// comments (conditional comments included), <![CDATA[ (a bogus comment up to the first '>' in HTML),
/// <style>, <script>, <title>, <textarea>, <xmp>, <iframe>, <noembed>, <noframes>, after <plaintext>,
/// from an <svg> or <math> element on, nor in any other attribute. A link with a
/// `data-kurier-notrack` attribute or `clicktracking="off"` is left alone, as is one whose value holds a
/// character reference this decoder does not know. The new URL is escaped for the attribute; a quoted
/// value keeps its quote character, an unquoted one becomes double-quoted. Linear in the input.
RewriteResult RewriteLinks(std::string_view html, const LinkRewriter& rewrite);

/// Inserts `<img src="pixel_url" width="1" height="1" alt="" ...>` just before the last </body> end
/// tag that is markup (not in a comment or script). Without one, appends it, or inserts it before a
/// trailing tag, comment or raw-text element that never ends (which would swallow it).
std::string InsertOpenPixel(std::string_view html, std::string_view pixel_url);

/// Decodes the character references of an attribute value as a browser does (WHATWG "character
/// reference state" with the attribute-value rules: `&copy=` and `&copyx` stay as written). Knows the
/// numeric references, the 106 legacy names that may go without ';', and the ASCII punctuation names
/// (`&sol;`, `&colon;`, ...); nullopt for any other named reference ending in ';' and for numeric
/// references to C1 controls, whose meaning this decoder does not reproduce.
std::optional<std::string> DecodeAttributeValue(std::string_view raw);


}  // namespace kurier::tracking
