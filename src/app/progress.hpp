// progress.hpp - a progress line for long CLI operations (`queue delete --all`): "deleting: 1200 of
// 130000 (0 %)" rewritten in place on a terminal (stderr is a tty), nothing at all in a pipe or a file,
// so scripts and logs see only the result; and a line that says what a command waits for, with a
// turning bar (`domain check` waiting on DNS), likewise on a terminal only.
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace kurier::app {

class Progress {
 public:
  /// `what`: the operation ("deleting"); `total`: the number of items.
  Progress(std::string what, std::size_t total);
  /// Clears the line (when one was shown).
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// `done` of the items are finished; redrawn at most ten times a second.
  void Update(std::size_t done);
  /// True when the line is shown (stderr is a terminal).
  bool shown() const { return shown_; }

 private:
  std::string what_;
  std::size_t total_;
  bool shown_;
  std::chrono::steady_clock::time_point last_{};
};

/// "/ waiting on DNS for TXT _dmarc.shop.pl (dns.forward 127.0.0.1) 3 s", redrawn in place on a terminal
/// (stderr is a tty) with the bar turned at each Draw; nothing elsewhere.
class WaitLine {
 public:
  WaitLine();
  /// Clears the line (when one is shown).
  ~WaitLine();
  WaitLine(const WaitLine&) = delete;
  WaitLine& operator=(const WaitLine&) = delete;
  /// Shows `what` (waited for `seconds` so far), the bar one step on.
  void Draw(const std::string& what, long seconds);
  /// Removes the line, so that what the command prints next starts on a clean line.
  void Clear();
  /// True when stderr is a terminal (the line can be shown).
  bool shown() const { return shown_; }

 private:
  bool shown_;
  bool drawn_ = false;
  unsigned step_ = 0;
};

}  // namespace kurier::app
