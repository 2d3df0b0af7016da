// Attention for long query runs (the vision encoder, the decoder's prefill): see attention_blocks.cpp.
#pragma once

#include "engine/kernels/attention.hpp"

namespace folio::engine::kernels {

void attention_query_blocks(const float* q, const float* k, const float* v, const AttentionShape& shape, float scale,
                            float* out);

}  // namespace folio::engine::kernels
