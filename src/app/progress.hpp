// progress.hpp - a progress line for long CLI operations (`queue delete --all`): "deleting: 1200 of
// 130000 (0 %)" rewritten in place on a terminal (stderr is a tty), nothing at all in a pipe or a file,
// so scripts and logs see only the result.
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

}  // namespace kurier::app
