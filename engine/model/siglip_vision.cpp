#include "engine/model/siglip_vision.hpp"

#include <cmath>

#include "engine/kernels/attention.hpp"
#include "engine/kernels/norms.hpp"
#include "engine/kernels/scratch.hpp"
#include "engine/model/weights.hpp"

namespace folio::engine {

using kernels::Epilogue;
using kernels::Linear;

namespace {

using kernels::grown;

// Frames per encoder pass. One frame is already 729-1024 rows, more than a linear layer's row chunk, so
// larger passes gain nothing and only hold more activation memory.
constexpr int kFramesPerPass = 1;

}  // namespace

VisionEncoder::VisionEncoder(const VisionConfig& c, const WeightFiles& w, kernels::Precision p)
    : config_(c),
      attention_products_(kernels::attention_products_for(p)),
      patch_embedding_([&] {
        const std::int64_t k = 3LL * c.patch_size * c.patch_size;
        const auto weight = load_tensor(w, "model.vision_model.embeddings.patch_embedding.weight",
                                        {c.hidden_size, 3, c.patch_size, c.patch_size});
        const auto bias = load_tensor(w, "model.vision_model.embeddings.patch_embedding.bias", {c.hidden_size});
        // The patch convolution stays f32 in the int8 engine. Its rounding feeds every later layer: the
        // int8 logits' relative error on the reference cases is 2.6-2.8% with it in int8 (the gate is 3%)
        // and 2.5-2.6% in f32. It is about 0.7% of a tile's work, and a few ms of a tile in f32.
        return Linear(weight, c.hidden_size, static_cast<int>(k), bias, kernels::unquantised(p));
      }()),
      position_embedding_(load_tensor(w, "model.vision_model.embeddings.position_embedding.weight",
                                      {c.num_patches(), c.hidden_size})),
      post_ln_w_(load_tensor(w, "model.vision_model.post_layernorm.weight", {c.hidden_size})),
      post_ln_b_(load_tensor(w, "model.vision_model.post_layernorm.bias", {c.hidden_size})) {
  const std::int64_t d = c.hidden_size, i = c.intermediate_size;
  layers_ = build_layers<Layer>(c.num_layers, [&](int l, std::vector<float>& staging) {
    const std::string pre = "model.vision_model.encoder.layers." + std::to_string(l) + ".";
    auto ld = [&](const std::string& n, std::vector<std::int64_t> s) { return load_tensor(w, pre + n, std::move(s)); };
    // Each projection's weights from the thread's staging buffer, one after the other.
    auto linear = [&](const std::vector<std::string>& names, std::int64_t out, std::int64_t in) {
      std::vector<StackedPart> weights, biases;
      for (const auto& n : names) {
        weights.push_back({pre + n + ".weight", {out / static_cast<std::int64_t>(names.size()), in}});
        biases.push_back({pre + n + ".bias", {out / static_cast<std::int64_t>(names.size())}});
      }
      const std::span<const float> weight = load_stacked(w, weights, staging);
      return Linear(weight, static_cast<int>(out), static_cast<int>(in), load_stacked(w, biases), p);
    };
    Linear qkv = linear({"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, 3 * d, d);
    Linear out = linear({"self_attn.out_proj"}, d, d);
    Linear fc1 = linear({"mlp.fc1"}, i, d);
    Linear fc2 = linear({"mlp.fc2"}, d, i);
    return Layer{ld("layer_norm1.weight", {d}), ld("layer_norm1.bias", {d}), ld("layer_norm2.weight", {d}),
                 ld("layer_norm2.bias", {d}), std::move(qkv), std::move(out), std::move(fc1), std::move(fc2)};
  });
}

std::vector<float> VisionEncoder::forward(const float* pixel_values, int frames) const {
  const std::size_t np = static_cast<std::size_t>(config_.num_patches());
  const std::size_t frame_floats = 3 * static_cast<std::size_t>(config_.image_size) * config_.image_size;
  std::vector<float> out(frames * np * config_.hidden_size);
  for (int f = 0; f < frames; f += kFramesPerPass) {
    const int n = std::min(kFramesPerPass, frames - f);
    encode_frames(pixel_values + f * frame_floats, n, out.data() + f * np * config_.hidden_size);
  }
  return out;
}

void VisionEncoder::encode_frames(const float* pixels, int frames, float* x) const {
  const int T = config_.image_size, P = config_.patch_size, side = config_.patches_per_side();
  const int np = config_.num_patches(), d = config_.hidden_size;
  const int rows = frames * np, kpatch = 3 * P * P;

  // Patches flattened in (c, i, j) order, tokens row-major: the convolution as one matmul.
  // Scratch of this thread, grown once: a page allocates nothing here after its first frame.
  thread_local std::vector<float> scratch[4];
  float* const patches = grown(scratch[0], static_cast<std::size_t>(rows) * kpatch);
#pragma omp parallel for collapse(2) schedule(static)
  for (int f = 0; f < frames; ++f)
    for (int t = 0; t < np; ++t) {
      const int py = t / side, px = t % side;
      float* dst = patches + (static_cast<std::size_t>(f) * np + t) * kpatch;
      const float* frame = pixels + static_cast<std::size_t>(f) * 3 * T * T;
      for (int c = 0; c < 3; ++c)
        for (int i = 0; i < P; ++i) {
          const float* src = frame + (static_cast<std::size_t>(c) * T + py * P + i) * T + px * P;
          std::copy(src, src + P, dst + (c * P + i) * P);
        }
    }
  patch_embedding_.forward(patches, rows, x);
  for (int f = 0; f < frames; ++f)
    for (std::size_t k = 0; k < static_cast<std::size_t>(np) * d; ++k) x[f * static_cast<std::size_t>(np) * d + k] += position_embedding_[k];

  float* const a = grown(scratch[1], static_cast<std::size_t>(rows) * d);
  float* const qkv = grown(scratch[2], static_cast<std::size_t>(rows) * 3 * d);
  float* const attn = grown(scratch[3], static_cast<std::size_t>(rows) * d);
  const int hd = config_.head_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (const Layer& L : layers_) {
    kernels::layer_norm(x, rows, d, L.ln1_w.data(), L.ln1_b.data(), config_.layer_norm_eps, a);
    L.qkv.forward(a, rows, qkv);
    for (int f = 0; f < frames; ++f) {
      const float* base = qkv + static_cast<std::size_t>(f) * np * 3 * d;
      kernels::AttentionShape s{np, np, config_.num_heads, config_.num_heads, hd, 3 * d, d, 3 * d, -1};
      s.products = attention_products_;
      kernels::attention(base, base + d, base + 2 * d, s, scale, attn + static_cast<std::size_t>(f) * np * d);
    }
    L.out.forward(attn, rows, x, Epilogue{kernels::Activation::None, true});
    kernels::layer_norm(x, rows, d, L.ln2_w.data(), L.ln2_b.data(), config_.layer_norm_eps, a);
    L.fc1.forward_mlp(a, rows, L.fc2, kernels::MlpActivation::GeluTanh, x, Epilogue{kernels::Activation::None, true});
  }
  kernels::layer_norm(x, rows, d, post_ln_w_.data(), post_ln_b_.data(), config_.layer_norm_eps, x);
}

std::size_t VisionEncoder::weight_bytes() const {
  std::size_t n = patch_embedding_.weight_bytes() + (position_embedding_.size() + post_ln_w_.size() + post_ln_b_.size()) * 4;
  for (const auto& l : layers_)
    n += l.qkv.weight_bytes() + l.out.weight_bytes() + l.fc1.weight_bytes() + l.fc2.weight_bytes() +
         (l.ln1_w.size() + l.ln1_b.size() + l.ln2_w.size() + l.ln2_b.size()) * 4;
  return n;
}

}  // namespace folio::engine
