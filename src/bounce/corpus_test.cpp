// corpus_test.cpp - agreement of ParseReport with the labelled bounce corpus (tests/corpus/bounces: 312 real
// bounces, complaints and auto-replies with the reasons the sisimai project assigns to each recipient).
// The directory comes from $KURIER_BOUNCE_CORPUS, or the build's KURIER_BOUNCE_CORPUS_DIR. The test prints
// the agreement and every disagreement, and holds reasons at >= 95 % and hard/soft at >= 99 %.
//
// Expected hard/soft is derived from the expected reason and status with sisimai's rule
// (Sisimai::SMTP::Failure.is_hardbounce): a bounce is hard when the reason is userunknown, hostunknown
// or hasmoved, or when it is notaccept and the status is not a 4.x.x (temporary) one; every other
// reason, including feedback, vacation and delivered, is not a hard bounce.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bounce/report.hpp"

namespace kurier::bounce {
namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool ExpectedHard(const std::string& reason, const std::string& status) {
  if (reason == "userunknown" || reason == "hostunknown" || reason == "hasmoved") return true;
  return reason == "notaccept" && status.rfind("4.", 0) != 0;
}

std::filesystem::path CorpusDir() {
  if (const char* env = std::getenv("KURIER_BOUNCE_CORPUS"); env && *env) return env;
#ifdef KURIER_BOUNCE_CORPUS_DIR
  return KURIER_BOUNCE_CORPUS_DIR;
#else
  return "tests/corpus/bounces";
#endif
}

TEST(BounceCorpus, AgreesWithLabels) {
  const std::filesystem::path dir = CorpusDir();
  std::ifstream tsv(dir / "expected.tsv");
  ASSERT_TRUE(tsv) << "no " << (dir / "expected.tsv") << "; set KURIER_BOUNCE_CORPUS";
  std::string line;
  std::getline(tsv, line);  // header
  int files = 0, recipients = 0, reasons_agree = 0, hard_agree = 0;
  std::ostringstream disagreements;
  while (std::getline(tsv, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cols = Split(line, '\t');
    ASSERT_GE(cols.size(), 2u) << line;
    const std::string& file = cols[0];
    std::vector<std::string> want = Split(cols[1], ';');
    std::vector<std::string> status = cols.size() > 2 ? Split(cols[2], ';') : std::vector<std::string>{};
    std::ifstream in(dir / "emails" / file, std::ios::binary);
    ASSERT_TRUE(in) << file;
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Report report = ParseReport(raw);
    ++files;
    // Every recipient counts once, whether expected or reported: a missing or an extra one disagrees.
    std::size_t n = std::max(want.size(), report.recipients.size());
    for (std::size_t i = 0; i < n; ++i) {
      ++recipients;
      std::string w = i < want.size() ? want[i] : "(none)";
      std::string st = i < status.size() ? status[i] : "";
      const Recipient* got = i < report.recipients.size() ? &report.recipients[i] : nullptr;
      std::string g = got ? got->reason : "(none)";
      bool reason_ok = got && g == w;
      bool hard_ok = got && i < want.size() && got->hard == ExpectedHard(w, st);
      reasons_agree += reason_ok;
      hard_agree += hard_ok;
      if (!reason_ok || !hard_ok) {
        disagreements << "  " << file << "  expected " << w << (ExpectedHard(w, st) ? " (hard)" : " (soft)")
                      << "  got " << g << (got && got->hard ? " (hard)" : " (soft)") << "  status "
                      << (got ? got->status : "") << "  kind " << ReportKindName(report.kind) << "  diagnostic \""
                      << (got ? got->diagnostic.substr(0, 100) : "") << "\"\n";
      }
    }
  }
  ASSERT_GT(recipients, 0);
  double reason_pct = 100.0 * reasons_agree / recipients;
  double hard_pct = 100.0 * hard_agree / recipients;
  std::printf("bounce corpus: %d files, %d recipients; reasons %d/%d = %.1f %%, hard/soft %d/%d = %.1f %%\n", files,
              recipients, reasons_agree, recipients, reason_pct, hard_agree, recipients, hard_pct);
  std::printf("disagreements:\n%s", disagreements.str().c_str());
  EXPECT_GE(reason_pct, 95.0);
  EXPECT_GE(hard_pct, 99.0);
}

}  // namespace
}  // namespace kurier::bounce
