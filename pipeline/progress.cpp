#include "pipeline/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "pipeline/log_line.hpp"

namespace folio::pipeline {

using Clock = std::chrono::steady_clock;

Progress::Progress(Mode mode, int documents_total, std::FILE* out)
    : mode_(mode),
      out_(out),
      every_(mode == Mode::Bar ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000)),
      docs_total_(documents_total),
      start_(Clock::now()),
      last_draw_(start_) {}

Progress::Mode Progress::mode_for(int fd, bool quiet, bool json_logs) {
  if (quiet) return Mode::Off;
  if (json_logs) return Mode::Json;  // a log collector reads it, whatever the terminal
  return isatty(fd) ? Mode::Bar : Mode::Lines;
}

void Progress::set_interval(std::chrono::milliseconds every) {
  std::lock_guard lock(mutex_);
  every_ = every;
}

void Progress::set_pages_total(int pages) {
  std::lock_guard lock(mutex_);
  pages_total_ += pages;
}

void Progress::page_done() {
  std::lock_guard lock(mutex_);
  ++pages_done_;
  draw(false);
}

void Progress::document_done(bool ok) {
  std::lock_guard lock(mutex_);
  ++docs_done_;
  if (!ok) ++docs_failed_;
  draw(false);
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  draw(true);
  if (mode_ == Mode::Bar) std::fputc('\n', out_);
  std::fflush(out_);
}

void Progress::draw(bool force) {
  if (mode_ == Mode::Off) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < every_) return;
  last_draw_ = now;
  const double minutes = std::chrono::duration<double>(now - start_).count() / 60.0;
  const double pages_per_min = minutes > 0 ? pages_done_ / minutes : 0.0;
  int eta_s = -1;
  std::string eta = "--";
  if (pages_per_min > 0 && pages_total_ > pages_done_) {
    eta_s = static_cast<int>((pages_total_ - pages_done_) / pages_per_min * 60.0);
    eta = fmt::format("{}:{:02d}", eta_s / 60, eta_s % 60);
  }
  const std::string stats = fmt::format("{}/{} documents ({} failed), {}/{} pages, {:.1f} pages/min, ETA {}", docs_done_,
                                        docs_total_, docs_failed_, pages_done_, pages_total_, pages_per_min, eta);
  if (mode_ == Mode::Bar) {
    const int width = 24;
    const double frac = docs_total_ > 0 ? static_cast<double>(docs_done_) / docs_total_ : 1.0;
    const int filled = static_cast<int>(frac * width);
    std::fprintf(out_, "\r[%s%s] %s\x1b[K", std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                 stats.c_str());
  } else if (mode_ == Mode::Json) {
    nlohmann::ordered_json extra = {{"event", "progress"},
                                    {"documents_done", docs_done_},
                                    {"documents_total", docs_total_},
                                    {"documents_failed", docs_failed_},
                                    {"pages_done", pages_done_},
                                    {"pages_total", pages_total_},
                                    {"pages_per_min", pages_per_min},
                                    {"eta_s", eta_s < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(eta_s)}};
    const auto line = json_log_line(std::chrono::system_clock::now(), "info", "progress: " + stats, extra) + "\n";
    std::fwrite(line.data(), 1, line.size(), out_);
  } else {
    std::fprintf(out_, "folio: progress: %s\n", stats.c_str());
  }
  std::fflush(out_);
}

}  // namespace folio::pipeline
