// The Llama / SmolLM2 decoder of SmolVLM (spec section 7): RMSNorm, half-split RoPE, grouped-query
// causal attention over a KV cache, SiLU-gated MLP, final norm and lm_head.
#pragma once

#include <span>
#include <vector>

#include "engine/io/safetensors.hpp"
#include "engine/kernels/attention.hpp"
#include "engine/kernels/linear.hpp"
#include "engine/model/config.hpp"
#include "engine/model/kv_cache.hpp"

namespace folio::engine {

class TextDecoder {
 public:
  TextDecoder(const TextConfig& config, const WeightFiles& weights, kernels::Precision precision);

  // Token embeddings [ids.size(), hidden].
  std::vector<float> embed(const std::vector<int>& ids) const;
  // Runs x [rows, hidden] at positions cache.length.. through every layer, appending to the cache;
  // x becomes the last layer's output (before the final norm). Optional: the hidden state of the last
  // row after each layer (for tests).
  void forward(std::vector<float>& x, int rows, KvCache& cache, std::vector<std::vector<float>>* last_row_per_layer = nullptr) const;
  // Rows that are not one contiguous run: several questions sharing a page prefix in one cache, each
  // with its own tail. Row r has position positions[r], is stored at cache row slots[r] and sees
  // ranges[r]. cache.length is not changed (the caller owns the layout).
  struct Placement {
    std::vector<int> positions, slots;
    std::vector<kernels::KeyRanges> ranges;
  };
  void forward(std::vector<float>& x, const Placement& placement, KvCache& cache) const;
  // Greedy decoding of `rows` rows of hidden state: final norm, then each row's best token among those not
  // `excluded` (sorted) and its log-probability (Linear::greedy: in int8, lm_head's two planes for about
  // the products of one).
  void greedy(const float* hidden, int rows, std::span<const int> excluded, int* token, float* logprob) const;
  // Final norm + lm_head of one row of hidden state.
  std::vector<float> logits(const float* hidden_row, std::vector<float>* normed = nullptr) const;

  // A cache of `capacity` rows; rows from tails_from on hold questions' tails (Placement slots: K kept
  // token-major there), the rows before it a prompt (forward with contiguous rows). Negative: no tails.
  KvCache new_cache(int capacity, int tails_from = -1) const;
  const TextConfig& config() const { return config_; }
  std::size_t weight_bytes() const;  // prepared weights held (linears as packed, the rest f32)
  std::size_t decode_bytes() const;  // weights one decode step reads: every linear, lm_head included

 private:
  struct Layer {
    std::vector<float> in_norm, post_norm;
    kernels::Linear qkv, o, gate_up, down;  // fused q|k|v and gate|up projections
  };
  void run_layers(std::vector<float>& x, int rows, KvCache& cache, const Placement* placement, int start,
                  std::vector<std::vector<float>>* last_rows) const;
  TextConfig config_;
  kernels::AttentionProducts attention_products_ = kernels::AttentionProducts::F32;
  // The token embeddings: f32 for the reference engine; bf16 for the int8 and bf16 engines (half the
  // memory of the largest tensor, far below their own rounding error).
  std::vector<float> embed_f32_;
  std::vector<std::uint16_t> embed_bf16_;
  std::vector<Layer> layers_;
  std::vector<float> norm_;
  kernels::Linear lm_head_;
  std::vector<float> inv_freq_;
};

}  // namespace folio::engine
