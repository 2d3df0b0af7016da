#include "engine/model/smollm_text.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "common/error.hpp"
#include "engine/kernels/activations.hpp"
#include "engine/kernels/attention.hpp"
#include "engine/kernels/norms.hpp"
#include "engine/kernels/rope.hpp"
#include "engine/kernels/vector_math.hpp"
#include "engine/model/weights.hpp"

namespace folio::engine {

using kernels::Epilogue;
using kernels::Linear;

namespace {

// The prefix every row of a placement shares (0 if they differ): the page prefix of its questions.
int shared_prefix(const TextDecoder::Placement& p) {
  if (p.ranges.empty()) return 0;
  for (const auto& r : p.ranges)
    if (r.prefix != p.ranges.front().prefix) return 0;
  return p.ranges.front().prefix;
}

// The decoder's layers take 16-bit activations in int8 (two u8 planes; see linear_int8.cpp), except that
// q|k|v and o give the second plane only to tokens with outlier channels (Int8Input::Adaptive). Measured on
// realisations of the reference checkpoint (its tensors shuffled; docs/engine.md "Accuracy"): one plane for
// gate|up too saved a quarter of a prefill's matmul work but put 16% of 180 cases over the 3% logits gate,
// against 7% with two; q|k|v's plane made no difference; o's one plane moved the mean error of 120 cases
// from 2.26% to 2.34% (6 -> 7 over 3%, greedy agreement unchanged) for 4% of a prefill; down at one plane
// costs far more (SiLU(gate)·up is heavy-tailed).
constexpr auto kTwoPlanes = kernels::Int8Input::TwoPlanes;
constexpr auto kAdaptive = kernels::Int8Input::Adaptive;

Linear lm_head_of(const TextConfig& c, const WeightFiles& w, kernels::Precision p) {
  const std::vector<std::int64_t> shape{c.vocab_size, c.hidden_size};
  // An absent or tied lm_head is the embedding matrix (spec section 1).
  const bool own = !c.tie_word_embeddings && w.find("lm_head.weight");
  return Linear(load_tensor(w, own ? "lm_head.weight" : "model.text_model.embed_tokens.weight", shape), c.vocab_size,
                c.hidden_size, {}, p, kernels::Int8Input::TwoPlanes);
}

}  // namespace

TextDecoder::TextDecoder(const TextConfig& c, const WeightFiles& w, kernels::Precision p)
    : config_(c),
      attention_products_(kernels::attention_products_for(p)),

      norm_(load_tensor(w, "model.text_model.norm.weight", {c.hidden_size})),
      lm_head_(lm_head_of(c, w, p)),
      inv_freq_(kernels::rope_inv_freq(c.head_dim, c.rope_theta)) {
  {
    auto e = load_tensor(w, "model.text_model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    if (p == kernels::Precision::F32) {
      embed_f32_ = std::move(e);
    } else {
      embed_bf16_.resize(e.size());
      for (std::size_t i = 0; i < e.size(); ++i) embed_bf16_[i] = kernels::bf16_of(e[i]);
    }
  }
  const std::int64_t d = c.hidden_size, it = c.intermediate_size, q = static_cast<std::int64_t>(c.num_heads) * c.head_dim,
                     kv = static_cast<std::int64_t>(c.num_kv_heads) * c.head_dim;
  layers_ = build_layers<Layer>(c.num_layers, [&](int l, std::vector<float>& staging) {
    const std::string pre = "model.text_model.layers." + std::to_string(l) + ".";
    // Each projection from the thread's staging buffer, one after the other.
    auto linear = [&](std::vector<StackedPart> parts, std::int64_t out, std::int64_t in, kernels::Int8Input input) {
      for (auto& part : parts) part.name = pre + part.name;
      return Linear(load_stacked(w, parts, staging), static_cast<int>(out), static_cast<int>(in), {}, p, input);
    };
    Linear qkv = linear({{"self_attn.q_proj.weight", {q, d}}, {"self_attn.k_proj.weight", {kv, d}},
                         {"self_attn.v_proj.weight", {kv, d}}},
                        q + 2 * kv, d, kAdaptive);
    Linear o = linear({{"self_attn.o_proj.weight", {d, q}}}, d, q, kAdaptive);
    Linear gate_up = linear({{"mlp.gate_proj.weight", {it, d}}, {"mlp.up_proj.weight", {it, d}}}, 2 * it, d, kTwoPlanes);
    Linear down = linear({{"mlp.down_proj.weight", {d, it}}}, d, it, kTwoPlanes);
    return Layer{load_tensor(w, pre + "input_layernorm.weight", {d}), load_tensor(w, pre + "post_attention_layernorm.weight", {d}),
                 std::move(qkv), std::move(o), std::move(gate_up), std::move(down)};
  });
}

KvCache TextDecoder::new_cache(int capacity, int tails_from) const {
  // The int8 engine reads its question tails in bf16 (kernels::TokenMajorTails).
  return KvCache(config_.num_layers, capacity, config_.num_kv_heads * config_.head_dim, tails_from,
                 attention_products_ == kernels::AttentionProducts::Int8);
}

std::vector<float> TextDecoder::embed(const std::vector<int>& ids) const {
  const std::size_t d = config_.hidden_size;
  std::vector<float> x(ids.size() * d);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= config_.vocab_size)
      throw Error(ErrorKind::Input, "token id " + std::to_string(ids[i]) + " is outside the vocabulary");
    if (!embed_f32_.empty()) {
      std::copy_n(embed_f32_.data() + ids[i] * d, d, x.data() + i * d);
    } else {
      const std::uint16_t* row = embed_bf16_.data() + ids[i] * d;
      for (std::size_t k = 0; k < d; ++k) x[i * d + k] = std::bit_cast<float>(static_cast<std::uint32_t>(row[k]) << 16);
    }
  }
  return x;
}

void TextDecoder::forward(std::vector<float>& x, int rows, KvCache& cache,
                          std::vector<std::vector<float>>* last_rows) const {
  const int start = cache.length;
  if (start + rows > cache.tails_from)
    throw Error(ErrorKind::Input, "the prompt and answer need " + std::to_string(start + rows) +
                                      " positions, more than the " + std::to_string(cache.tails_from) + " available");
  cache.unpack();
  run_layers(x, rows, cache, nullptr, start, last_rows);
  cache.length = start + rows;
}

void TextDecoder::forward(std::vector<float>& x, const Placement& p, KvCache& cache) const {
  const int rows = static_cast<int>(p.positions.size());
  if (p.slots.size() != p.positions.size() || p.ranges.size() != p.positions.size())
    throw Error(ErrorKind::Internal, "placement rows disagree");
  for (int r = 0; r < rows; ++r) {
    const kernels::KeyRanges& kr = p.ranges[r];
    if (p.slots[r] < 0 || p.slots[r] >= cache.capacity || kr.tail_begin + kr.tail > cache.capacity ||
        p.positions[r] >= config_.max_position_embeddings)
      throw Error(ErrorKind::Input, "a question's tokens do not fit the cache or the model's positions");
    // The prefix is read from the prompt's rows, a tail from one kind of rows (kv_cache.hpp).
    if (kr.prefix > cache.tails_from || (kr.tail_begin < cache.tails_from && kr.tail_begin + kr.tail > cache.tails_from))
      throw Error(ErrorKind::Internal, "a question's keys straddle the cache's prompt and tail rows");
  }
  // A row written inside a packed prefix would leave the packed copy stale.
  for (int r = 0; r < rows; ++r)
    if (p.slots[r] < cache.packed_prefix.front().keys) cache.unpack();
  run_layers(x, rows, cache, &p, 0, nullptr);
}

void TextDecoder::run_layers(std::vector<float>& x, int rows, KvCache& cache, const Placement* placement, int start,
                             std::vector<std::vector<float>>* last_rows) const {
  const int d = config_.hidden_size, hd = config_.head_dim, H = config_.num_heads, Hkv = config_.num_kv_heads;
  const int q_width = H * hd, kv_width = Hkv * hd, qkv_width = q_width + 2 * kv_width;
  // Per-thread scratch that only grows: a decode step allocates nothing here. Bound to references on
  // this thread, since OpenMP workers below would otherwise see their own (empty) thread_locals.
  thread_local std::vector<float> scratch[3];
  std::vector<float>&a = scratch[0], &qkv = scratch[1], &attn = scratch[2];
  a.resize(static_cast<std::size_t>(rows) * d);
  qkv.resize(static_cast<std::size_t>(rows) * qkv_width);
  attn.resize(static_cast<std::size_t>(rows) * q_width);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  if (last_rows) last_rows->assign(1, std::vector<float>(x.end() - d, x.end()));
  std::vector<int> positions;
  if (!placement) {
    positions.resize(rows);
    for (int r = 0; r < rows; ++r) positions[r] = start + r;
  }
  const int* pos = placement ? placement->positions.data() : positions.data();
  const kernels::RopeAngles angles = kernels::rope_angles(pos, rows, inv_freq_);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    kernels::rms_norm(x.data(), rows, d, L.in_norm.data(), config_.rms_norm_eps, a.data());
    L.qkv.forward(a.data(), rows, qkv.data());
    kernels::apply_rope(qkv.data(), qkv_width, H + Hkv, angles);  // Q's heads, then K's right after them
    kernels::AttentionShape s{rows, start + rows, H, Hkv, hd, qkv_width, q_width, kv_width, start};
    s.products = attention_products_;
    s.k_token_stride = 1;  // the cache keeps K dimension-major
    s.k_dim_stride = cache.tails_from;
    if (placement) {
      cache.store(static_cast<int>(l), qkv.data() + q_width, qkv_width, rows, placement->slots.data());
      // Rows sharing the page prefix read it from its packed copy, packed at the first step that needs it.
      kernels::PackedKv& packed = cache.packed_prefix[l];
      const int prefix = shared_prefix(*placement);
      if (prefix > 0 && packed.keys != prefix) {
        kernels::AttentionShape ps = s;
        ps.keys = prefix;
        kernels::pack_kv(cache.k[l].data(), cache.v[l].data(), ps, packed);
      }
      kernels::attention_ranges(qkv.data(), cache.k[l].data(), cache.v[l].data(), s, placement->ranges.data(), scale,
                                attn.data(), prefix > 0 ? &packed : nullptr, cache.tails(static_cast<int>(l)));
    } else {
      cache.store(static_cast<int>(l), qkv.data() + q_width, qkv_width, rows, start);
      kernels::attention(qkv.data(), cache.k[l].data(), cache.v[l].data(), s, scale, attn.data());
    }
    L.o.forward(attn.data(), rows, x.data(), Epilogue{kernels::Activation::None, true});
    kernels::rms_norm(x.data(), rows, d, L.post_norm.data(), config_.rms_norm_eps, a.data());
    L.gate_up.forward_mlp(a.data(), rows, L.down, kernels::MlpActivation::SiluGate, x.data(),
                          Epilogue{kernels::Activation::None, true});
    if (last_rows) last_rows->emplace_back(x.end() - d, x.end());
  }
}

void TextDecoder::greedy(const float* hidden, int rows, std::span<const int> excluded, int* token, float* logprob) const {
  const int d = config_.hidden_size;
  thread_local std::vector<float> normed;
  normed.resize(static_cast<std::size_t>(rows) * d);
  kernels::rms_norm(hidden, rows, d, norm_.data(), config_.rms_norm_eps, normed.data());
  lm_head_.greedy(normed.data(), rows, excluded, token, logprob);
}

std::vector<float> TextDecoder::logits(const float* row, std::vector<float>* normed) const {
  std::vector<float> n(config_.hidden_size);
  kernels::rms_norm(row, 1, config_.hidden_size, norm_.data(), config_.rms_norm_eps, n.data());
  std::vector<float> out(config_.vocab_size);
  lm_head_.forward(n.data(), 1, out.data());
  if (normed) *normed = n;
  return out;
}

std::size_t TextDecoder::decode_bytes() const {
  std::size_t n = lm_head_.weight_bytes();
  for (const auto& l : layers_) n += l.qkv.weight_bytes() + l.o.weight_bytes() + l.gate_up.weight_bytes() + l.down.weight_bytes();
  return n;
}

std::size_t TextDecoder::weight_bytes() const {
  std::size_t n = decode_bytes() + embed_f32_.size() * 4 + embed_bf16_.size() * 2 + norm_.size() * 4;
  for (const auto& l : layers_) n += (l.in_norm.size() + l.post_norm.size()) * 4;
  return n;
}

}  // namespace folio::engine
