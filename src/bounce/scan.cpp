// scan.cpp - the bounce reader's shared scanning helpers: bounded text helpers, addresses found in
// free text and fields, the text of MIME entities (HTML stripped), the original message's identifiers,
// and the parts of a report (multipart/report, message/rfc822, text/rfc822-headers).
// SECURITY: every scan is linear in its input (see report.cpp).
// STANDARDS: RFC 6522 (multipart/report), RFC 5322 (addresses, header fields), RFC 2045-2047.
#include "bounce/report_parts.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "bounce/classify.hpp"
#include "common/encoding.hpp"

namespace kurier::bounce::internal {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsWsp(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (IsWsp(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) { return ToLowerAscii(s); }

bool IContains(std::string_view haystack, std::string_view needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }
  return lines;
}

std::string CollapseSpace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// ---- addresses ----------------------------------------------------------------------------------

static bool IsLocalChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+/=?^_`{|}~.-", c) != nullptr;
}
static bool IsDomainChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'; }

// Every plausible addr-spec in `text` (dot-atom or quoted local part, a domain with a dot or a bracketed
// literal, or a bare single-label domain only when `allow_single_label`).
std::vector<FoundAddress> FindAddresses(std::string_view text, bool allow_single_label) {
  std::vector<FoundAddress> out;
  for (std::size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    if (out.size() >= 64) break;
    std::size_t b = at;
    if (b > 0 && text[b - 1] == '"') {
      std::size_t q = text.rfind('"', b - 2 < text.size() ? b - 2 : 0);
      if (q == std::string_view::npos || b < 2 || q >= b - 1) continue;
      b = q;
    } else {
      while (b > 0 && IsLocalChar(text[b - 1])) --b;
      while (b < at && (text[b] == '.' || text[b] == '\'' || text[b] == '=' || text[b] == '/')) ++b;
    }
    if (b == at || at - b > 64) continue;
    std::size_t e = at + 1;
    if (e < text.size() && text[e] == '[') {
      std::size_t close = text.find(']', e);
      if (close == std::string_view::npos || close - e > 64) continue;
      e = close + 1;
    } else {
      while (e < text.size() && IsDomainChar(text[e])) ++e;
      while (e > at + 1 && (text[e - 1] == '.' || text[e - 1] == '-')) --e;
      std::string_view domain = text.substr(at + 1, e - at - 1);
      if (domain.empty() || domain.size() > 255) continue;
      if (domain.find('.') == std::string_view::npos && !allow_single_label) continue;
      if (domain.front() == '.' || domain.find("..") != std::string_view::npos) continue;
    }
    FoundAddress f;
    f.begin = b;
    f.end = e;
    f.address = std::string(text.substr(b, at - b + 1)) + Lower(text.substr(at + 1, e - at - 1));
    out.push_back(std::move(f));
  }
  return out;
}

// The address in a field value such as "rfc822; <kijitora@example.jp>", "Name <a@b>" or "a@b".
std::string AddressFromField(std::string_view value) {
  std::string_view v = Trim(value);
  if (auto semi = v.find(';'); semi != std::string_view::npos && semi < 16 && v.find('@') > semi)
    v = Trim(v.substr(semi + 1));
  auto found = FindAddresses(v, true);
  if (!found.empty()) return found.front().address;
  // Not an addr-spec (a local name, a path, "@host"): keep what was written, without brackets.
  std::string s(v);
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '<' || c == '>'; }), s.end());
  return std::string(Trim(s).substr(0, 256));
}

bool SameAddress(std::string_view a, std::string_view b) { return IEquals(a, b); }

// ---- text of a MIME entity ---------------------------------------------------------------------

static std::string StripHtml(std::string_view html) {
  std::string out;
  bool in_tag = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    char c = html[i];
    if (c == '<') {
      in_tag = true;
      auto rest = Lower(html.substr(i, 4));
      if (rest == "<br>" || rest == "<br/" || rest == "<p>" || rest.rfind("</p", 0) == 0 || rest.rfind("<div", 0) == 0 ||
          rest.rfind("<tr", 0) == 0 || rest.rfind("<li", 0) == 0)
        out += '\n';
      continue;
    }
    if (c == '>' && in_tag) {
      in_tag = false;
      continue;
    }
    if (in_tag) continue;
    if (c == '&') {
      std::string_view rest = html.substr(i);
      if (rest.substr(0, 4) == "&lt;") { out += '<'; i += 3; continue; }
      if (rest.substr(0, 4) == "&gt;") { out += '>'; i += 3; continue; }
      if (rest.substr(0, 5) == "&amp;") { out += '&'; i += 4; continue; }
      if (rest.substr(0, 6) == "&nbsp;") { out += ' '; i += 5; continue; }
      if (rest.substr(0, 6) == "&quot;") { out += '"'; i += 5; continue; }
    }
    out += c;
  }
  return out;
}

static std::string EntityText(const mime::Entity& e) {
  std::string text = mime::ToUtf8(e.body, e.charset()).value_or(e.body);
  if (e.content_type.subtype == "html") text = StripHtml(text);
  if (text.size() > kMaxText) text.resize(kMaxText);
  return text;
}

// ---- the original message ------------------------------------------------------------------------

void FillOriginal(const mime::Headers& h, OriginalMessage& o) {
  auto get = [&](std::string_view name) { return std::string(h.Get(name).value_or("")); };
  if (o.message_id.empty()) {
    std::string id = get("Message-ID");
    auto lt = id.find('<'), gt = id.find('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt) id = id.substr(lt + 1, gt - lt - 1);
    o.message_id = std::string(Trim(id));
  }
  if (o.from.empty()) o.from = mime::DecodeEncodedWords(get("From"));
  if (o.to.empty()) o.to = mime::DecodeEncodedWords(get("To"));
  if (o.subject.empty()) o.subject = mime::DecodeEncodedWords(get("Subject"));
  if (o.return_path.empty()) o.return_path = AddressFromField(get("Return-Path"));
  for (const mime::Field& f : h.fields())
    if (IStartsWith(f.name, "X-Kurier-") && o.kurier_headers.size() < 64)
      o.kurier_headers.emplace(Lower(f.name), f.value);
}

bool HasOriginal(const OriginalMessage& o) {
  return !o.message_id.empty() || !o.from.empty() || !o.to.empty() || !o.kurier_headers.empty();
}

// ---- the parts of a report ----------------------------------------------------------------------

void CollectParts(const mime::Entity& e, Parts& p) {
  const std::string type = e.content_type.MimeType();
  if (type == "message/rfc822" || type == "message/global") {
    if (!e.parts.empty() && !p.original_headers) p.original_headers = &e.parts.front().headers;
    return;  // the returned message is not part of the notification
  }
  if (type == "text/rfc822-headers" || type == "message/rfc822-headers") {
    if (!p.original_headers) {
      p.parsed_original = mime::ParseHeaders(mime::SplitHeaderBody(e.body).first);
      if (p.parsed_original.empty()) p.parsed_original = mime::ParseHeaders(e.body);
      p.original_headers = &p.parsed_original;
    }
    return;
  }
  if (type == "message/delivery-status" || type == "message/global-delivery-status") {
    if (!p.delivery_status) p.delivery_status = &e;
    return;
  }
  if (type == "message/feedback-report") {
    if (!p.feedback_report) p.feedback_report = &e;
    return;
  }
  if (!e.parts.empty()) {
    for (const mime::Entity& child : e.parts) CollectParts(child, p);
    return;
  }
  // A multipart entity whose boundary never occurs is read as the text it is.
  if (e.content_type.type != "text" && !e.IsMultipart()) return;
  if (IContains(e.headers.Get("Content-Disposition").value_or(""), "attachment") && !p.notification.empty()) return;
  if (e.content_type.subtype == "html") {
    if (p.html_notification.size() < kMaxText) p.html_notification += EntityText(e) + "\n";
  } else if (p.notification.size() < kMaxText) {
    p.notification += EntityText(e) + "\n";
    p.raw_text += e.body.substr(0, kMaxText);
    p.raw_text += "\n";
  }
}

}  // namespace kurier::bounce::internal
