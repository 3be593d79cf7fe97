// contact_row.hpp - from a CSV header and its rows to contacts: which column is the address, the name, and
// which are attributes (by header names in English or Polish, or as the user maps them), and the one
// normalised form of a contact's address. No I/O.
// STANDARDS: RFC 5321 4.1.2 and 4.5.3.1.3 (mailbox syntax, 254 octets), RFC 5890/5891 (IDNA2008) with
// UTS #46 (the U-label to A-label mapping, through libidn2), RFC 6531 (SMTPUTF8, not supported here).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "audience/csv.hpp"
#include "common/result.hpp"

namespace kurier::audience {

struct ContactInput {
  std::string address;               ///< normalised: lower case, domain as A-labels (NormalizeContactAddress)
  std::string name;                  ///< trimmed; may be empty
  boost::json::object attributes;    ///< header (as written, trimmed) -> cell text; empty cells left out
};

/// What a column of the file becomes.
struct ColumnTarget {
  enum Kind { kSkip, kAddress, kName, kFirstName, kLastName, kAttribute } kind = kSkip;
  std::string attribute;  ///< kAttribute, kFirstName, kLastName: the attribute's key
};

class ContactMapper {
 public:
  /// From the file's header record. Columns are recognised by name (case-insensitive, trimmed):
  ///   address: email, e-mail, mail, email address, e-mail address, adres e-mail, adres email
  ///   name:    name, full name, imię i nazwisko, nazwa
  ///   first_name / last_name: first_name, first name, firstname, imię; last_name, last name, lastname,
  ///            surname, nazwisko - joined into the name when no name column exists, and kept as the
  ///            attributes first_name and last_name
  ///   anything else: an attribute under its header as written (trimmed); a column with an empty header
  ///   is skipped.
  /// `maps` are "column=field" pairs overriding that for the columns they name; field is address, name,
  /// attributes.KEY or - (skip). Errors: no address column (naming the headers seen), two columns with one
  /// name, two columns for the address or the name, a map naming no column or no known field.
  static Result<ContactMapper> FromHeader(const std::vector<std::string>& header,
                                          const std::vector<std::string>& maps = {});

  /// One data record to a contact; errors start with "line N: " and say why (no address, an address that
  /// is not valid, more cells than columns, a name with control characters).
  Result<ContactInput> Map(const CsvRecord& record) const;

  const std::vector<ColumnTarget>& columns() const { return columns_; }
  const std::vector<std::string>& header() const { return header_; }

 private:
  std::vector<std::string> header_;     // trimmed, as written
  std::vector<ColumnTarget> columns_;   // one per header column
  bool join_names_ = false;             // no name column: name = first name + " " + last name
};

/// An address as contact lists hold it: trimmed, surrounding <> removed, lower-cased (ASCII), the domain
/// converted to A-labels (IDNA2008 non-transitional, then transitional as browsers fall back), at most
/// 254 octets, and a valid RFC 5321 mailbox. "Jan@Łódź.PL" -> "jan@xn--d-uga0v4h.pl".
/// Non-ASCII local parts are refused: they need SMTPUTF8. The error says what is wrong and what to do.
Result<std::string> NormalizeContactAddress(std::string_view in);

/// The header name as the automatic mapping compares it: trimmed, lower-cased (ASCII and Polish letters),
/// inner runs of white space as one space.
std::string HeaderKey(std::string_view header);

}  // namespace kurier::audience
