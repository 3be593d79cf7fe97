// dsn_fields.cpp - RFC 3464 delivery status notifications: the message/delivery-status fields
// (per-message and per-recipient groups, typed values, ISO-2022-JP written raw) read into a Dsn.
// STANDARDS: RFC 3464, RFC 6522, RFC 6533 (message/global-delivery-status), RFC 3463 (status codes).
#include "bounce/report_parts.hpp"

#include <algorithm>
#include <cctype>

#include "bounce/classify.hpp"
#include "common/encoding.hpp"

namespace kurier::bounce::internal {

// ---- RFC 3464 fields ----------------------------------------------------------------------------

std::vector<DsnField> ReadDsnFields(std::string_view text) {
  std::vector<DsnField> fields;
  int block = 0;
  bool current = false;
  for (std::string_view raw_line : SplitLines(text)) {
    std::string_view line = raw_line;
    if (Trim(line).empty()) {
      if (current || (!fields.empty() && fields.back().block == block)) ++block;
      current = false;
      continue;
    }
    if (IsWsp(line.front())) {
      if (current) fields.back().value += " " + std::string(Trim(line));
      continue;
    }
    current = false;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 40) continue;
    std::string_view name = line.substr(0, colon);
    bool ok = true;
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) ok = false;
    if (!ok) continue;
    if (fields.size() >= 4 * kMaxRecipients) break;
    fields.push_back({Lower(name), std::string(Trim(line.substr(colon + 1))), block});
    current = true;
  }
  return fields;
}

static bool IsRecipientField(std::string_view name) {
  return name == "final-recipient" || name == "original-recipient" || name == "action" || name == "status" ||
         name == "diagnostic-code" || name == "remote-mta" || name == "x-actual-recipient" ||
         name == "last-attempt-date" || name == "will-retry-until" || name == "final-log-id" ||
         name == "x-powermta-bouncecategory";
}

// Strips the "dns; " / "smtp; " type prefix of a typed field value.
std::string Untyped(std::string_view v, std::string* type) {
  std::size_t semi = v.find(';');
  if (semi != std::string_view::npos && semi < 32) {
    std::string_view t = Trim(v.substr(0, semi));
    bool word = !t.empty();
    for (char c : t)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) word = false;
    if (word) {
      if (type) *type = Lower(t);
      return std::string(Trim(v.substr(semi + 1)));
    }
  }
  return std::string(Trim(v));
}

Dsn ParseDsn(std::string_view text) {
  Dsn dsn;
  std::vector<DsnField> fields = ReadDsnFields(text);
  DsnRecipient cur;
  int cur_block = -1;
  auto flush = [&] {
    if (cur.any && dsn.recipients.size() < kMaxRecipients) dsn.recipients.push_back(cur);
    cur = DsnRecipient{};
    cur_block = -1;
  };
  for (const DsnField& f : fields) {
    if (f.name == "reporting-mta") {
      if (dsn.reporting_mta.empty()) dsn.reporting_mta = Untyped(f.value);
      continue;
    }
    if (f.name == "original-envelope-id") {
      if (dsn.envelope_id.empty()) dsn.envelope_id = std::string(Trim(f.value));
      continue;
    }
    if (!IsRecipientField(f.name)) continue;
    // A new group starts at a blank line, or when a recipient field repeats within the current one
    // (reports that run all groups together).
    bool repeat = (f.name == "final-recipient" && !cur.final_recipient.empty()) ||
                  (f.name == "original-recipient" && !cur.original_recipient.empty()) ||
                  (f.name == "action" && !cur.action.empty()) || (f.name == "status" && !cur.status.empty());
    if (cur.any && (f.block != cur_block || repeat)) flush();
    cur.any = true;
    cur_block = f.block;
    if (f.name == "final-recipient") cur.final_recipient = AddressFromField(f.value);
    else if (f.name == "original-recipient") cur.original_recipient = AddressFromField(f.value);
    else if (f.name == "x-actual-recipient") cur.actual_recipient = AddressFromField(f.value);
    else if (f.name == "action") cur.action = Lower(Trim(f.value.substr(0, f.value.find_first_of(" (;"))));
    else if (f.name == "status") cur.status = std::string(Trim(f.value.substr(0, f.value.find_first_of(" (;"))));
    else if (f.name == "diagnostic-code") cur.diagnostic = Untyped(f.value, &cur.diagnostic_type);
    else if (f.name == "remote-mta") cur.remote_mta = Untyped(f.value);
    else if (f.name == "x-powermta-bouncecategory") cur.category = Lower(Trim(f.value));
  }
  flush();
  // Groups without any recipient and without a status are per-message leftovers, not recipients.
  std::erase_if(dsn.recipients, [](const DsnRecipient& r) {
    return r.final_recipient.empty() && r.original_recipient.empty() && r.status.empty() && r.diagnostic.empty();
  });
  return dsn;
}

std::string BestDsnAddress(const DsnRecipient& r) {
  auto valid = [](const std::string& a) {
    auto at = a.find('@');
    return at != std::string::npos && at > 0 && at + 1 < a.size() && a.find(':') == std::string::npos;
  };
  if (valid(r.final_recipient)) return r.final_recipient;
  if (valid(r.original_recipient)) return r.original_recipient;
  if (valid(r.actual_recipient)) return r.actual_recipient;
  if (!r.final_recipient.empty()) {
    // "@route:user@host" source routes: keep the mailbox.
    if (auto colon = r.final_recipient.rfind(':'); colon != std::string::npos && valid(r.final_recipient.substr(colon + 1)))
      return r.final_recipient.substr(colon + 1);
    return r.final_recipient;
  }
  return r.original_recipient;
}

}  // namespace kurier::bounce::internal
