// Each question's own keys after the page's shared prefix (its suffix and its answer so far): a few dozen
// keys per question that change at every decode step, so they are not packed: f32 in the cache (K
// token-major as the decoder's cache keeps tails, or dimension-major), or a bf16 copy for the int8 engine.
// The query vectors of one question that share a kv head are done together: each K and V cache line is
// loaded once for all of them, and the sums stay in registers (one row at a time, with K dimension-major
// in the cache, kept a sum in memory per key and missed cache on every dimension: two fifths of the
// decode attention of ten questions).
#pragma once

#include <cstddef>
#include <cstdint>

namespace folio::engine::kernels {

// s[r][j] = scale * sum_t q[r][t] k[t kds + j kts] for rows r < n, tail keys j < tail.
void tail_scores(const float* const* q, int n, const float* k, int hd, std::size_t kds, std::size_t kts, int tail,
                 float scale, float* const* s);

// o[r][t] = (o[r][t] + sum_j w[r][j] v[j stride + t]) inv[r] for rows r < n, dims t < hd.
void tail_values(const float* const* w, int n, const float* v, int hd, std::size_t stride, int tail, const float* inv,
                 float* const* o);

// The same over tails kept in bf16 (the int8 engine's: half the bytes a decode step reads), K token-major.
void tail_scores(const float* const* q, int n, const std::uint16_t* k, int hd, std::size_t kts, int tail, float scale,
                 float* const* s);
void tail_values(const float* const* w, int n, const std::uint16_t* v, int hd, std::size_t stride, int tail,
                 const float* inv, float* const* o);

}  // namespace folio::engine::kernels
