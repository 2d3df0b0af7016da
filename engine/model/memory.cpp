#include "engine/model/memory.hpp"

#include <algorithm>

namespace folio::engine {
namespace {

using U = std::uint64_t;

struct LinearShape {
  U out, in;
  bool bias;
  bool f32_in_int8 = false;  // kept f32 by the int8 engine (siglip_vision.cpp, connector.cpp)
};

// Every linear layer the engine builds, fused as it fuses them (q|k|v, gate|up), lm_head included (an
// untied or tied lm_head is its own prepared copy either way).
std::vector<LinearShape> linears(const ModelConfig& c) {
  const auto& v = c.vision;
  const auto& t = c.text;
  const U dv = v.hidden_size, iv = v.intermediate_size, dt = t.hidden_size, it = t.intermediate_size,
          q = U(t.num_heads) * t.head_dim, kv = U(t.num_kv_heads) * t.head_dim;
  std::vector<LinearShape> out{{dv, 3 * U(v.patch_size) * v.patch_size, true, true}};
  for (int l = 0; l < v.num_layers; ++l)
    out.insert(out.end(), {{3 * dv, dv, true}, {dv, dv, true}, {iv, dv, true}, {dv, iv, true}});
  out.push_back({dt, U(c.connector_in()), false, true});
  for (int l = 0; l < t.num_layers; ++l) out.insert(out.end(), {{q + 2 * kv, dt, false}, {dt, q, false}, {2 * it, dt, false}, {dt, it, false}});
  out.push_back({U(t.vocab_size), dt, false});
  return out;
}

}  // namespace

std::uint64_t MemoryEstimate::weight_bytes() const {
  U n = 0;
  for (const auto& p : weights) n += p.bytes;
  return n;
}

std::uint64_t MemoryEstimate::total_bytes() const { return weight_bytes() + kv_cache.bytes + activations.bytes; }

MemoryEstimate estimate_memory(const ModelConfig& c, kernels::Precision p, const MemoryShape& s) {
  using kernels::Precision;
  const auto& v = c.vision;
  const auto& t = c.text;
  const bool int8 = p == Precision::Int8;
  const U esize = p == Precision::F32 ? 4 : p == Precision::BF16 ? 2 : 1;
  // The int8 engine keeps the patch convolution and the connector in f32.
  U lin = 0, channels = 0, biased = 0, f32_lin = 0, f32_biased = 0;
  for (const LinearShape& l : linears(c)) {
    if (int8 && l.f32_in_int8) {
      f32_lin += l.out * l.in;
      if (l.bias) f32_biased += l.out;
      continue;
    }
    lin += l.out * l.in;
    channels += l.out;
    if (l.bias) biased += l.out;
  }
  MemoryEstimate m;
  m.precision = p;
  const char* lin_what = int8 ? "linear weights, int8" : p == Precision::BF16 ? "linear weights, bf16" : "linear weights, f32";
  m.weights.push_back({"linear_weights", lin_what, lin * esize});
  if (int8) m.weights.push_back({"f32_linear_weights", "patch embedding and connector, f32", f32_lin * 4});
  // int8: an f32 scale and an f32 column sum (the zero-point compensation) per output channel.
  if (int8) m.weights.push_back({"int8_scales_and_column_sums", "int8 per-channel scales and column sums", channels * 8});
  // The int8 layers keep an f32 bias for every output channel (zeros where the checkpoint has none).
  m.weights.push_back({"biases", "biases, f32", (int8 ? channels + f32_biased : biased) * 4});
  // bf16 token embeddings for the int8 and bf16 engines (smollm_text.hpp), f32 for the reference one.
  const U embed = U(t.vocab_size) * t.hidden_size;
  m.weights.push_back({"token_embeddings", p == Precision::F32 ? "token embeddings, f32" : "token embeddings, bf16",
                       embed * (p == Precision::F32 ? 4 : 2)});
  m.weights.push_back({"position_embeddings", "vision position embeddings, f32", U(v.num_patches()) * v.hidden_size * 4});
  const U norms = U(v.num_layers) * 4 * v.hidden_size + 2 * U(v.hidden_size) + U(t.num_layers) * 2 * t.hidden_size + t.hidden_size;
  m.weights.push_back({"norms", "layer and RMS norms, f32", norms * 4});

  const U kv_width = U(t.num_kv_heads) * t.head_dim;
  m.kv_cache = {"kv_cache", "KV cache, f32, " + std::to_string(s.context_tokens) + " positions",
                U(t.num_layers) * 2 * kv_width * U(s.context_tokens) * 4};

  // One page, f32 buffers: the pixel values and the vision output of every frame stay alive; the
  // vision pass (4 frames at a time, siglip_vision.cpp) and, later, the connector output and the
  // decoder's prefill buffers (text_model scratch, embeddings, hidden state) come and go. The attention
  // kernels' own blocks of scores are small next to these and not counted.
  const U F = U(s.page_frames), np = U(v.num_patches()), dv = v.hidden_size, T = v.image_size, P = U(s.prompt_tokens),
          dt = t.hidden_size, q = U(t.num_heads) * t.head_dim, it = t.intermediate_size;
  const U pass_rows = std::min<U>(4, F) * np;
  // An MLP's wide hidden rows exist in f32 only outside int8, whose first layer quantises them straight
  // into the second's input (Linear::forward_mlp).
  const U vision_mlp = int8 ? 0 : U(v.intermediate_size), text_mlp = int8 ? 0 : 2 * it + it;
  const U vision_pass = pass_rows * std::max<U>(3 * U(v.patch_size) * v.patch_size, dv + 3 * dv + dv + vision_mlp);
  const U prefill = F * U(c.tokens_per_tile()) * dt + P * (3 * dt + (q + 2 * kv_width) + q + text_mlp) + U(t.vocab_size);
  const U page = F * 3 * T * T + F * np * dv + std::max(vision_pass, prefill);
  m.activations = {"page_activations",
                   "activations of one page, f32 (" + std::to_string(s.page_frames) + " frames, " +
                       std::to_string(s.prompt_tokens) + " prompt tokens)",
                   page * 4};
  return m;
}

}  // namespace folio::engine
