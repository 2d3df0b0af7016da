// What the engine will hold for a checkpoint at one precision, from its config alone: the weights as the
// layers keep them (engine/model/*.cpp), the KV cache for a context length, and the activations of one
// page. `folio inspect` prints it; tests check the weights against what loaded layers report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/kernels/linear.hpp"
#include "engine/model/config.hpp"

namespace folio::engine {

struct MemoryPart {
  std::string name;  // stable key for --json
  std::string what;  // plain words for people
  std::uint64_t bytes = 0;
};

struct MemoryEstimate {
  kernels::Precision precision = kernels::Precision::F32;
  std::vector<MemoryPart> weights;      // linear weights, int8 scales and column sums, biases, embeddings, norms
  MemoryPart kv_cache;                  // f32 keys and values of every layer for context_tokens positions
  MemoryPart activations;               // the largest buffers alive at once while one page is encoded and prefilled
  std::uint64_t weight_bytes() const;
  std::uint64_t total_bytes() const;    // weights + KV cache + activations
};

struct MemoryShape {
  int context_tokens = 0;  // KV cache positions (folio inspect: max_position_embeddings unless --context)
  int page_frames = 0;     // frames of the largest page (rows x cols tiles + the global image)
  int prompt_tokens = 0;   // that page's prompt
};

MemoryEstimate estimate_memory(const ModelConfig& config, kernels::Precision precision, const MemoryShape& shape);

}  // namespace folio::engine
