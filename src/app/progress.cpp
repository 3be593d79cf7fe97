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

}  // namespace kurier::app
