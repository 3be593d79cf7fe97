// importer.cpp - the contacts CSV import (importer.hpp).
#include "audience/importer.hpp"

#include <boost/json.hpp>

namespace kurier::audience {

namespace {
constexpr std::size_t kDetectBytes = 64 * 1024;  // charset detection sample
}  // namespace

ContactImporter::ContactImporter(store::Store& store, ImportOptions options)
    : store_(store), options_(std::move(options)) {
  if (options_.batch == 0) options_.batch = 1;
}

Result<void> ContactImporter::Start(bool at_end) {
  if (to_utf8_ || (!at_end && !options_.charset && head_.size() < kDetectBytes)) return {};
  const Charset charset = options_.charset ? *options_.charset : DetectCharset(head_);
  auto conv = Utf8Converter::Open(charset);
  if (!conv) return conv.error();
  to_utf8_.emplace(std::move(conv.value()));
  report_.charset = std::string(CharsetName(charset));
  std::string utf8;
  to_utf8_->Convert(head_, utf8);
  head_.clear();
  head_.shrink_to_fit();
  csv_.Feed(utf8);
  return Drain();
}

void ContactImporter::Reject(std::string message) {
  ++report_.rejected_count;
  if (report_.rejected.size() < ImportReport::kMaxRejected) report_.rejected.push_back(std::move(message));
}

Result<void> ContactImporter::Drain() {
  if (to_utf8_)
    for (auto& p : to_utf8_->TakeProblems()) Reject(std::move(p.message));
  while (auto rec = csv_.Next()) {
    if (!mapper_) {
      if (!rec->ok()) return MakeError(ErrorCode::kInvalidArgument, "the header line cannot be read: " + rec->error);
      auto m = ContactMapper::FromHeader(rec->fields, options_.maps);
      if (!m) return m.error();
      mapper_.emplace(std::move(m.value()));
      report_.header = mapper_->header();
      report_.delimiter = csv_.delimiter();
      continue;
    }
    ++report_.rows;
    if (!rec->ok()) {
      Reject(std::move(rec->error));
      continue;
    }
    auto contact = mapper_->Map(*rec);
    if (!contact) {
      Reject(contact.error().message);
      continue;
    }
    pending_.push_back({std::move(contact->address), std::move(contact->name), boost::json::serialize(contact->attributes)});
    if (pending_.size() >= options_.batch)
      if (auto r = Flush(); !r) return r;
  }
  return {};
}

Result<void> ContactImporter::Flush() {
  if (pending_.empty()) return {};
  store::ContactSaveOptions save;
  save.mode = options_.mode;
  save.list_id = options_.list_id;
  save.consent = options_.consent;
  auto r = store_.SaveContacts(options_.account, pending_, save);
  if (!r) return r.error();
  report_.saved.created += r->created;
  report_.saved.updated += r->updated;
  report_.saved.skipped += r->skipped;
  report_.saved.added_to_list += r->added_to_list;
  pending_.clear();
  return {};
}

Result<void> ContactImporter::Feed(std::string_view chunk) {
  if (stopped_) return MakeError(ErrorCode::kInvalidArgument, "the import has stopped");
  bytes_ += chunk.size();
  Result<void> r;
  if (!to_utf8_) {
    head_.append(chunk);
    r = Start(false);
  } else {
    std::string utf8;
    to_utf8_->Convert(chunk, utf8);
    csv_.Feed(utf8);
    r = Drain();
  }
  if (!r) stopped_ = true;
  return r;
}

Result<ImportReport> ContactImporter::Finish() {
  if (stopped_) return MakeError(ErrorCode::kInvalidArgument, "the import has stopped");
  stopped_ = true;
  if (auto r = Start(true); !r) return r.error();
  std::string rest;
  to_utf8_->Finish(rest);
  csv_.Feed(rest);
  csv_.Finish();
  if (auto r = Drain(); !r) return r.error();
  if (!mapper_)
    return MakeError(ErrorCode::kInvalidArgument, "the file is empty: give a CSV file whose first line names the columns "
                                                  "(e.g. email,name)");
  if (auto r = Flush(); !r) return r.error();
  return report_;
}

}  // namespace kurier::audience
