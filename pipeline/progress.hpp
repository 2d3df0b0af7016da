// Progress of a run on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise,
// nothing when quiet. stdout is never touched (it carries --jsonl data).
#pragma once

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace folio::pipeline {

class Progress {
 public:
  enum class Mode { Bar, Lines, Off };
  Progress(Mode mode, int documents_total, std::FILE* out = stderr);
  static Mode mode_for_stderr(bool quiet);

  void set_pages_total(int pages);  // grows as documents are opened
  void page_done();
  void document_done(bool ok);
  void finish();  // final line (bar mode: ends the line)

 private:
  void draw(bool force);

  Mode mode_;
  std::FILE* out_;
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
