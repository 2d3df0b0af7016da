// A checkpoint folder with random weights and the exact shapes of a published SmolVLM, written to disk
// the way the publisher's folders are laid out (config files, a byte-level tokenizer with SmolVLM's
// special tokens at their real ids, the chat template, BF16 model.safetensors). Benchmarks then time the
// real loading path, and can run `folio ask` on it, on machines that cannot download real weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "engine/model/config.hpp"
#include "engine/model/shapes.hpp"

namespace folio::engine {

// `shape`: a name of published_shape() ("smolvlm-256m", ...). Weights: uniform with std 0.02 as HF
// initialises linear layers, norm weights 1, biases 0, so activations stay in a realistic range.
void write_random_checkpoint(const std::filesystem::path& dir, std::string_view shape, std::uint64_t seed = 1);

// The same for any geometry of the family, so tests can prove nothing of one checkpoint is hard-coded.
// config.text.tie_word_embeddings true writes no lm_head.weight (the decoder then reads embed_tokens).
// The tokenizer puts SmolVLM's 128 added tokens around config.image_token_id, so it must be at least 297
// (above the 259 byte-level and special ids) and vocab_size at least image_token_id + 90; throws
// folio::Error (Usage) otherwise.
void write_random_checkpoint(const std::filesystem::path& dir, const ModelConfig& config, const TileGeometry& tiles,
                             std::uint64_t seed = 1);

}  // namespace folio::engine
