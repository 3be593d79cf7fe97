// charset.hpp - the character sets of contact imports and their conversion to UTF-8, in chunks: UTF-8
// (validated), and the two 8-bit charsets of Polish exports, windows-1250 (Excel, Windows programs) and
// ISO-8859-2 (older Unix and web exports); `DetectCharset` guesses which one a file is in. No I/O.
// STANDARDS: RFC 3629 (UTF-8), RFC 1345 / IANA character sets (names and aliases), WHATWG Encoding
// labels for the aliases people write.
#pragma once
#include <cstddef>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "audience/line_counter.hpp"

namespace kurier::audience {

enum class Charset { kUtf8, kWindows1250, kIso8859_2 };

/// "utf-8", "windows-1250" or "iso-8859-2".
std::string_view CharsetName(Charset charset);

/// A charset by name, case-insensitive: utf-8 (utf8), windows-1250 (cp1250, win1250, x-cp1250),
/// iso-8859-2 (latin2, iso8859-2, iso_8859-2, l2). An unknown name is an error naming the accepted ones.
Result<Charset> ParseCharset(std::string_view name);

/// The charset of a file from its start (say its first 64 KiB): valid UTF-8 (a sequence cut by the end of
/// the sample counts as valid) is utf-8; else octets 0x80-0x9F (C1 controls in ISO-8859-2, but Polish
/// letters such as ś ź Ś Ź in windows-1250) mean windows-1250; else the letters that differ between the two
/// (ą Ą ś Ś ź Ź) decide, windows-1250 when they do not.
Charset DetectCharset(std::string_view sample);

/// A line of the input that did not convert cleanly.
struct CharsetProblem {
  std::size_t line = 0;  ///< 1-based physical line (LF, CR or CRLF end a line), as CsvRecord counts them
  std::string message;   ///< "line 5: ...; what to do"
};

/// Converts input in `from` to UTF-8, chunk by chunk: a chunk may end anywhere, inside a UTF-8 sequence
/// too. What does not convert (invalid UTF-8, the five octets windows-1250 leaves undefined) becomes U+FFFD
/// and is reported once per line. Windows-1250 and ISO-8859-2 are converted by glibc's iconv: being
/// single-octet charsets, each of the 256 octets is converted once, when the first converter opens.
class Utf8Converter {
 public:
  static constexpr std::size_t kMaxProblems = 100;  ///< problems kept; problem_count() counts them all

  /// An error only when iconv cannot convert the charset (glibc's gconv modules missing).
  static Result<Utf8Converter> Open(Charset from);

  /// Appends the UTF-8 of `chunk` to `out` (an incomplete UTF-8 sequence at its end is held back).
  void Convert(std::string_view chunk, std::string& out);
  /// The input has ended: appends what was held back (an incomplete sequence becomes U+FFFD).
  void Finish(std::string& out);

  Charset charset() const { return from_; }
  /// The first kMaxProblems problems, in input order; TakeProblems empties the list.
  const std::vector<CharsetProblem>& problems() const { return problems_; }
  std::vector<CharsetProblem> TakeProblems();
  std::size_t problem_count() const { return problem_count_; }

 private:
  using Table = std::array<std::string, 256>;  // UTF-8 of each octet; empty: undefined in the charset
  Utf8Converter(Charset from, const Table* table) : from_(from), table_(table) {}
  void ConvertUtf8(std::string_view chunk, std::string& out, bool at_end);
  void ConvertSingleByte(std::string_view chunk, std::string& out);
  void Problem(std::string what);

  Charset from_;
  const Table* table_ = nullptr;  // windows-1250 and ISO-8859-2; static, shared by every converter
  std::string pending_;  // UTF-8 input: an incomplete sequence from the end of the last chunk
  LineCounter lines_;
  std::size_t last_problem_line_ = 0;
  std::size_t problem_count_ = 0;
  std::vector<CharsetProblem> problems_;
};

}  // namespace kurier::audience
