// importer.hpp - a contacts CSV import from its bytes to the store, shared by `kurier contacts import` and
// POST /v1/contacts/import: the charset given or detected from the first 64 KiB (charset.hpp), records read
// as they arrive (csv.hpp), the header mapped (contact_row.hpp), and contacts saved in batches of one
// transaction each (Store::SaveContacts). A broken row is reported with its line and skipped; only a
// header with no address column, or a store that fails, stops the import. Memory stays bounded by the
// batch and the longest record, whatever the file's size.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audience/charset.hpp"
#include "audience/contact_row.hpp"
#include "audience/csv.hpp"
#include "common/result.hpp"
#include "store/store.hpp"

namespace kurier::audience {

struct ImportOptions {
  std::string account;
  std::string list_id;  ///< "" or a list (by id) every imported contact is put on
  store::ContactSaveOptions::Mode mode = store::ContactSaveOptions::Mode::kMerge;  ///< upsert (merge) or skip
  std::optional<Charset> charset;  ///< nullopt: detected
  std::vector<std::string> maps;   ///< "column=field" (ContactMapper::FromHeader)
  std::string consent = "{}";      ///< the consent record of new memberships (JSON object text)
  std::size_t batch = 2000;        ///< contacts per transaction
};

struct ImportReport {
  static constexpr std::size_t kMaxRejected = 100;  ///< rejected rows kept (rejected_count counts all)
  int64_t rows = 0;  ///< data records read (good and bad)
  store::ContactSaveCounts saved;
  int64_t rejected_count = 0;
  std::vector<std::string> rejected;  ///< "line N: what is wrong; what to do", the first kMaxRejected
  std::string charset;                ///< what the file was read as
  char delimiter = 0;
  std::vector<std::string> header;
};

class ContactImporter {
 public:
  ContactImporter(store::Store& store, ImportOptions options);
  /// The next bytes of the file. An error stops the import (a header without an address column, the
  /// store failing); what earlier batches saved stays saved.
  Result<void> Feed(std::string_view chunk);
  /// The file has ended: the rest is read and saved.
  Result<ImportReport> Finish();
  const ImportReport& report() const { return report_; }
  /// Octets fed so far (a progress bar's position).
  uint64_t bytes() const { return bytes_; }

 private:
  Result<void> Start(bool at_end);
  Result<void> Drain();
  Result<void> Flush();
  void Reject(std::string message);

  store::Store& store_;
  ImportOptions options_;
  ImportReport report_;
  std::string head_;  // the first bytes, until the charset is decided
  std::optional<Utf8Converter> to_utf8_;
  CsvReader csv_;
  std::optional<ContactMapper> mapper_;
  std::vector<store::ContactWrite> pending_;
  uint64_t bytes_ = 0;
  bool stopped_ = false;
};

}  // namespace kurier::audience
