// prepare.cpp - trace and identification headers added at submission.
// STANDARDS: RFC 5321 4.4 (Received), RFC 3848 and RFC 6531 3.7.3 (with-protocol names),
// RFC 6409 8.2-8.3 (an MSA may add Date and Message-ID), RFC 5322 3.6 (fields), RFC 5322 2.2.3 (unfolding).
// The X-Kurier-* submission options follow what Mailgun (X-Mailgun-Tag, X-Mailgun-Track-Clicks) and
// Postmark (X-PM-Tag, X-PM-TrackOpens) offer SMTP senders.
#include "ingress/prepare.hpp"

#include <boost/json.hpp>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "mime/header_fields.hpp"

namespace kurier::ingress {

namespace {

using mime::FieldValue;
using mime::ForEachField;
using mime::HasHeader;
using mime::HeaderSectionEnd;

constexpr std::string_view kOptionFields[] = {"X-Kurier-Tag", "X-Kurier-Metadata", "X-Kurier-Track-Opens",
                                              "X-Kurier-Track-Clicks", "X-Kurier-List-Unsubscribe"};

bool IsOptionField(std::string_view name) {
  for (auto f : kOptionFields)
    if (IEquals(name, f)) return true;
  return false;
}

}  // namespace


SubmissionOptions ReadSubmissionOptions(std::string_view m) {
  SubmissionOptions o;
  boost::json::array tags;
  bool metadata_seen = false;
  ForEachField(m, [&](std::string_view name, std::size_t start, std::size_t end) {
    if (!IsOptionField(name)) return true;
    o.present = true;
    const std::string value = FieldValue(m, start, end);
    auto fail = [&](const std::string& what) {
      o.error = std::string(name) + " " + what;
      return false;
    };
    // Tags and metadata become JSON strings: text that is not UTF-8 cannot be one (RFC 8259 8.1).
    if (!IsValidUtf8(value)) return fail("is not valid UTF-8; write it in UTF-8 (or ASCII)");
    if (IEquals(name, "X-Kurier-Tag")) {
      std::string_view rest = value;
      while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view tag = TrimAscii(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (tag.empty()) continue;
        if (tag.size() > 128 || tags.size() == 20)
          return fail("holds more than 20 tags or a tag longer than 128 characters (separate tags with commas)");
        tags.emplace_back(tag);
      }
    } else if (IEquals(name, "X-Kurier-Metadata")) {
      if (metadata_seen) return fail("appears twice; put every key in one JSON object");
      metadata_seen = true;
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(value, ec);
      if (ec || !v.is_object()) return fail("is not a JSON object (e.g. {\"order\": \"42\"})");
      o.metadata = boost::json::serialize(v);
      if (o.metadata.size() > 10000) return fail("is longer than 10000 octets");
    } else {
      std::optional<bool> flag;
      const std::string v = ToLowerAscii(value);
      if (v == "yes" || v == "true" || v == "on" || v == "1") flag = true;
      if (v == "no" || v == "false" || v == "off" || v == "0") flag = false;
      if (!flag) return fail("must be yes or no");
      (IEquals(name, "X-Kurier-Track-Opens")    ? o.track_opens
       : IEquals(name, "X-Kurier-Track-Clicks") ? o.track_clicks
                                                 : o.list_unsubscribe) = flag;
    }
    return true;
  });
  if (!tags.empty()) o.tags = boost::json::serialize(tags);
  return o;
}

std::string RemoveSubmissionOptionFields(std::string_view m) {
  std::string out;
  std::size_t copied = 0;
  ForEachField(m, [&](std::string_view name, std::size_t start, std::size_t end) {
    if (IsOptionField(name)) {
      out.append(m.substr(copied, start - copied));
      copied = end;
    }
    return true;
  });
  if (copied == 0) return std::string(m);
  out.append(m.substr(copied));
  return out;
}

std::string ReceivedHeader(const TraceInfo& t) {
  if (!t.api_key.empty())
    return "Received: from api (key " + t.api_key + " [" + t.client_ip + "])\r\n\tby " + t.hostname +
           " (kurier) with HTTP id " + t.queue_id + ";\r\n\t" + FormatRfc5322Date(t.time) + "\r\n";
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

}  // namespace kurier::ingress
