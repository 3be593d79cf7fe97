// message_prep.cpp - trace and identification headers added at submission.
// STANDARDS: RFC 5321 4.4 (Received), RFC 3848 and RFC 6531 3.7.3 (with-protocol names),
// RFC 6409 8.2-8.3 (an MSA may add Date and Message-ID), RFC 5322 3.6 (fields).
#include "spool/message_prep.hpp"

#include "common/encoding.hpp"
#include "common/ids.hpp"

namespace kurier::spool {

std::size_t HeaderSectionEnd(std::string_view m) {
  if (m.substr(0, 2) == "\r\n") return 0;
  auto p = m.find("\r\n\r\n");
  if (p != std::string_view::npos) return p + 2;
  return m.size();  // headers only, or no separator: the whole message is the header section
}

bool HasHeader(std::string_view m, std::string_view name) {
  std::string_view headers = m.substr(0, HeaderSectionEnd(m));
  std::size_t pos = 0;
  while (pos < headers.size()) {
    auto eol = headers.find("\r\n", pos);
    std::string_view line = headers.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && line.front() != ' ' && line.front() != '\t') {
      std::string_view field = line.substr(0, colon);
      while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
      if (IEquals(field, name)) return true;
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 2;
  }
  return false;
}

std::string ReceivedHeader(const TraceInfo& t) {
  std::string proto = t.smtputf8 ? "UTF8SMTP" : t.esmtp ? "ESMTP" : "SMTP";
  if (t.esmtp || t.smtputf8) {
    if (t.tls) proto += "S";
    if (t.authenticated) proto += "A";
  }
  std::string helo;
  for (char c : t.helo.substr(0, 100)) helo += (static_cast<unsigned char>(c) < 33 || c == '(' || c == ')') ? '_' : c;
  std::string h = "Received: from " + (helo.empty() ? std::string("unknown") : helo) + " ([" + t.client_ip + "])\r\n";
  h += "\tby " + t.hostname + " (kurier) with " + proto + " id " + t.queue_id;
  if (t.tls && !t.tls_version.empty()) h += "\r\n\t(using " + t.tls_version + " with cipher " + t.tls_cipher + ")";
  if (t.recipients.size() == 1) h += "\r\n\tfor <" + t.recipients.front() + ">";
  h += "; " + FormatRfc5322Date(t.time) + "\r\n";
  return h;
}

std::string PrepareMessage(std::string_view message, const TraceInfo& t) {
  std::string received = ReceivedHeader(t);
  std::size_t end = HeaderSectionEnd(message);
  std::string added;
  if (!HasHeader(message, "Message-ID")) added += "Message-ID: <" + t.queue_id + "@" + t.hostname + ">\r\n";
  if (!HasHeader(message, "Date")) added += "Date: " + FormatRfc5322Date(t.time) + "\r\n";
  std::string out;
  out.reserve(received.size() + message.size() + added.size() + 2);
  out += received;
  out.append(message.substr(0, end));
  if (!added.empty()) {
    if (end == message.size() && !message.empty() && message.back() != '\n') out += "\r\n";
    out += added;
  }
  out.append(message.substr(end));
  return out;
}

}  // namespace kurier::spool
