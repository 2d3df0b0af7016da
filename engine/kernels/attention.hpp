// Scaled dot-product attention over row-major [tokens, heads * head_dim] matrices, with grouped-query
// heads (query head h reads kv head h / (heads / kv_heads)) and an optional causal mask.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/linear.hpp"

namespace folio::engine::kernels {

// Precision of the matrix products of long query runs (softmax always in float32): the fp32 reference
// engine keeps F32; see attention_blocks.cpp for the others.
enum class AttentionProducts { F32, Bf16, Int8 };

// Each engine precision runs its attention products at the same precision as its linear layers.
inline AttentionProducts attention_products_for(Precision p) {
  return p == Precision::Int8 ? AttentionProducts::Int8 : (p == Precision::BF16 ? AttentionProducts::Bf16 : AttentionProducts::F32);
}

struct AttentionShape {
  int queries = 0;      // rows of q
  int keys = 0;         // rows of k and v
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int q_stride = 0;     // floats between consecutive rows of q
  int out_stride = 0;   // floats between consecutive rows of out
  int kv_stride = 0;    // floats between consecutive rows of v (and of k, unless k_token_stride is set)
  int key_stride() const { return k_token_stride ? k_token_stride : kv_stride; }
  // Causal: query i may see keys [0, first_query_position + i]. Negative: bidirectional.
  int first_query_position = -1;
  // K may also be stored transposed (dimension-major, as the decoder's cache keeps it, so that the scores
  // of many keys are one vectorised loop): element (key j, kv head g, dim t) is at
  // k[j * k_token_stride + (g * head_dim + t) * k_dim_stride]. 0 / 1: token-major with kv_stride.
  int k_token_stride = 0;
  int k_dim_stride = 1;
  AttentionProducts products = AttentionProducts::F32;
};

// out[i, h] = softmax(q[i, h] . k[:, g]^T * scale) v[:, g]; softmax in float32 with max subtraction.
void attention(const float* q, const float* k, const float* v, const AttentionShape& shape, float scale, float* out);

// The keys one query row sees when several sequences share a prompt prefix in one cache: the shared
// [0, prefix) and the row's own [tail_begin, tail_begin + tail).
struct KeyRanges {
  int prefix = 0;
  int tail_begin = 0;
  int tail = 0;
};

// K and V of keys [0, keys) packed in one precision of the products, per kv head and key-major, keys padded
// with zeros to a multiple of 128: what the products of long query runs read, and what a page's shared
// prompt prefix is packed into once, for the many decode steps of its questions that read it again.
// Int8: K per key (scale and sum of the quantised values), V per channel.
struct PackedKv {
  AttentionProducts products = AttentionProducts::F32;
  int kv_heads = 0, keys = 0, padded = 0, hd = 0;
  std::vector<float> kf, vf;
  std::vector<std::uint16_t> kb, vb;
  std::vector<std::int8_t> k8, v8;
  std::vector<float> k_scale, v_scale;
  std::vector<std::int32_t> k_sum;
  // Int8 K and V in the VNNI layouts of attention_vnni.hpp instead of key-major (pack_kv, where the CPU has
  // VNNI: what the decode steps' own product loops read).
  bool vnni = false;
};

// Packs keys [0, shape.keys) of k and v (laid out as `shape` says) in shape.products (bf16 only where the
// CPU multiplies it natively, else f32).
void pack_kv(const float* k, const float* v, const AttentionShape& shape, PackedKv& out);

// Keys from `first` on kept token-major apart from the others (a decode cache's question tails, written a
// row at a time: 12 cache lines a row where dimension-major K took 192): key j's kv head g, dim t at
// k[(j - first) * stride + g * head_dim + t]. A row's tail lies wholly on one side of `first`.
struct TokenMajorTails {
  const float* k = nullptr;
  int first = 0;
  int stride = 0;
  // bf16 copies of these rows' K and of their V (row `first`'s V at v16[0]), or none. Where a decode
  // step's rows share a packed prefix, the int8 engine reads its tails from these: half the bytes of ten
  // questions' tails (at 32 keys, as many as the packed prefix's), rounded finer (2^-9) than that prefix.
  const std::uint16_t* k16 = nullptr;
  const std::uint16_t* v16 = nullptr;
};

// Attention for `shape.queries` rows, row r seeing ranges[r] (keys / first_query_position unused):
// decode steps of several questions at once and their suffixes. Rows sharing a prefix run it as two matrix
// products per kv head (all its query heads and rows at once) on the prefix packed (`prefix`, packed keys
// [0, prefix->keys) equal to every row's ranges[r].prefix; else packed here); rows of different prefixes
// split their keys in blocks whose partial softmaxes are merged. Tails at or after tails.first read K there.
void attention_ranges(const float* q, const float* k, const float* v, const AttentionShape& shape,
                      const KeyRanges* ranges, float scale, float* out, const PackedKv* prefix = nullptr,
                      const TokenMajorTails& tails = {});

}  // namespace folio::engine::kernels
