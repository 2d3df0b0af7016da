// The engine's phases on a generated checkpoint with a published model's shapes, without the machine
// limits and memory run of `folio bench` (quicker, for comparing kernels). Usage:
//   bench_engine [--shape smolvlm-256m] [--precision int8|bf16|fp32] [--threads N] [--repetitions R]
//                [--frames F] [--questions N] [--question-tokens T] [--steps S]
//                [--only vision|prefill|decode]
#include <cstdio>
#include <filesystem>
#include <string>

#include "common/error.hpp"
#include "engine/engine.hpp"
#include "engine/model/random_checkpoint.hpp"
#include "engine/throughput.hpp"

int main(int argc, char** argv) try {
  std::string shape = "smolvlm-256m", precision = "int8";
  folio::engine::ThroughputOptions o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--shape") shape = v;
    else if (k == "--precision") precision = v;
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--repetitions") o.repetitions = std::stoi(v);
    else if (k == "--frames") o.page_frames = std::stoi(v);
    else if (k == "--questions") o.questions = std::stoi(v);  // decoded together (1: profile one question alone)
    else if (k == "--question-tokens") o.question_tokens = std::stoi(v);  // each question's suffix
    else if (k == "--steps") o.decode_steps = std::stoi(v);               // decode steps timed
    else if (k == "--only") {  // vision | prefill | decode: time one phase alone (for profiling)
      o.vision = v == "vision";
      o.prefill = v == "prefill";
      o.decode = v == "decode";
    }
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  o.precision = folio::engine::parse_precision(precision);
  const auto dir = std::filesystem::temp_directory_path() / ("folio-bench-engine-" + shape);
  folio::engine::write_random_checkpoint(dir, shape);
  const auto config = folio::engine::load_model_config(dir / "config.json");
  const auto r = folio::engine::measure_throughput(config, folio::engine::WeightFiles::open(dir), o);
  std::filesystem::remove_all(dir);
  std::printf("bench_engine: %s shapes, random weights, %s\n", shape.c_str(), precision.c_str());
  std::printf("  load     %.2f s, %.0f MB held, %.0f MB read per decode step\n", r.load_s, r.weight_bytes / 1e6,
              r.decode_bytes / 1e6);
  std::printf("  vision   %.0f ms per %d-frame page (%.0f ms per tile)\n", r.vision_s.median * 1e3, r.page_frames,
              r.vision_s.median * 1e3 / r.page_frames);
  std::printf("  prefill  %.0f tokens/s (%d tokens)\n", r.prefill_tokens / r.prefill_s.median, r.prefill_tokens);
  std::printf("  decode   %.1f tokens/s with 1 question, %.1f with %d\n", 1 / r.decode_step_1_s.median,
              r.questions / r.decode_step_n_s.median, r.questions);
  std::printf("  page     %.1f s for a %d-field schema\n", r.page_s, r.questions);
  return 0;
} catch (const folio::Error& e) {
  std::fprintf(stderr, "bench_engine: %s\n", e.what());
  return 2;
}
