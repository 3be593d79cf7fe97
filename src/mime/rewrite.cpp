// mime/rewrite.cpp - RewriteHtmlParts: the HTML of a message kurier did not build, rewritten in place
// (decoded, rewritten, re-encoded as quoted-printable), every other byte kept. Read with the bounded
// reader of mime/parse.hpp.
// STANDARDS: RFC 2045 6 (Content-Transfer-Encoding), RFC 2046 5.1.1 (delimiter lines), RFC 2183.
#include "mime/rewrite.hpp"

#include <vector>

#include "common/encoding.hpp"
#include "mime/encode.hpp"
#include "mime/parse.hpp"

namespace kurier::mime {

namespace {

struct HtmlRewrite {
  const std::function<std::string(std::string)>& rewrite;
  int entities = 0;
  bool changed = false;

  // The header block without its Content-Transfer-Encoding field(s), folded lines included.
  static std::string WithoutTransferEncoding(std::string_view head) {
    std::string out;
    bool skipping = false;
    for (std::size_t pos = 0; pos < head.size();) {
      std::size_t eol = head.find('\n', pos);
      std::size_t next = eol == std::string_view::npos ? head.size() : eol + 1;
      std::string_view line = head.substr(pos, next - pos);
      if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
        if (!skipping) out.append(line);
      } else {
        skipping = IStartsWith(line, "content-transfer-encoding:");
        if (!skipping) out.append(line);
      }
      pos = next;
    }
    return out;
  }

  std::string Entity(std::string_view entity, int depth) {
    if (++entities > 500) return std::string(entity);
    auto [head, body] = mime::SplitHeaderBody(entity);
    if (body.data() == nullptr) return std::string(entity);  // no body at all
    const std::string_view separator = entity.substr(head.size(), static_cast<std::size_t>(body.data() - entity.data()) - head.size());
    mime::Headers fields = mime::ParseHeaders(head);
    mime::ContentType ct = mime::ParseContentType(fields.Get("Content-Type").value_or("text/plain"));
    if (ct.type == "multipart" && depth < 10) {
      std::string_view boundary = ct.Param("boundary");
      if (boundary.empty()) return std::string(entity);
      return std::string(head) + std::string(separator) + Multipart(body, boundary, depth);
    }
    if (ct.type != "text" || ct.subtype != "html") return std::string(entity);
    std::string_view disposition = fields.Get("Content-Disposition").value_or("");
    if (IStartsWith(disposition, "attachment")) return std::string(entity);
    std::string charset = ToLowerAscii(std::string(ct.Param("charset")));
    if (charset.rfind("utf-16", 0) == 0 || charset.rfind("utf-32", 0) == 0) return std::string(entity);
    std::string html = mime::DecodeTransferEncoding(body, ToLowerAscii(std::string(fields.Get("Content-Transfer-Encoding").value_or(""))));
    std::string rewritten = rewrite(html);
    if (rewritten == html) return std::string(entity);
    changed = true;
    const std::string eol = head.find("\r\n") != std::string_view::npos || head.empty() ? "\r\n" : "\n";
    std::string out = WithoutTransferEncoding(head);
    out += "Content-Transfer-Encoding: quoted-printable" + eol;
    out += separator;
    std::string qp = EncodeQuotedPrintable(NormalizeLineEndings(rewritten));
    if (eol == "\n") {  // keep the message's own line ends
      std::string lf;
      for (std::size_t i = 0; i < qp.size(); ++i)
        if (!(qp[i] == '\r' && i + 1 < qp.size() && qp[i + 1] == '\n')) lf += qp[i];
      qp = std::move(lf);
    }
    out += qp;
    // A part's body ends where the next boundary's line break begins; keep a final line end as it was.
    if (!body.empty() && body.back() == '\n' && (qp.empty() || qp.back() != '\n')) out += eol;
    return out;
  }

  // The body of a multipart entity, its parts rewritten between untouched delimiter lines (RFC 2046
  // 5.1.1: a delimiter is CRLF "--" boundary at the start of a line; the CRLF before it is the
  // delimiter's).
  std::string Multipart(std::string_view body, std::string_view boundary, int depth) {
    const std::string dash = "--" + std::string(boundary);
    // Start offsets of delimiter lines.
    std::vector<std::size_t> lines;
    for (std::size_t pos = 0; pos < body.size();) {
      if (body.compare(pos, dash.size(), dash) == 0) lines.push_back(pos);
      std::size_t eol = body.find('\n', pos);
      if (eol == std::string_view::npos) break;
      pos = eol + 1;
    }
    if (lines.empty()) return std::string(body);
    std::string out(body.substr(0, lines.front()));  // preamble, with the line break before the first delimiter
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::size_t at = lines[i];
      std::size_t eol = body.find('\n', at);
      std::size_t content = eol == std::string_view::npos ? body.size() : eol + 1;
      out.append(body.substr(at, content - at));  // the delimiter line itself
      const bool closing = body.compare(at + dash.size(), 2, "--") == 0;
      std::size_t end = i + 1 < lines.size() ? lines[i + 1] : body.size();
      if (closing || content >= end) {  // the epilogue, or an empty part: as it is
        out.append(body.substr(content, end - content));
        continue;
      }
      // The part runs to the line break before the next delimiter; that break stays outside it.
      std::size_t part_end = end;
      if (i + 1 < lines.size()) {
        if (part_end > content && body[part_end - 1] == '\n') --part_end;
        if (part_end > content && body[part_end - 1] == '\r') --part_end;
      }
      out += Entity(body.substr(content, part_end - content), depth + 1);
      out.append(body.substr(part_end, end - part_end));
    }
    return out;
  }
};

}  // namespace

std::optional<std::string> RewriteHtmlParts(std::string_view message,
                                            const std::function<std::string(std::string html)>& rewrite) {
  HtmlRewrite r{rewrite};
  std::string out = r.Entity(message, 0);
  if (!r.changed) return std::nullopt;
  return out;
}

}  // namespace kurier::mime

