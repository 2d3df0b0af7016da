// A checkpoint folder with random weights and the exact shapes of a published SmolVLM, written to disk
// the way the publisher's folders are laid out (config files, a byte-level tokenizer with SmolVLM's
// special tokens at their real ids, the chat template, BF16 model.safetensors). Benchmarks then time the
// real loading path, and can run `folio ask` on it, on machines that cannot download real weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace folio::engine {

// `shape`: a name of published_shape() ("smolvlm-256m", ...). Weights: uniform with std 0.02 as HF
// initialises linear layers, norm weights 1, biases 0, so activations stay in a realistic range.
void write_random_checkpoint(const std::filesystem::path& dir, std::string_view shape, std::uint64_t seed = 1);

}  // namespace folio::engine
