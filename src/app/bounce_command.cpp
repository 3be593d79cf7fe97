// bounce_command.cpp - `kurier bounce parse FILE... [--json]`: what kurier reads from a returned message
// (the kind of report and, per recipient, address, action, status, reply, reason, hard/soft and the
// classifier's rule that decided), without a server or a data directory: the way to see why an address
// was suppressed, or to check a bounce from a new kind of server before it arrives. "-" reads stdin.
// STANDARDS: RFC 5322 (the message), RFC 3464 (DSN), RFC 5965 (ARF), RFC 3834 (auto-replies); what
// bounce/report.hpp's ParseReport reads, shaped by bounce/report_json.hpp.
#include <boost/json.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <sstream>

#include "app/admin_commands.hpp"
#include "bounce/report.hpp"
#include "bounce/report_json.hpp"

namespace kurier::app {

namespace {

std::vector<std::string> files;
bool json_output = false;

// ParseReport reads up to 10 MB; one byte more tells that the file was longer.
constexpr std::size_t kMaxRead = std::size_t{10} * 1024 * 1024 + 1;

// The file's bytes, or the reason it cannot be read ("" on success).
std::string ReadInput(const std::string& name, std::string& out) {
  if (name == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return std::cin.bad() ? "cannot read standard input" : "";
  }
  std::error_code ec;
  if (!std::filesystem::exists(name, ec)) return "no such file";
  if (std::filesystem::is_directory(name, ec)) return "is a directory; give the message's file";
  std::ifstream in(name, std::ios::binary);
  if (!in) return std::string("cannot open: ") + std::strerror(errno);
  out.resize(kMaxRead);
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  if (in.bad()) return std::string("cannot read: ") + std::strerror(errno);
  out.resize(static_cast<std::size_t>(in.gcount()));
  return "";
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// The columns of the text output: FILE KIND RECIPIENT ACTION STATUS CLASS REASON RULE, then REPLY (the
// longest) last. A value wider than its column pushes the rest along by one space.
constexpr int kWidths[] = {20, 11, 30, 9, 8, 6, 16, 30};
constexpr const char* kColumns[] = {"FILE", "KIND", "RECIPIENT", "ACTION", "STATUS", "CLASS", "REASON", "RULE"};

void PrintLine(const std::vector<std::string>& cells, const std::string& last) {
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const int width = kWidths[i];
    std::cout << std::left << std::setw(width) << cells[i] << (static_cast<int>(cells[i].size()) >= width ? " " : "");
  }
  std::cout << last << "\n";
}

void PrintRows(const std::string& name, const bounce::Report& report) {
  const std::string kind(bounce::ReportKindName(report.kind));
  if (report.recipients.empty()) PrintLine({name, kind, "-", "-", "-", "-", "-", "-"}, "-");
  for (const auto& r : report.recipients) {
    std::string reply = r.diagnostic;
    for (char& c : reply)
      if (c == '\r' || c == '\n' || c == '\t') c = ' ';
    PrintLine({name, kind, OrDash(r.address), OrDash(r.action), OrDash(r.status),
               OrDash(bounce::ClassificationOf(report, r)), OrDash(r.reason), OrDash(r.rule)},
              OrDash(reply));
  }
}

// RFC 5322 2.2: a message starts with a header field, a name of printable characters other than ':' and
// then ':'; an mbox file's "From " separator line may come first (RFC 4155).
bool StartsWithHeaderField(std::string_view raw) {
  if (raw.rfind("From ", 0) == 0) raw.remove_prefix(std::min(raw.size(), raw.find('\n') + 1));
  size_t n = 0;
  while (n < raw.size() && raw[n] > ' ' && raw[n] < 127 && raw[n] != ':') ++n;
  return n > 0 && n < raw.size() && raw[n] == ':';
}

}  // namespace

void AddBounceCommand(CLI::App& app) {
  auto* bounce = app.add_subcommand("bounce", "Read returned mail as kurier does");
  bounce->require_subcommand(1);
  auto* parse = bounce->add_subcommand(
      "parse", "Show what kurier reads from bounce messages (RFC 3464 DSNs, ARF reports, mail servers' own "
               "bounces): kind, and per recipient action, status, reason, hard/soft, the rule that decided and "
               "the reply. Needs no server or data directory");
  parse->add_option("FILE", files, "A message as received (RFC 5322, headers and body); - reads standard input")
      ->required();
  parse->add_flag("--json", json_output, "JSON output: an array with one object per file");
  parse->callback([] {
    bool failed = false;
    boost::json::array out;
    if (!json_output) PrintLine(std::vector<std::string>(std::begin(kColumns), std::end(kColumns)), "REPLY");
    for (const auto& name : files) {
      std::string raw;
      if (std::string why = ReadInput(name, raw); !why.empty()) {
        std::cerr << "kurier: " << (name == "-" ? "standard input" : name) << ": " << why << "\n";
        failed = true;
        continue;
      }
      if (!StartsWithHeaderField(raw)) {
        std::cerr << "kurier: " << (name == "-" ? "standard input" : name)
                  << ": not an email message: it does not start with header fields (Received:, From:, ...); save "
                     "the bounce with its headers (in most mail clients 'Show original' or 'View source')\n";
        failed = true;
        continue;
      }
      bounce::Report report = bounce::ParseReport(raw);
      if (report.kind == bounce::ReportKind::kNotBounce) {
        std::cerr << "kurier: " << (name == "-" ? "standard input" : name)
                  << ": not a bounce: expected a delivery status notification (RFC 3464 multipart/report), an ARF "
                     "complaint (RFC 5965), an auto-reply or a mail server's own bounce message (a failed-recipient "
                     "address with the server's reply); kurier's bounce listener would drop this message\n";
        failed = true;
      }
      if (json_output) {
        boost::json::object o{{"file", name}};
        for (auto& kv : bounce::ReportObject(report)) o.emplace(kv.key(), std::move(kv.value()));
        out.push_back(std::move(o));
      } else if (report.kind != bounce::ReportKind::kNotBounce) {
        PrintRows(name, report);
      }
    }
    if (json_output) std::cout << boost::json::serialize(out) << "\n";
    std::cout.flush();
    if (failed) std::exit(1);
  });
}

}  // namespace kurier::app
