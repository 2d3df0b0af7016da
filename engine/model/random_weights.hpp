// Random BF16 weights with every tensor and shape a config implies, generated in memory: the engine can
// then be timed at the real checkpoints' sizes on machines that cannot download them.
#pragma once

#include <cstdint>

#include "engine/io/safetensors.hpp"
#include "engine/model/config.hpp"

namespace folio::engine {

// Linear weights uniform with std 0.02 (as HF initialises), norm weights 1, biases 0: the activations
// stay in a realistic range through every layer, so the timing is that of real data.
WeightFiles random_weights(const ModelConfig& config, std::uint64_t seed = 1);

}  // namespace folio::engine
