// progress.cpp - the progress line of long CLI operations (see progress.hpp).
#include "app/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace kurier::app {

Progress::Progress(std::string what, std::size_t total)
    : what_(std::move(what)), total_(total), shown_(::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
  if (shown_ && last_ != std::chrono::steady_clock::time_point{}) std::fputs("\r\033[K", stderr);  // clear the line
}

void Progress::Update(std::size_t done) {
  if (!shown_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const unsigned percent = total_ ? static_cast<unsigned>(done * 100 / total_) : 100;
  std::fprintf(stderr, "\r%s: %zu of %zu (%u %%)\033[K", what_.c_str(), done, total_, percent);
  std::fflush(stderr);
}

WaitLine::WaitLine() : shown_(::isatty(STDERR_FILENO) == 1) {}

WaitLine::~WaitLine() { Clear(); }

void WaitLine::Draw(const std::string& what, long seconds) {
  if (!shown_) return;
  static const char kBar[] = {'|', '/', '-', '\\'};
  std::fprintf(stderr, "\r%c %s %ld s\033[K", kBar[step_++ % 4], what.c_str(), seconds);
  std::fflush(stderr);
  drawn_ = true;
}

void WaitLine::Clear() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace kurier::app
