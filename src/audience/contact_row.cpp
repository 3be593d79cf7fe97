// contact_row.cpp - the header mapping of contact imports and the normalised contact address.
//
// SECURITY: reads rows of files that users upload, already bounded by CsvReader (field, record, columns);
// error messages quote at most kQuoteBytes of a cell. libidn2 gets NUL-free, bounded input.
// STANDARDS: RFC 5321 4.1.2 / 4.5.3.1.3 (mailbox, 254 octets, checked by mime::ValidateAddress), RFC 5890
// and 5891 (IDNA2008 A-labels) with UTS #46 processing (libidn2: non-transitional, then transitional as
// browsers fall back), RFC 6531 (SMTPUTF8 local parts: refused, kurier does not send them).
#include "audience/contact_row.hpp"

#include <idn2.h>

#include <algorithm>
#include <cstdlib>

#include "mime/build.hpp"

namespace kurier::audience {

namespace {

constexpr std::size_t kQuoteBytes = 80;
constexpr std::size_t kMaxAddressBytes = 254;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Trims ASCII white space and no-break spaces (U+00A0, which spreadsheets leave around cells).
std::string_view Trim(std::string_view s) {
  for (;;) {
    if (!s.empty() && IsSpace(s.front())) {
      s.remove_prefix(1);
    } else if (s.substr(0, 2) == "\xC2\xA0") {
      s.remove_prefix(2);
    } else if (!s.empty() && IsSpace(s.back())) {
      s.remove_suffix(1);
    } else if (s.size() >= 2 && s.substr(s.size() - 2) == "\xC2\xA0") {
      s.remove_suffix(2);
    } else {
      return s;
    }
  }
}

std::string Quoted(std::string_view s) {
  if (s.size() <= kQuoteBytes) return "'" + std::string(s) + "'";
  std::size_t n = kQuoteBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 sequence
  return "'" + std::string(s.substr(0, n)) + "...'";
}

void LowerAscii(std::string& s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

struct Alias {
  std::string_view key;
  ColumnTarget::Kind kind;
};
constexpr Alias kAliases[] = {
    {"email", ColumnTarget::kAddress},          {"e-mail", ColumnTarget::kAddress},
    {"mail", ColumnTarget::kAddress},           {"email address", ColumnTarget::kAddress},
    {"e-mail address", ColumnTarget::kAddress}, {"adres e-mail", ColumnTarget::kAddress},
    {"adres email", ColumnTarget::kAddress},    {"name", ColumnTarget::kName},
    {"full name", ColumnTarget::kName},         {"imię i nazwisko", ColumnTarget::kName},
    {"nazwa", ColumnTarget::kName},             {"first_name", ColumnTarget::kFirstName},
    {"first name", ColumnTarget::kFirstName},   {"firstname", ColumnTarget::kFirstName},
    {"imię", ColumnTarget::kFirstName},         {"last_name", ColumnTarget::kLastName},
    {"last name", ColumnTarget::kLastName},     {"lastname", ColumnTarget::kLastName},
    {"surname", ColumnTarget::kLastName},       {"nazwisko", ColumnTarget::kLastName},
};

ColumnTarget AutomaticTarget(const std::string& key, const std::string& header) {
  if (key.empty()) return {ColumnTarget::kSkip, ""};
  for (const auto& a : kAliases) {
    if (a.key != key) continue;
    if (a.kind == ColumnTarget::kFirstName) return {a.kind, "first_name"};
    if (a.kind == ColumnTarget::kLastName) return {a.kind, "last_name"};
    return {a.kind, ""};
  }
  return {ColumnTarget::kAttribute, header};
}

std::string HeaderList(const std::vector<std::string>& header) {
  std::string out;
  for (const auto& h : header) out += (out.empty() ? "" : ", ") + Quoted(h);
  return out.empty() ? "no columns" : out;
}

// "column=field" (the last '=' splits: a column name may hold one) into its column and its target.
Result<std::pair<std::size_t, ColumnTarget>> ParseMap(std::string_view map, const std::vector<std::string>& keys,
                                                      const std::vector<std::string>& header) {
  std::size_t eq = map.rfind('=');
  if (eq == std::string_view::npos)
    return MakeError(ErrorCode::kInvalidArgument,
                     "map " + Quoted(map) + " has no '=': write COLUMN=FIELD, e.g. 'E-mail klienta=address'");
  std::string key = HeaderKey(map.substr(0, eq));
  std::string_view field = Trim(map.substr(eq + 1));
  auto it = std::find(keys.begin(), keys.end(), key);
  if (key.empty() || it == keys.end())
    return MakeError(ErrorCode::kInvalidArgument, "map " + Quoted(map) + ": the file has no column " +
                                                      Quoted(Trim(map.substr(0, eq))) + "; its header has " +
                                                      HeaderList(header));
  ColumnTarget t;
  if (field == "address") {
    t.kind = ColumnTarget::kAddress;
  } else if (field == "name") {
    t.kind = ColumnTarget::kName;
  } else if (field == "first_name" || field == "last_name") {
    t = {field == "first_name" ? ColumnTarget::kFirstName : ColumnTarget::kLastName, std::string(field)};
  } else if (field == "-") {
    t.kind = ColumnTarget::kSkip;
  } else if (field.substr(0, 11) == "attributes." && field.size() > 11) {
    t = {ColumnTarget::kAttribute, std::string(field.substr(11))};
  } else {
    return MakeError(ErrorCode::kInvalidArgument,
                     "map " + Quoted(map) + ": unknown field " + Quoted(field) +
                         "; give address, name, first_name, last_name, attributes.KEY or - (skip the column)");
  }
  return std::make_pair(static_cast<std::size_t>(it - keys.begin()), std::move(t));
}

// At most one column per kind that is not an attribute, and one column per attribute key.
Result<void> CheckTargets(const std::vector<ColumnTarget>& columns, const std::vector<std::string>& header) {
  static constexpr std::string_view kWhat[] = {"", "the address", "the name", "the first name", "the last name"};
  for (std::size_t i = 0; i < columns.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = columns[j];
      const auto& b = columns[i];
      if (a.kind == ColumnTarget::kSkip || b.kind == ColumnTarget::kSkip) continue;
      bool same_kind = a.kind == b.kind && a.kind != ColumnTarget::kAttribute;
      bool same_key = !a.attribute.empty() && a.attribute == b.attribute;
      if (!same_kind && !same_key) continue;
      std::string what = same_kind ? std::string(kWhat[a.kind]) : "the attribute " + Quoted(a.attribute);
      return MakeError(ErrorCode::kInvalidArgument, "columns " + Quoted(header[j]) + " and " + Quoted(header[i]) +
                                                        " both give " + what + "; skip one with --map " +
                                                        Quoted(header[i] + "=-") + " or map it elsewhere");
    }
  }
  return {};
}

}  // namespace

std::string HeaderKey(std::string_view header) {
  // Polish capitals and their small letters, in UTF-8 (ASCII letters are lowered below).
  static constexpr std::pair<std::string_view, std::string_view> kPolish[] = {
      {"Ą", "ą"}, {"Ć", "ć"}, {"Ę", "ę"}, {"Ł", "ł"}, {"Ń", "ń"}, {"Ó", "ó"}, {"Ś", "ś"}, {"Ź", "ź"}, {"Ż", "ż"},
  };
  std::string_view in = Trim(header);
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    if (IsSpace(in[i])) {
      while (i < in.size() && IsSpace(in[i])) ++i;
      out += ' ';
      continue;
    }
    bool mapped = false;
    for (const auto& [upper, lower] : kPolish) {
      if (in.substr(i, upper.size()) != upper) continue;
      out += lower;
      i += upper.size();
      mapped = true;
      break;
    }
    if (mapped) continue;
    char c = in[i++];
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

Result<ContactMapper> ContactMapper::FromHeader(const std::vector<std::string>& header,
                                                const std::vector<std::string>& maps) {
  ContactMapper m;
  std::vector<std::string> keys;
  for (const auto& h : header) {
    m.header_.emplace_back(Trim(h));
    keys.push_back(HeaderKey(h));
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (std::size_t j = 0; j < i && !keys[i].empty(); ++j)
      if (keys[j] == keys[i])
        return MakeError(ErrorCode::kInvalidArgument, "columns " + std::to_string(j + 1) + " and " +
                                                          std::to_string(i + 1) + " are both named " +
                                                          Quoted(m.header_[i]) + "; rename one in the file");
    m.columns_.push_back(AutomaticTarget(keys[i], m.header_[i]));
  }
  std::vector<bool> explicit_column(keys.size(), false);
  bool mapped_kind[5] = {};
  for (const auto& map : maps) {
    auto parsed = ParseMap(map, keys, m.header_);
    if (!parsed) return parsed.error();
    auto& [column, target] = *parsed;
    mapped_kind[target.kind] = true;
    m.columns_[column] = std::move(target);
    explicit_column[column] = true;
  }
  // A column recognised by its name gives way to a map for the same field: it stays an attribute.
  for (std::size_t i = 0; i < m.columns_.size(); ++i) {
    auto& c = m.columns_[i];
    if (!explicit_column[i] && c.kind != ColumnTarget::kAttribute && c.kind != ColumnTarget::kSkip && mapped_kind[c.kind])
      c = {ColumnTarget::kAttribute, m.header_[i]};
  }
  if (auto checked = CheckTargets(m.columns_, m.header_); !checked) return checked.error();
  auto has = [&](ColumnTarget::Kind k) {
    return std::any_of(m.columns_.begin(), m.columns_.end(), [k](const ColumnTarget& c) { return c.kind == k; });
  };
  if (!has(ColumnTarget::kAddress))
    return MakeError(ErrorCode::kInvalidArgument,
                     "no address column: the header has " + HeaderList(m.header_) +
                         "; name the column email (or e-mail, adres e-mail), or map it with --map COLUMN=address");
  m.join_names_ = !has(ColumnTarget::kName);
  return m;
}

Result<ContactInput> ContactMapper::Map(const CsvRecord& record) const {
  const std::string line = "line " + std::to_string(record.line) + ": ";
  if (!record.ok()) return MakeError(ErrorCode::kInvalidArgument, record.error);
  for (std::size_t i = columns_.size(); i < record.fields.size(); ++i)
    if (!Trim(record.fields[i]).empty())
      return MakeError(ErrorCode::kInvalidArgument,
                       line + std::to_string(record.fields.size()) + " cells but the header has " +
                           std::to_string(columns_.size()) +
                           " columns; quote the cells that contain the delimiter, or add the column to the header");
  ContactInput out;
  std::string_view address, first, last;
  std::size_t address_column = 0;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    std::string_view cell = i < record.fields.size() ? Trim(record.fields[i]) : std::string_view();
    const ColumnTarget& c = columns_[i];
    switch (c.kind) {
      case ColumnTarget::kSkip: break;
      case ColumnTarget::kAddress: address = cell; address_column = i; break;
      case ColumnTarget::kName: out.name = cell; break;
      case ColumnTarget::kFirstName: first = cell; break;
      case ColumnTarget::kLastName: last = cell; break;
      case ColumnTarget::kAttribute: break;
    }
    if (!c.attribute.empty() && !cell.empty()) out.attributes[c.attribute] = cell;
  }
  if (address.empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     line + "no address (column " + Quoted(header_[address_column]) + " is empty); add it or remove the row");
  auto normalised = NormalizeContactAddress(address);
  if (!normalised) return MakeError(ErrorCode::kInvalidArgument, line + normalised.error().message);
  out.address = std::move(*normalised);
  if (join_names_) {
    out.name = std::string(first);
    if (!first.empty() && !last.empty()) out.name += ' ';
    out.name += last;
  }
  if (auto problem = mime::ValidateDisplayName(out.name))
    return MakeError(ErrorCode::kInvalidArgument, line + "name " + Quoted(out.name) + " " + *problem);
  return out;
}

Result<std::string> NormalizeContactAddress(std::string_view in) {
  std::string_view s = Trim(in);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = Trim(s.substr(1, s.size() - 2));
  auto fail = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, "address " + Quoted(s) + " " + why);
  };
  if (s.empty()) return fail("is empty: give an address such as user@example.com");
  if (s.size() > 4 * kMaxAddressBytes) return fail("is longer than 254 octets");
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return fail("contains a control character; remove it");
  std::size_t at = s.rfind('@');
  if (at == std::string_view::npos) return fail("has no @: write it as user@example.com");
  std::string local(s.substr(0, at));
  std::string domain(s.substr(at + 1));
  if (local.empty() || domain.empty()) return fail("needs text on both sides of the @: write it as user@example.com");
  if (!IsAscii(local))
    return fail("has a non-ASCII local part: internationalised local parts (SMTPUTF8) cannot be sent to here; "
                "use the recipient's ASCII address");
  LowerAscii(local);
  if (!IsAscii(domain)) {
    char* ascii = nullptr;
    int rc = idn2_to_ascii_8z(domain.c_str(), &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
      idn2_free(ascii);
      ascii = nullptr;
      int rc2 = idn2_to_ascii_8z(domain.c_str(), &ascii, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
      if (rc2 != IDN2_OK) {
        idn2_free(ascii);
        return fail("has a domain that is not a valid internationalised domain name (" +
                    std::string(idn2_strerror(rc)) + "); check its spelling");
      }
    }
    domain = ascii;
    idn2_free(ascii);
  }
  LowerAscii(domain);
  std::string out = local + "@" + domain;
  if (out.size() > kMaxAddressBytes) return fail("is longer than 254 octets (its domain in xn-- form: " + domain + ")");
  if (auto problem = mime::ValidateAddress(out)) return fail(*problem);
  return out;
}

}  // namespace kurier::audience
