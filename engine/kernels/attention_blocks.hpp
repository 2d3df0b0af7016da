// Attention for long query runs (the vision encoder, the decoder's prefill): see attention_blocks.cpp.
#pragma once

#include <cstddef>

#include "engine/kernels/attention.hpp"

namespace folio::engine::kernels {

void attention_query_blocks(const float* q, const float* k, const float* v, const AttentionShape& shape, float scale,
                            float* out);

// Rows sharing a packed prefix (attention_ranges with a PackedKv): per kv head, the prefix through the
// packed products, each row's own tail from k and v.
void attention_packed_prefix(const float* q, const float* k, const float* v, const AttentionShape& shape,
                             const KeyRanges* ranges, const PackedKv& prefix, float scale, float* out,
                             const TokenMajorTails& tails);

// A run of consecutive keys of one kv head from key j0: key j0 + i's dim t at k[i * token_stride + t * dim_stride].
struct KeyRun {
  const float* k;
  std::size_t token_stride, dim_stride;
};
// The run from key j0 of kv head g: in the shape's K, or in `tails` when j0 lies there.
inline KeyRun key_run(const float* k, const AttentionShape& s, const TokenMajorTails& tails, int g, int j0) {
  if (tails.k && j0 >= tails.first)
    return {tails.k + static_cast<std::size_t>(j0 - tails.first) * tails.stride + static_cast<std::size_t>(g) * s.head_dim,
            static_cast<std::size_t>(tails.stride), 1};
  const std::size_t kts = s.key_stride(), kds = s.k_dim_stride;
  return {k + static_cast<std::size_t>(g) * s.head_dim * kds + static_cast<std::size_t>(j0) * kts, kts, kds};
}

}  // namespace folio::engine::kernels
