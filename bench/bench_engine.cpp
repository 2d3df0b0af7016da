// The engine's speed on generated weights with a published checkpoint's shapes: vision ms per tile,
// prefill and decode tokens per second. Usage:
//   bench_engine [--shape smolvlm-256m] [--precision fp32|bf16|int8] [--threads N] [--frames F]
//                [--prompt-tokens L] [--decode-tokens D] [--repetitions R]
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "engine/engine.hpp"
#include "engine/model/random_weights.hpp"
#include "engine/model/shapes.hpp"
#include "engine/throughput.hpp"

int main(int argc, char** argv) try {
  std::string shape = "smolvlm-256m", precision = "fp32";
  folio::engine::ThroughputOptions o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--shape") shape = v;
    else if (k == "--precision") precision = v;
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--frames") o.vision_frames = std::stoi(v);
    else if (k == "--prompt-tokens") o.prompt_tokens = std::stoi(v);
    else if (k == "--decode-tokens") o.decode_tokens = std::stoi(v);
    else if (k == "--repetitions") o.repetitions = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  o.precision = folio::engine::parse_precision(precision);
  const auto config = folio::engine::published_shape(shape);
  const auto weights = folio::engine::random_weights(config);
  const auto r = folio::engine::measure_throughput(config, weights, o);
  std::printf("bench_engine: %s shapes, random weights, %s, %d threads\n", shape.c_str(), precision.c_str(),
              o.threads > 0 ? o.threads : 0);
  std::printf("  load (prepare weights)  %.2f s, %.0f MB held, %.0f MB read per decode step\n", r.load_s,
              r.weight_bytes / 1e6, r.decode_bytes / 1e6);
  std::printf("  vision                  %.1f ms per tile (%d frames a pass)\n", r.vision_ms_per_tile, o.vision_frames);
  std::printf("  connector               %.2f ms per tile\n", r.connector_ms_per_tile);
  std::printf("  prefill                 %.1f tokens/s (%d tokens)\n", r.prefill_tokens_per_s, r.prefill_tokens);
  std::printf("  decode                  %.1f tokens/s (%.2f ms per token)\n", r.decode_tokens_per_s, r.decode_ms_per_token);
  std::printf("  a 4x4-tile page, one 8-token answer: %.1f s\n", r.page_s);
  return 0;
} catch (const folio::Error& e) {
  std::fprintf(stderr, "bench_engine: %s\n", e.what());
  return 2;
}
