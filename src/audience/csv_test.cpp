// Tests of the streaming CSV reader (audience/csv.hpp): RFC 4180 records, line numbers, delimiter
// detection, the byte order mark, chunks split anywhere, broken rows reported and skipped, bounds.
#include "audience/csv.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kurier::audience {
namespace {

std::vector<CsvRecord> Drain(CsvReader& r) {
  std::vector<CsvRecord> out;
  while (auto rec = r.Next()) out.push_back(std::move(*rec));
  return out;
}

// The records of `in` fed in chunks of `chunk` octets (0: at once).
std::vector<CsvRecord> Read(std::string_view in, std::size_t chunk = 0, CsvOptions options = {}) {
  CsvReader r(options);
  std::vector<CsvRecord> out;
  if (chunk == 0) chunk = in.size() + 1;
  for (std::size_t i = 0; i < in.size(); i += chunk) {
    r.Feed(in.substr(i, chunk));
    for (auto& rec : Drain(r)) out.push_back(std::move(rec));
  }
  r.Finish();
  for (auto& rec : Drain(r)) out.push_back(std::move(rec));
  return out;
}

// A record as one string for comparisons: "3:a|b|c", or "3!error text".
std::string Show(const CsvRecord& r) {
  std::string s = std::to_string(r.line);
  if (!r.ok()) return s + "!" + r.error;
  s += ":";
  for (std::size_t i = 0; i < r.fields.size(); ++i) s += (i ? "|" : "") + r.fields[i];
  return s;
}

std::vector<std::string> Shown(std::string_view in, std::size_t chunk = 0, CsvOptions options = {}) {
  std::vector<std::string> out;
  for (const auto& r : Read(in, chunk, options)) out.push_back(Show(r));
  return out;
}

TEST(Csv, Records) {
  struct Row {
    std::string in;
    std::vector<std::string> want;
  };
  const Row rows[] = {
      {"", {}},
      {"a,b,c", {"1:a|b|c"}},
      {"a,b,c\n", {"1:a|b|c"}},
      {"a,b\r\nc,d\r\n", {"1:a|b", "2:c|d"}},
      {"a,b\rc,d\r", {"1:a|b", "2:c|d"}},                            // old Mac line ends
      {"a,b\n\n\r\n\nc,d\n", {"1:a|b", "5:c|d"}},                    // empty lines skipped, still counted
      {"a,,c,\n", {"1:a||c|"}},                                      // empty fields, a trailing one too
      {"\"a,b\",c\n", {"1:a,b|c"}},                                  // a quoted delimiter
      {"\"say \"\"hi\"\"\",x\n", {"1:say \"hi\"|x"}},                // "" inside quotes
      {"\"two\nlines\",x\nnext,y\n", {"1:two\nlines|x", "3:next|y"}},  // a line break inside quotes
      {"\"crlf\r\ninside\",x\r\nnext,y", {"1:crlf\r\ninside|x", "3:next|y"}},
      {"\"\",\"\"\n", {"1:|"}},                                      // two quoted empty fields
      {"\"\"\n", {"1:"}},                                            // one quoted empty field is a record
      {"\xEF\xBB\xBF" "email,name\n", {"1:email|name"}},             // the byte order mark is dropped
      {"a b , c \n", {"1:a b | c "}},                                // spaces are kept (the mapper trims)
      {"Zażółć,gęślą\n", {"1:Zażółć|gęślą"}},
  };
  for (const auto& r : rows) EXPECT_EQ(Shown(r.in), r.want) << r.in;
}

TEST(Csv, DelimiterDetectedFromTheFirstRecord) {
  struct Row {
    std::string in;
    char want;
    std::vector<std::string> records;
  };
  const Row rows[] = {
      {"email;imię;nazwisko\njan@x.pl;Jan;Kowalski\n", ';', {"1:email|imię|nazwisko", "2:jan@x.pl|Jan|Kowalski"}},
      {"email\tname\na@x.pl\tA, B\n", '\t', {"1:email|name", "2:a@x.pl|A, B"}},
      {"email,name\na;b,c\n", ',', {"1:email|name", "2:a;b|c"}},
      {"\"a;b;c\",d\n", ',', {"1:a;b;c|d"}},                       // delimiters inside quotes do not count
      {"\n\nemail;name\n", ';', {"3:email|name"}},                  // empty lines before the header
      {"email\na@x.pl\n", ',', {"1:email", "2:a@x.pl"}},            // one column: ','
      {"\xEF\xBB\xBF" "a;b\n", ';', {"1:a|b"}},
  };
  for (const auto& r : rows) {
    CsvReader reader;
    reader.Feed(r.in);
    reader.Finish();
    EXPECT_EQ(reader.delimiter(), r.want) << r.in;
    std::vector<std::string> got;
    for (const auto& rec : Drain(reader)) got.push_back(Show(rec));
    EXPECT_EQ(got, r.records) << r.in;
  }
}

TEST(Csv, GivenDelimiterIsUsed) {
  CsvOptions o;
  o.delimiter = ';';
  EXPECT_EQ(Shown("a,b;c\n", 0, o), std::vector<std::string>({"1:a,b|c"}));
}

TEST(Csv, EveryChunkSplitGivesTheSameRecords) {
  const std::string in =
      "\xEF\xBB\xBF" "email;\"name\";note\r\n"
      "jan@x.pl;\"Kowalski; Jan\";\"said \"\"hi\"\"\"\r\n"
      "\r\n"
      "\"ewa@x.pl\";\"two\r\nlines\";\"\"\r"
      "bad\"quote;x\n"
      "ola@x.pl;Ola;\"end\"";
  const auto want = Shown(in);
  ASSERT_EQ(want, std::vector<std::string>({
                      "1:email|name|note",
                      "2:jan@x.pl|Kowalski; Jan|said \"hi\"",
                      "4:ewa@x.pl|two\r\nlines|",
                      "6!line 6: a quote inside an unquoted field; quote the whole field and double the quote",
                      "7:ola@x.pl|Ola|end",
                  }));
  for (std::size_t chunk = 1; chunk <= in.size(); ++chunk) EXPECT_EQ(Shown(in, chunk), want) << "chunk " << chunk;
  // Two chunks split at every pair of positions.
  for (std::size_t i = 0; i <= in.size(); ++i) {
    for (std::size_t j = i; j <= in.size(); ++j) {
      CsvReader r;
      r.Feed(std::string_view(in).substr(0, i));
      r.Feed(std::string_view(in).substr(i, j - i));
      r.Feed(std::string_view(in).substr(j));
      r.Finish();
      std::vector<std::string> got;
      for (const auto& rec : Drain(r)) got.push_back(Show(rec));
      ASSERT_EQ(got, want) << "split at " << i << " and " << j;
    }
  }
}

TEST(Csv, BrokenRowsAreReportedAndTheRestIsRead) {
  const std::string in =
      "email,name\n"                       // 1
      "a@x.pl,Ann\n"                       // 2
      "b@x.pl,Bo\"b\n"                     // 3: stray quote
      "c@x.pl,\"Cy\"x,more\n"              // 4: text after a closing quote
      "d@x.pl,\"Di\"\n"                    // 5
      "e@x.pl,\"Eve\nstill Eve\"z\n"       // 6-7: text after a closing quote in a two-line record
      "f@x.pl,\"F \"\"quoted\"\"\"\n"      // 8
      "g@x.pl,\"unterminated\n"            // 9: the quote runs to the end of the file
      "h@x.pl,Hank\n";
  EXPECT_EQ(Shown(in), std::vector<std::string>({
                           "1:email|name",
                           "2:a@x.pl|Ann",
                           "3!line 3: a quote inside an unquoted field; quote the whole field and double the quote",
                           "4!line 4: text after the closing quote of a field; quote the whole field and double the "
                           "quotes inside it",
                           "5:d@x.pl|Di",
                           "6!line 6: text after the closing quote of a field; quote the whole field and double the "
                           "quotes inside it",
                           "8:f@x.pl|F \"quoted\"",
                           "9!line 9: a quoted field is not closed at the end of the file; close it with a quote (and "
                           "double the quotes inside it)",
                       }));
}

TEST(Csv, BoundsMakeErrorRecords) {
  CsvOptions o;
  o.max_field_bytes = 8;
  o.max_record_bytes = 20;
  o.max_columns = 4;
  const std::string in =
      "a,b\n"                          // 1
      "123456789,x\n"                  // 2: field of 9
      "\"1234\n56789\",x\n"            // 3-4: quoted field of 10 across lines
      "1234567,1234567,1234567\n"      // 5: record of 21
      "1,2,3,4,5\n"                    // 6: 5 columns
      "12345678,1234567\n";            // 7: at the bounds
  EXPECT_EQ(Shown(in, 0, o),
            std::vector<std::string>({
                "1:a|b",
                "2!line 2: a field is longer than 8 octets; shorten it (or check for a quoted field missing its "
                "closing quote)",
                "3!line 3: a field is longer than 8 octets; shorten it (or check for a quoted field missing its "
                "closing quote)",
                "5!line 5: the record is longer than 20 octets; shorten it (or check for a quoted field missing "
                "its closing quote)",
                "6!line 6: more than 4 columns; check the delimiter (',' is in use) or remove columns",
                "7:12345678|1234567",
            }));
}

TEST(Csv, MemoryStaysBoundedByTheLongestRecord) {
  CsvOptions o;
  o.max_field_bytes = 1000;
  o.max_record_bytes = 4000;
  CsvReader r(o);
  r.Feed("email,name\n");
  std::size_t most = 0;
  // A quote that never closes, 1 MiB of it: discarded as it comes.
  r.Feed("a@x.pl,\"");
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 256; ++i) {
    r.Feed(chunk);
    most = std::max(most, r.buffered_bytes());
  }
  EXPECT_LE(most, o.max_record_bytes);
  r.Finish();
  auto got = Drain(r);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].line, 2u);
  EXPECT_NE(got[1].error.find("longer than 1000 octets"), std::string::npos) << got[1].error;
  // An undecided delimiter stops waiting after max_record_bytes.
  CsvReader head(o);
  for (int i = 0; i < 4; ++i) head.Feed(chunk);
  EXPECT_EQ(head.delimiter(), ',');
  EXPECT_LE(head.buffered_bytes(), o.max_record_bytes);
}

TEST(Csv, DelimiterOfAnOverlongFirstRecordDoesNotDependOnChunks) {
  // Only the first max_record_bytes are looked at: the tabs after them do not count, however the input is cut.
  CsvOptions o;
  o.max_field_bytes = 32;
  o.max_record_bytes = 48;
  const std::string in = std::string(30, 'p') + "," + std::string(30, 'p') + "\ta\tb\tc\nq,r\tz\n";
  const auto want = Shown(in, 0, o);
  EXPECT_EQ(want, std::vector<std::string>({"1!line 1: the record is longer than 48 octets; shorten it (or check for a "
                                            "quoted field missing its closing quote)",
                                            "2:q|r\tz"}));
  for (std::size_t chunk = 1; chunk <= in.size(); ++chunk) EXPECT_EQ(Shown(in, chunk, o), want) << chunk;
}

TEST(Csv, FeedAfterFinishIsIgnored) {
  CsvReader r;
  r.Feed("a,b");
  r.Finish();
  r.Feed("c,d\n");
  r.Finish();
  auto got = Drain(r);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Show(got[0]), "1:a|b");
}

}  // namespace
}  // namespace kurier::audience
