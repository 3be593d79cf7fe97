// corpus_test.cpp - agreement of ParseReport with the labelled bounce corpus (tests/corpus/bounces: 312 real
// bounces, complaints and auto-replies with the reasons the sisimai project assigns to each recipient).
// The directory comes from $KURIER_BOUNCE_CORPUS, or the build's KURIER_BOUNCE_CORPUS_DIR. The test prints
// the agreement of reasons, of hard/soft, and the false hard bounces (hard where the label says soft: each
// one would suppress a good address), for the whole corpus and for a held-out third (every third file by
// sorted name, the files numbered 2, 5, 8, ...), then every disagreement. It holds reasons at >= 97 %,
// hard/soft at >= 99 % and false hard at <= 1 % of recipients.
//
// Expected hard/soft is derived from the expected reason and status with sisimai's rule
// (Sisimai::SMTP::Failure.is_hardbounce): a bounce is hard when the reason is userunknown, hostunknown
// or hasmoved, or when it is notaccept and the status is not a 4.x.x (temporary) one; every other
// reason, including feedback, vacation and delivered, is not a hard bounce.
#include <gtest/gtest.h>

#include <algorithm>
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

struct Tally {
  int files = 0, recipients = 0, reasons = 0, hard = 0, false_hard = 0;
  double Pct(int n) const { return recipients == 0 ? 0.0 : 100.0 * n / recipients; }
  void Print(const char* name) const {
    std::printf("bounce corpus%s: %d files, %d recipients; reasons %d/%d = %.1f %%, hard/soft %d/%d = %.1f %%, "
                "false hard %d/%d = %.1f %%\n",
                name, files, recipients, reasons, recipients, Pct(reasons), hard, recipients, Pct(hard), false_hard,
                recipients, Pct(false_hard));
  }
};

TEST(BounceCorpus, AgreesWithLabels) {
  const std::filesystem::path dir = CorpusDir();
  std::ifstream tsv(dir / "expected.tsv");
  ASSERT_TRUE(tsv) << "no " << (dir / "expected.tsv") << "; set KURIER_BOUNCE_CORPUS";
  std::string line;
  std::getline(tsv, line);  // header
  std::vector<std::vector<std::string>> rows;
  while (std::getline(tsv, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    rows.push_back(Split(line, '\t'));
    ASSERT_GE(rows.back().size(), 2u) << line;
  }
  // The held-out third: every third file in sorted order, whatever order expected.tsv lists them in.
  std::vector<std::string> names;
  for (const auto& cols : rows) names.push_back(cols[0]);
  std::sort(names.begin(), names.end());
  auto held_out = [&](const std::string& file) {
    return (std::lower_bound(names.begin(), names.end(), file) - names.begin()) % 3 == 2;
  };

  Tally all, held;
  std::ostringstream disagreements;
  for (const auto& cols : rows) {
    const std::string& file = cols[0];
    std::vector<std::string> want = Split(cols[1], ';');
    std::vector<std::string> status = cols.size() > 2 ? Split(cols[2], ';') : std::vector<std::string>{};
    std::ifstream in(dir / "emails" / file, std::ios::binary);
    ASSERT_TRUE(in) << file;
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Report report = ParseReport(raw);
    const bool in_held = held_out(file);
    ++all.files;
    held.files += in_held;
    // Every recipient counts once, whether expected or reported: a missing or an extra one disagrees.
    std::size_t n = std::max(want.size(), report.recipients.size());
    for (std::size_t i = 0; i < n; ++i) {
      std::string w = i < want.size() ? want[i] : "(none)";
      std::string st = i < status.size() ? status[i] : "";
      const Recipient* got = i < report.recipients.size() ? &report.recipients[i] : nullptr;
      std::string g = got ? got->reason : "(none)";
      const bool want_hard = i < want.size() && ExpectedHard(w, st);
      bool reason_ok = got && g == w;
      bool hard_ok = got && i < want.size() && got->hard == want_hard;
      bool false_hard = got && got->hard && !want_hard;
      for (Tally* t : {&all, in_held ? &held : nullptr}) {
        if (!t) continue;
        ++t->recipients;
        t->reasons += reason_ok;
        t->hard += hard_ok;
        t->false_hard += false_hard;
      }
      if (!reason_ok || !hard_ok) {
        disagreements << "  " << file << (in_held ? " [held out]" : "") << "  expected " << w
                      << (want_hard ? " (hard)" : " (soft)") << "  got " << g << (got && got->hard ? " (hard)" : " (soft)")
                      << "  status " << (got ? got->status : "") << "  kind " << ReportKindName(report.kind)
                      << "  diagnostic \""
                      << (got ? got->diagnostic.substr(0, 100) : "") << "\"\n";
      }
    }
  }
  ASSERT_GT(all.recipients, 0);
  all.Print("");
  held.Print(" (held-out third)");
  std::printf("disagreements:\n%s", disagreements.str().c_str());
  EXPECT_GE(all.Pct(all.reasons), 97.0);
  EXPECT_GE(all.Pct(all.hard), 99.0);
  EXPECT_LE(all.Pct(all.false_hard), 1.0);
}

}  // namespace
}  // namespace kurier::bounce
