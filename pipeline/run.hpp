// A batch run: documents through the TBB flow graph (open -> pages -> render, clean up, tile -> answer on
// the engine thread -> assemble and write), one JSON file per document, resumable, with a run manifest.
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/inputs.hpp"
#include "pipeline/normalize.hpp"
#include "pipeline/page_model.hpp"
#include "pipeline/progress.hpp"
#include "pipeline/schema.hpp"
#include "stages/cleanup.hpp"
#include "stages/page_range.hpp"

namespace folio::pipeline {

struct RunOptions {
  std::filesystem::path out_dir;
  Schema schema;
  NormalizeOptions normalize;
  stages::PageSelection pages;  // --pages: within every document
  int max_pages = 0;            // 0: no limit
  double max_file_size_mb = 0;  // 0: no limit
  double max_image_mpixels = 64;
  int render_longest_edge = 0;  // 0: the model's size.longest_edge
  stages::CleanupOptions cleanup;
  std::string password;                                      // --password, for every PDF
  std::vector<std::pair<std::string, std::string>> passwords;  // glob on the relative path -> password
  int threads = 1;          // the core budget shared by CPU stages and the engine
  int pages_in_flight = 4;  // rendered pages alive at once
  double timeout_per_doc_s = 0;
  bool force = false;
  // Identity written into every output (and compared to decide what is current).
  std::string model_name, model_sha256, precision, prompt_style;
  std::FILE* jsonl = nullptr;                 // one line per finished document, or none
  Progress* progress = nullptr;
  const std::atomic<bool>* interrupted = nullptr;  // set by SIGINT/SIGTERM: stop taking new work
};

struct RunSummary {
  int ok = 0, incomplete = 0, failed = 0, skipped = 0;
  bool interrupted = false;
  std::vector<std::pair<std::string, std::string>> problems;  // path, what went wrong or is missing
};

// The output file of an input: OUT/<relative>.json.
std::filesystem::path output_path(const std::filesystem::path& out_dir, const InputFile& input);

// Why a document needs no work ("up to date"), or nullopt. Reads the existing output, if any, and then
// sets *page_count (when given) to the page count it records.
std::optional<std::string> current_output(const std::filesystem::path& output, const std::string& source_sha256,
                                          const RunOptions& options, int* page_count = nullptr);

RunSummary run_documents(const std::vector<InputFile>& inputs, PageModel& model, const RunOptions& options);

// --dry-run: for each input, whether it would be processed or skipped (and why), with its page count.
struct PlannedDocument {
  InputFile input;
  bool skip = false;
  std::string reason;  // skip reason, or the error that would fail it
  int pages = -1;      // to process; for a skipped one, its page count (from its output); -1 when failing
};
std::vector<PlannedDocument> plan_documents(const std::vector<InputFile>& inputs, const RunOptions& options);

}  // namespace folio::pipeline
