// libFuzzer target: the contacts import's I/O-free path (src/audience/) on arbitrary files: charset
// detection, conversion to UTF-8, CsvReader and the header/row mapping, with the input cut into chunks whose
// sizes come from the data. It never crashes; the converter's output is valid UTF-8; the reader's buffer
// stays within its record bound; records come in order of their lines, within the field, record and column
// bounds; and reading the same text in one chunk gives the same records (chunking changes nothing).
// STANDARDS: RFC 4180, RFC 3629, RFC 5890/5891 (through NormalizeContactAddress).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audience/charset.hpp"
#include "audience/contact_row.hpp"
#include "audience/csv.hpp"

namespace {

using namespace kurier::audience;

bool ValidUtf8(std::string_view s) {
  auto conv = Utf8Converter::Open(Charset::kUtf8);
  std::string out;
  conv->Convert(s, out);
  conv->Finish(out);
  return conv->problem_count() == 0 && out == s;
}

void Check(const CsvRecord& rec, const CsvOptions& o, std::size_t& last_line) {
  if (rec.line < last_line) std::abort();
  last_line = rec.line;
  if (!rec.ok()) {
    if (!rec.fields.empty()) std::abort();
    return;
  }
  if (rec.fields.empty() || rec.fields.size() > o.max_columns) std::abort();
  std::size_t total = 0;
  for (const auto& f : rec.fields) {
    if (f.size() > o.max_field_bytes) std::abort();
    total += f.size();
  }
  if (total > o.max_record_bytes) std::abort();
}

std::vector<std::string> Show(std::vector<CsvRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    std::string s = std::to_string(r.line) + (r.ok() ? ":" : "!" + r.error);
    for (const auto& f : r.fields) s += std::to_string(f.size()) + "/" + f;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  // Small bounds, so that inputs of a few KiB reach them.
  CsvOptions o;
  o.max_field_bytes = 16 + data[0] % 128;
  o.max_record_bytes = o.max_field_bytes + data[1] % 512;
  o.max_columns = 1 + data[2] % 16;
  const uint8_t seed = data[2];
  std::string_view file(reinterpret_cast<const char*>(data + 3), size - 3);

  const Charset charset = DetectCharset(file.substr(0, 512));
  auto conv = Utf8Converter::Open(charset);
  if (!conv) std::abort();
  CsvReader csv(o);
  std::string text;  // all the UTF-8, for the one-chunk comparison
  std::vector<CsvRecord> records;
  std::optional<ContactMapper> mapper;
  std::size_t last_line = 0;
  auto take = [&] {
    while (auto rec = csv.Next()) {
      Check(*rec, o, last_line);
      if (rec->ok() && !mapper) {
        // Odd seeds map the first column to the address explicitly, even ones go by the header's names.
        std::vector<std::string> maps;
        if (seed & 1) maps.push_back(rec->fields[0] + "=address");
        auto m = ContactMapper::FromHeader(rec->fields, maps);
        if (m) mapper = std::move(*m);
      } else if (mapper) {
        auto c = mapper->Map(*rec);
        if (c && (c->address.empty() || c->address.size() > 254 || !ValidUtf8(c->name))) std::abort();
      }
      records.push_back(std::move(*rec));
    }
  };
  // Chunk sizes 1..64 from a generator seeded by the input: every split is reachable.
  uint32_t state = seed * 2654435761u + static_cast<uint32_t>(size);
  for (std::size_t i = 0; i < file.size();) {
    state = state * 1103515245u + 12345u;
    std::size_t n = 1 + (state >> 16) % 64;
    std::string utf8;
    conv->Convert(file.substr(i, n), utf8);
    i += n;
    text += utf8;
    csv.Feed(utf8);
    if (csv.buffered_bytes() > o.max_record_bytes + 3) std::abort();
    take();
  }
  std::string rest;
  conv->Finish(rest);
  text += rest;
  csv.Feed(rest);
  csv.Finish();
  take();
  if (!ValidUtf8(text)) std::abort();

  CsvReader whole(o);
  whole.Feed(text);
  whole.Finish();
  std::vector<CsvRecord> again;
  while (auto rec = whole.Next()) again.push_back(std::move(*rec));
  if (Show(again) != Show(records)) std::abort();
  return 0;
}
