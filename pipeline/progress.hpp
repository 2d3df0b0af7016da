// Progress of a run on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise, a
// JSON line every few seconds with --log-format json, nothing when quiet. stdout is never touched (it
// carries --jsonl data).
#pragma once

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace folio::pipeline {

class Progress {
 public:
  enum class Mode { Bar, Lines, Json, Off };
  Progress(Mode mode, int documents_total, std::FILE* out = stderr);
  // Off when quiet, Json for JSON logs, else Bar on a terminal and Lines otherwise.
  static Mode mode_for(int fd, bool quiet, bool json_logs);

  // Least time between two redraws (default: 200 ms for the bar, 10 s for lines); finish() always draws.
  void set_interval(std::chrono::milliseconds every);

  void set_pages_total(int pages);  // grows as documents are opened
  void page_done();
  void document_done(bool ok);  // ok: not failed (an incomplete document was read)
  void finish();  // final line (bar mode: ends the line)

 private:
  void draw(bool force);

  Mode mode_;
  std::FILE* out_;
  std::chrono::milliseconds every_;
  std::mutex mutex_;
  int docs_total_;
  int docs_done_ = 0;
  int docs_failed_ = 0;
  int pages_total_ = 0;
  int pages_done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace folio::pipeline
