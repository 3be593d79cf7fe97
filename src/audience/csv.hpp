// csv.hpp - a streaming CSV reader for contact imports: fed chunks of any size, it hands out complete
// records, each with the physical line it starts on; a broken record is handed out as an error record and
// reading goes on at the next line end, so one bad row never stops an import. No I/O.
// STANDARDS: RFC 4180 (quoted fields, "" escapes, line breaks inside quotes), read leniently as
// spreadsheets write it: CRLF, LF or CR line ends, a UTF-8 byte order mark, ',' ';' or tab delimiters.
//
// Usage (the contacts import: read a file in chunks, convert it to UTF-8, map each row to a contact):
//
//   Charset charset = DetectCharset(first_chunk);         // or ParseCharset(--encoding): charset.hpp
//   auto to_utf8 = Utf8Converter::Open(charset);          // Result: an error only without glibc's gconv
//   CsvReader csv;                                        // the delimiter is detected from the header
//   std::optional<ContactMapper> mapper;                  // contact_row.hpp
//   auto take = [&] {
//     while (auto rec = csv.Next()) {
//       if (!mapper) {                                    // the first record is the header
//         if (!rec->ok()) return fail(rec->error);
//         auto m = ContactMapper::FromHeader(rec->fields, maps);   // maps: {"Kolumna=address", ...}
//         if (!m) return fail(m.error().message);         // "no address column: the header has ..."
//         mapper = std::move(*m);
//         continue;
//       }
//       auto contact = mapper->Map(*rec);                 // an error record comes back as the error
//       if (contact) batch.push_back(std::move(*contact)); else report(contact.error().message);
//     }
//   };
//   while (read(chunk)) { std::string utf8; to_utf8->Convert(chunk, utf8); csv.Feed(utf8); take(); }
//   std::string rest; to_utf8->Finish(rest); csv.Feed(rest); csv.Finish(); take();
//   for (auto& p : to_utf8->TakeProblems()) report(p.message);   // "line 5: invalid UTF-8 ..."
//
// Memory: the reader keeps the record being read (at most max_record_bytes) plus the records parsed from
// the last chunk until Next() takes them; feed bounded chunks and drain after each.
#pragma once
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audience/line_counter.hpp"

namespace kurier::audience {

struct CsvOptions {
  char delimiter = 0;                          ///< ',', ';' or '\t'; 0: detected from the first record
  std::size_t max_field_bytes = 64 * 1024;     ///< a longer field makes its record an error record
  std::size_t max_record_bytes = 1024 * 1024;  ///< sum of a record's field octets
  std::size_t max_columns = 1000;
};

/// One record, or one broken record (error set, fields empty).
struct CsvRecord {
  std::size_t line = 0;             ///< 1-based physical line the record starts on
  std::vector<std::string> fields;  ///< unquoted field values, in order
  std::string error;                ///< "line 17: what is wrong; what to do"; empty for a good record
  bool ok() const { return error.empty(); }
};

class CsvReader {
 public:
  explicit CsvReader(CsvOptions options = {});

  /// Reads the next part of the input; a record may span any number of chunks.
  void Feed(std::string_view chunk);
  /// The input has ended: the last record without a line end is completed (or, inside an open quote,
  /// reported as an error record). Feed after Finish is ignored.
  void Finish();
  /// The next complete record, in input order; nullopt when none is ready yet.
  std::optional<CsvRecord> Next();

  /// The delimiter in use: the one given, or the one detected (0 while still undecided).
  char delimiter() const { return delimiter_; }
  /// Octets held for the record being read and the undecided start (for tests and the fuzzer: stays
  /// within max_record_bytes plus a few octets).
  std::size_t buffered_bytes() const { return head_.size() + field_.size() + record_bytes_; }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted, kSkipToLineEnd };

  void Start(bool at_end);
  void Consume(std::string_view data);
  void Step(char c);
  void EndField();
  void EndRecord();
  void Fail(std::string what);
  void Store(char c);

  CsvOptions options_;
  char delimiter_ = 0;
  bool started_ = false;  // BOM and delimiter decided, head_ consumed
  bool finished_ = false;
  std::string head_;      // input held until the BOM and the delimiter are decided
  State state_ = State::kFieldStart;
  std::string field_;
  std::vector<std::string> fields_;
  std::size_t record_bytes_ = 0;  // octets in fields_
  bool in_record_ = false;        // a byte of the current record has been read
  bool discarding_ = false;       // the current record is broken: read to its end, store nothing
  std::string error_;
  LineCounter lines_;             // physical line of the next byte
  std::size_t record_line_ = 1;
  std::deque<CsvRecord> ready_;
  struct Detection {            // the delimiter count over the first record, read as head_ grows
    std::size_t start = 0;      // where the first record may begin: after the byte order mark
    std::size_t pos = 0;        // next octet of head_ to look at
    bool quoted = false;
    bool content = false;       // the first record has begun (empty lines before it are skipped)
    bool done = false;          // its line end was found
    std::size_t counts[3] = {}; // ',' ';' '\t' outside quotes
  } detection_;
  bool ScanHead(std::size_t limit);
};

/// "','", "';'" or "tab" (for messages).
std::string DelimiterName(char delimiter);

}  // namespace kurier::audience
