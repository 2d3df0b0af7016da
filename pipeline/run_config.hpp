// Settings of a `folio run`: the config file (configs/default.yaml format) and the flags that override it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace folio::pipeline {

struct RunConfig {
  std::filesystem::path model = "models/SmolVLM-256M-Instruct";
  std::string precision = "int8";     // int8 | bf16 | fp32
  int threads = 0;                    // 0: every core of the machine
  std::string prompt_style = "chat";  // chat | docvqa
  int max_new_tokens = 64;
  int pages_in_flight = 4;            // rendered pages alive at once (memory bound)
  double timeout_per_doc_s = 0;       // 0: no deadline
  // Limits (0: none)
  int max_pages = 0;
  double max_file_size_mb = 0;
  double max_image_mpixels = 64;
  // Rendering and clean-up
  int render_longest_edge = 0;  // 0: the model's size.longest_edge
  bool deskew = false;
  bool orient = false;
  bool normalize_background = false;
  std::string date_order = "dmy";  // dmy | mdy | ymd
  // PDF passwords: glob on the input's relative path -> password (first match wins), then the --password flag.
  std::vector<std::pair<std::string, std::string>> passwords;
};

// Reads a YAML config over the defaults. Unknown keys and bad values are folio::Error (Usage) with the
// file and line number.
RunConfig load_run_config(const std::filesystem::path& path, RunConfig base = {});

// The cores this process may use (sched_getaffinity), for threads = 0.
int available_cores();

}  // namespace folio::pipeline
