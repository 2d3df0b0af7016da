// How fast the engine's three phases run on given weights: the vision encoder per tile, prefill tokens
// per second and decode tokens per second. bench/bench_engine and `folio bench` both report it; real
// checkpoints can be timed too, but its main use is generated weights of the published shapes.
#pragma once

#include <cstddef>

#include "engine/io/safetensors.hpp"
#include "engine/kernels/linear.hpp"
#include "engine/model/config.hpp"

namespace folio::engine {

struct ThroughputOptions {
  kernels::Precision precision = kernels::Precision::F32;
  int threads = 0;            // OpenMP threads; 0 = OpenMP's default
  int vision_frames = 4;      // frames per timed vision pass (the encoder's batch)
  int prompt_tokens = 0;      // 0: a full page, 4 x 4 tiles + global image + a question
  int decode_tokens = 32;
  int repetitions = 3;        // medians over these
};

struct ThroughputResult {
  double load_s = 0;                 // preparing the weights (reorders, quantisation)
  std::size_t weight_bytes = 0;      // every prepared weight the engine holds
  std::size_t decode_bytes = 0;      // the linear weights one decode step reads (lm_head included)
  double vision_ms_per_tile = 0;
  double connector_ms_per_tile = 0;
  int prefill_tokens = 0;
  double prefill_tokens_per_s = 0;
  double decode_ms_per_token = 0;
  double decode_tokens_per_s = 0;
  double page_s = 0;                 // a 4 x 4 page, one 8-token answer: vision + prefill + decode
};

ThroughputResult measure_throughput(const ModelConfig& config, const WeightFiles& weights, const ThroughputOptions& options);

}  // namespace folio::engine
