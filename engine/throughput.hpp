// How fast the engine's phases run on given weights, as `folio bench` and bench/bench_engine report it:
// one page's vision encoding, the page prompt's prefill, decode steps with 1 and with N questions in the
// batch, and the whole page for an N-field schema. Real checkpoints can be timed too, but its main use is
// generated weights with the published shapes (engine/model/random_weights.hpp).
#pragma once

#include <cstddef>

#include "engine/io/safetensors.hpp"
#include "engine/kernels/linear.hpp"
#include "engine/model/config.hpp"

namespace folio::engine {

struct ThroughputOptions {
  kernels::Precision precision = kernels::Precision::Int8;
  int threads = 0;          // OpenMP threads; 0 = OpenMP's default
  int repetitions = 3;      // min and median over these
  int page_frames = 17;     // the spec's worked example: an 850x1100 page is 4 x 4 tiles + the global image
  int questions = 10;       // fields of the schema, decoded together
  int question_tokens = 16; // tokens of one question's suffix
  int answer_tokens = 8;    // tokens of one answer, for the page time
  int decode_steps = 32;    // steps timed per decode measurement
  // Phases to time (profiling one phase alone); the page time needs all of them.
  bool vision = true, prefill = true, decode = true;
};

struct Timing {
  double min = 0;
  double median = 0;
};

struct ThroughputResult {
  kernels::Precision precision = kernels::Precision::F32;  // what the layers ran in (bf16 may run as f32)
  double load_s = 0;             // preparing the weights (reorders, quantisation)
  std::size_t weight_bytes = 0;  // every prepared weight the engine holds
  std::size_t decode_bytes = 0;  // the linear weights one decode step reads (lm_head included)
  int page_frames = 0;
  Timing vision_s;               // one page: every frame through the encoder and the connector
  double vision_gop = 0;         // matmul work of that (linear layers and attention), 1e9 ops
  int prefill_tokens = 0;
  Timing prefill_s;              // the page prompt through the decoder
  double prefill_gop = 0;
  Timing decode_step_1_s;        // one decode step, one question
  Timing decode_step_n_s;        // one decode step, `questions` questions
  int questions = 0;
  double page_s = 0;             // vision + prefix + question suffixes + answer_tokens batched steps
};

ThroughputResult measure_throughput(const ModelConfig& config, const WeightFiles& weights, const ThroughputOptions& options);

}  // namespace folio::engine
