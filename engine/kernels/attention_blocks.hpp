// Attention for long query runs (the vision encoder, the decoder's prefill): see attention_blocks.cpp.
#pragma once

#include "engine/kernels/attention.hpp"

namespace folio::engine::kernels {

void attention_query_blocks(const float* q, const float* k, const float* v, const AttentionShape& shape, float scale,
                            float* out);

// Rows sharing a packed prefix (attention_ranges with a PackedKv): per kv head, the prefix through the
// packed products, each row's own tail from k and v.
void attention_packed_prefix(const float* q, const float* k, const float* v, const AttentionShape& shape,
                             const KeyRanges* ranges, const PackedKv& prefix, float scale, float* out);

}  // namespace folio::engine::kernels
