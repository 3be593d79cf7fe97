// mime/rewrite.cpp - RewriteEntities (the MIME tree of a message kurier did not build, rebuilt with some
// entities replaced and every other byte kept), RewriteHtmlParts (tracking: HTML decoded, rewritten,
// re-encoded as quoted-printable) and FitLineLength (RFC 5322's line limit). Read with the bounded
// reader of mime/parse.hpp.
// STANDARDS: RFC 2045 6 (Content-Transfer-Encoding), RFC 2046 5.1.1 (delimiter lines), RFC 2046 5.2.1
// (message/rfc822 takes no encoding), RFC 2183, RFC 5322 2.1.1 (998 octets) and 2.2.3 (folding).
#include "mime/rewrite.hpp"

#include <vector>

#include "common/encoding.hpp"
#include "mime/encode.hpp"

namespace kurier::mime {

namespace {

using LeafFn = std::function<std::optional<std::string>(const EntityView&)>;
using HeadFn = std::function<std::optional<std::string>(std::string_view head)>;

struct Walker {
  const LeafFn& leaf;
  const HeadFn& container_head;
  int entities = 0;
  bool changed = false;

  std::string Entity(std::string_view entity, int depth) {
    if (++entities > 500) return std::string(entity);
    auto [head, body] = SplitHeaderBody(entity);
    const bool has_body = body.data() != nullptr;
    if (!has_body) body = entity.substr(entity.size());  // no body at all: an empty one
    const std::string_view separator = entity.substr(head.size(), static_cast<std::size_t>(body.data() - entity.data()) - head.size());
    Headers fields = ParseHeaders(head);
    ContentType ct = ParseContentType(fields.Get("Content-Type").value_or("text/plain"));
    if (ct.type == "multipart" && depth < 10) {
      std::string_view boundary = ct.Param("boundary");
      if (!boundary.empty()) {
        std::string out;
        if (auto h = container_head ? container_head(head) : std::nullopt) {
          changed = true;
          out = std::move(*h);
        } else {
          out = std::string(head);
        }
        return out + std::string(separator) + Multipart(body, boundary, depth);
      }
    }
    if (auto replaced = leaf(EntityView{head, separator, body, fields, ct, depth, has_body})) {
      changed = true;
      return std::move(*replaced);
    }
    return std::string(entity);
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

// The header block without its Content-Transfer-Encoding field(s), folded lines included.
std::string WithoutTransferEncoding(std::string_view head) {
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

std::string EolOf(std::string_view head) {
  return head.find("\r\n") != std::string_view::npos || head.empty() ? "\r\n" : "\n";
}

}  // namespace

std::optional<std::string> RewriteEntities(std::string_view message, const LeafFn& leaf, const HeadFn& container_head) {
  Walker w{leaf, container_head};
  std::string out = w.Entity(message, 0);
  if (!w.changed) return std::nullopt;
  return out;
}

std::string ReplaceBody(const EntityView& e, std::string_view encoding, std::string encoded) {
  const std::string eol = EolOf(e.head);
  std::string out = WithoutTransferEncoding(e.head);
  out.append("Content-Transfer-Encoding: ").append(encoding).append(eol);
  out += e.separator;
  if (eol == "\n") {  // keep the message's own line ends
    std::string lf;
    for (std::size_t i = 0; i < encoded.size(); ++i)
      if (!(encoded[i] == '\r' && i + 1 < encoded.size() && encoded[i + 1] == '\n')) lf += encoded[i];
    encoded = std::move(lf);
  }
  out += encoded;
  // A part's body ends where the next boundary's line break begins; keep a final line end as it was.
  if (!e.body.empty() && e.body.back() == '\n' && (encoded.empty() || encoded.back() != '\n')) out += eol;
  return out;
}

std::optional<std::string> RewriteHtmlParts(std::string_view message,
                                            const std::function<std::string(std::string html)>& rewrite) {
  return RewriteEntities(message, [&](const EntityView& e) -> std::optional<std::string> {
    if (!e.has_body || e.type.type != "text" || e.type.subtype != "html") return std::nullopt;
    if (IStartsWith(e.fields.Get("Content-Disposition").value_or(""), "attachment")) return std::nullopt;
    std::string charset = ToLowerAscii(std::string(e.type.Param("charset")));
    if (charset.rfind("utf-16", 0) == 0 || charset.rfind("utf-32", 0) == 0) return std::nullopt;
    std::string html = DecodeTransferEncoding(e.body, ToLowerAscii(std::string(e.fields.Get("Content-Transfer-Encoding").value_or(""))));
    std::string rewritten = rewrite(html);
    if (rewritten == html) return std::nullopt;
    return ReplaceBody(e, "quoted-printable", EncodeQuotedPrintable(NormalizeLineEndings(rewritten)));
  });
}

std::size_t FirstLongLine(std::string_view text, std::size_t limit) {
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t eol = text.find('\n', pos);
    std::size_t end = eol == std::string_view::npos ? text.size() : eol;
    std::size_t len = end - pos - (end > pos && text[end - 1] == '\r' ? 1 : 0);
    if (len > limit) return pos;
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return std::string_view::npos;
}

namespace {

struct Fitter {
  std::string_view message;  // the whole message: line numbers in errors count from its start
  std::size_t limit;
  std::string error;

  std::size_t LineNumber(const char* at) const {
    if (at < message.data() || at > message.data() + message.size()) return 0;
    std::size_t n = 1;
    for (const char* p = message.data(); p < at; ++p) n += *p == '\n';
    return n;
  }
  void Fail(const char* at, const std::string& what) {
    if (!error.empty()) return;
    error = "line " + std::to_string(LineNumber(at)) + " is longer than " + std::to_string(limit) + " octets " + what +
            " (RFC 5322 2.1.1); fold header fields and encode long body lines (quoted-printable or base64)";
  }

  // The header block with each line longer than the limit folded at white space (a CRLF put before a
  // space or tab: RFC 5322 2.2.3), as late as the limit allows. nullopt when no line was long.
  std::optional<std::string> Head(std::string_view head) {
    if (FirstLongLine(head, limit) == std::string_view::npos) return std::nullopt;
    const std::string eol = EolOf(head);
    std::string out;
    for (std::size_t pos = 0; pos < head.size();) {
      std::size_t nl = head.find('\n', pos);
      std::size_t next = nl == std::string_view::npos ? head.size() : nl + 1;
      std::string_view line = head.substr(pos, next - pos);
      std::string_view ending = line.ends_with("\r\n") ? line.substr(line.size() - 2) : line.ends_with('\n') ? line.substr(line.size() - 1) : "";
      std::string_view rest = line.substr(0, line.size() - ending.size());
      while (rest.size() > limit) {
        // The last white space at which the line before it fits (never the very first octet: a line
        // of only white space would be an empty continuation, RFC 5322 3.2.2).
        std::size_t cut = rest.find_last_of(" \t", limit);
        while (cut != std::string_view::npos && cut > 0 && TrimAscii(rest.substr(0, cut)).empty()) cut = std::string_view::npos;
        if (cut == std::string_view::npos || cut == 0) {
          Fail(rest.data(), "and has no white space to fold it at");
          return std::nullopt;
        }
        out.append(rest.substr(0, cut)).append(eol);
        rest = rest.substr(cut);
      }
      out.append(rest).append(ending);
      pos = next;
    }
    return out;
  }

  // `root`: the entity is a message's top (the message, or one enclosed in a message/rfc822 part).
  std::optional<std::string> Leaf(const EntityView& e, bool root) {
    std::optional<std::string> head = Head(e.head);
    if (!error.empty()) return std::nullopt;
    const std::size_t long_at = FirstLongLine(e.body, limit);
    if (long_at == std::string_view::npos) {
      if (!head) return std::nullopt;
      return *head + std::string(e.separator) + std::string(e.body);
    }
    const std::string fitted_head = head ? *head : std::string(e.head);
    const EntityView fitted{fitted_head, e.separator, e.body, e.fields, e.type, e.depth, e.has_body};
    if (e.type.type == "multipart") {  // too deep, or without a boundary: not re-encodable (RFC 2045 6.4)
      Fail(e.body.data() + long_at, "in a multipart part kurier cannot read");
      return std::nullopt;
    }
    if (e.type.type == "message" && (e.type.subtype == "rfc822" || e.type.subtype == "global")) {
      // A message/rfc822 body takes no transfer encoding (RFC 2046 5.2.1): the enclosed message is fitted.
      if (e.depth >= 10) {
        Fail(e.body.data() + long_at, "in an enclosed message nested too deep to fit");
        return std::nullopt;
      }
      auto inner = RewriteEntities(e.body, [&](const EntityView& i) {
        return Leaf(EntityView{i.head, i.separator, i.body, i.fields, i.type, e.depth + 1 + i.depth, i.has_body}, i.depth == 0);
      }, [&](std::string_view h) { return Head(h); });
      if (!error.empty() || !inner) return std::nullopt;
      return fitted_head + std::string(e.separator) + *inner;
    }
    const std::string cte = ToLowerAscii(std::string(e.fields.Get("Content-Transfer-Encoding").value_or("")));
    const std::string content = DecodeTransferEncoding(e.body, cte);
    std::string out = e.type.type == "text" ? ReplaceBody(fitted, "quoted-printable", EncodeQuotedPrintable(NormalizeLineEndings(content)))
                                            : ReplaceBody(fitted, "base64", EncodeBase64Lines(content));
    if (root && !e.fields.Get("MIME-Version")) out.insert(0, "MIME-Version: 1.0" + EolOf(e.head));
    return out;
  }
};

}  // namespace

LineFit FitLineLength(std::string_view message, std::size_t limit) {
  LineFit r;
  if (FirstLongLine(message, limit) == std::string_view::npos) return r;  // the usual case: one scan, no copy
  Fitter f{message, limit, {}};
  auto out = RewriteEntities(message, [&](const EntityView& e) { return f.Leaf(e, e.depth == 0); },
                             [&](std::string_view head) { return f.Head(head); });
  if (!f.error.empty()) {
    r.error = f.error;
    return r;
  }
  // What the walk does not reach (a multipart preamble or epilogue, parts past the bounds) is checked last.
  const std::string_view fitted = out ? std::string_view(*out) : message;
  if (std::size_t at = FirstLongLine(fitted, limit); at != std::string_view::npos) {
    r.error = "a line is longer than " + std::to_string(limit) +
              " octets outside any part kurier can re-encode (RFC 5322 2.1.1); encode long body lines "
              "(quoted-printable or base64)";
    return r;
  }
  r.text = std::move(out);
  return r;
}

}  // namespace kurier::mime
