// csv.cpp - the streaming CSV reader of contact imports: one byte-at-a-time state machine, so a chunk may
// end anywhere (inside a quote, between CR and LF, inside the byte order mark).
//
// SECURITY: reads files that users upload, of any size and content. Everything is bounded: a field by
// max_field_bytes, a record by max_record_bytes and max_columns; a record breaking a bound is discarded as
// it is read (nothing more is stored) and reported once. Fuzzed by fuzz/csv_reader_fuzz.cpp.
// STANDARDS: RFC 4180 section 2 (records, quoted fields, "" inside quotes, line breaks inside quotes);
// beyond it, as spreadsheets write CSV: LF and CR line ends as well as CRLF, a UTF-8 byte order mark,
// ';' (Excel in Polish and other locales with a decimal comma) or tab as delimiter, empty lines skipped.
#include "audience/csv.hpp"

#include <algorithm>
#include <utility>

namespace kurier::audience {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr char kDelimiters[3] = {',', ';', '\t'};

bool IsLineEnd(char c) { return c == '\r' || c == '\n'; }

}  // namespace

std::string DelimiterName(char delimiter) {
  if (delimiter == '\t') return "tab";
  return "'" + std::string(1, delimiter) + "'";
}

CsvReader::CsvReader(CsvOptions options) : options_(options), delimiter_(options.delimiter) {}

void CsvReader::Feed(std::string_view chunk) {
  if (finished_ || chunk.empty()) return;
  if (started_) {
    Consume(chunk);
    return;
  }
  head_.append(chunk);
  Start(false);
}

void CsvReader::Finish() {
  if (finished_) return;
  if (!started_) Start(true);
  finished_ = true;
  if (!in_record_) return;
  switch (state_) {
    case State::kQuoted:
      Fail("a quoted field is not closed at the end of the file; close it with a quote (and double the quotes "
           "inside it)");
      break;
    case State::kSkipToLineEnd:
      break;
    default:
      EndField();
  }
  EndRecord();
}

std::optional<CsvRecord> CsvReader::Next() {
  if (ready_.empty()) return std::nullopt;
  CsvRecord out = std::move(ready_.front());
  ready_.pop_front();
  return out;
}

// Looks at the octets of head_ not seen yet; true once the first record's line end (outside quotes) is found.
// Looks at no more than max_record_bytes, so that the decision does not depend on how the input was cut.
bool CsvReader::ScanHead(std::size_t limit) {
  auto& d = detection_;
  for (; d.pos < std::min(head_.size(), limit) && !d.done; ++d.pos) {
    char c = head_[d.pos];
    if (c == '"') d.quoted = !d.quoted;
    if (d.quoted) {
      d.content = true;
      continue;
    }
    if (IsLineEnd(c)) {
      d.done = d.content;
      continue;
    }
    d.content = true;
    for (int i = 0; i < 3; ++i)
      if (c == kDelimiters[i]) ++d.counts[i];
  }
  return d.done;
}

// Decides the byte order mark and the delimiter once head_ holds enough, then reads head_.
void CsvReader::Start(bool at_end) {
  std::size_t n = std::min(head_.size(), kBom.size());
  bool bom_undecided = head_.size() < kBom.size() && head_.compare(0, n, kBom.substr(0, n)) == 0;
  if (bom_undecided && !at_end) return;
  if (head_.compare(0, kBom.size(), kBom) == 0 && detection_.pos == 0) detection_.pos = detection_.start = kBom.size();
  if (delimiter_ == 0) {
    const std::size_t limit = detection_.start + options_.max_record_bytes;
    bool found = ScanHead(limit);
    if (!found && !at_end && detection_.pos < limit) return;
    // The most frequent of the three outside quotes; ',' on a tie or when the header has one column.
    int best = 0;
    for (int i = 1; i < 3; ++i)
      if (detection_.counts[i] > detection_.counts[best]) best = i;
    delimiter_ = kDelimiters[best];
  }
  started_ = true;
  std::string head = std::move(head_);
  head_.clear();
  head_.shrink_to_fit();
  std::string_view data(head);
  if (data.substr(0, kBom.size()) == kBom) data.remove_prefix(kBom.size());
  Consume(data);
}

void CsvReader::Consume(std::string_view data) {
  for (char c : data) {
    Step(c);
    lines_.Count(c);
  }
}

void CsvReader::Step(char c) {
  const bool eol = IsLineEnd(c);
  switch (state_) {
    case State::kFieldStart:
      if (!in_record_) {
        if (eol) return;  // an empty line, or the LF of a CRLF that ended the last record
        in_record_ = true;
        record_line_ = lines_.line;
      }
      if (c == delimiter_) {
        EndField();
      } else if (eol) {
        EndField();
        EndRecord();
      } else if (c == '"') {
        state_ = State::kQuoted;
      } else {
        Store(c);
        state_ = State::kUnquoted;
      }
      return;
    case State::kUnquoted:
      if (c == delimiter_) {
        EndField();
        state_ = State::kFieldStart;
      } else if (eol) {
        EndField();
        EndRecord();
      } else if (c == '"') {
        // The quote cannot be trusted to open or close anything: the rest of the line goes with the record.
        Fail("a quote inside an unquoted field; quote the whole field and double the quote");
        state_ = State::kSkipToLineEnd;
      } else {
        Store(c);
      }
      return;
    case State::kQuoted:
      if (c == '"')
        state_ = State::kQuoteInQuoted;
      else
        Store(c);
      return;
    case State::kQuoteInQuoted:
      if (c == '"') {
        Store('"');
        state_ = State::kQuoted;
      } else if (c == delimiter_) {
        EndField();
        state_ = State::kFieldStart;
      } else if (eol) {
        EndField();
        EndRecord();
      } else {
        Fail("text after the closing quote of a field; quote the whole field and double the quotes inside it");
        state_ = State::kUnquoted;
      }
      return;
    case State::kSkipToLineEnd:
      if (eol) EndRecord();
      return;
  }
}

void CsvReader::Store(char c) {
  if (discarding_) return;
  field_.push_back(c);
  if (field_.size() > options_.max_field_bytes) {
    Fail("a field is longer than " + std::to_string(options_.max_field_bytes) +
         " octets; shorten it (or check for a quoted field missing its closing quote)");
  } else if (record_bytes_ + field_.size() > options_.max_record_bytes) {
    Fail("the record is longer than " + std::to_string(options_.max_record_bytes) +
         " octets; shorten it (or check for a quoted field missing its closing quote)");
  }
}

void CsvReader::EndField() {
  if (discarding_) return;
  if (fields_.size() >= options_.max_columns) {
    Fail("more than " + std::to_string(options_.max_columns) + " columns; check the delimiter (" +
         DelimiterName(delimiter_) + " is in use) or remove columns");
    return;
  }
  record_bytes_ += field_.size();
  fields_.push_back(std::move(field_));
  field_.clear();
}

void CsvReader::Fail(std::string what) {
  if (!discarding_) {
    discarding_ = true;
    error_ = "line " + std::to_string(record_line_) + ": " + std::move(what);
  }
  fields_.clear();
  fields_.shrink_to_fit();
  field_.clear();
  field_.shrink_to_fit();
  record_bytes_ = 0;
}

void CsvReader::EndRecord() {
  CsvRecord rec;
  rec.line = record_line_;
  if (discarding_)
    rec.error = std::move(error_);
  else
    rec.fields = std::move(fields_);
  ready_.push_back(std::move(rec));
  fields_.clear();
  field_.clear();
  error_.clear();
  record_bytes_ = 0;
  in_record_ = false;
  discarding_ = false;
  state_ = State::kFieldStart;
}

}  // namespace kurier::audience
