// The two u8 x s8 products of decode attention over a page's packed prefix, as AVX-512 VNNI loops.
// A decode step's few query vectors per kv head (3 for one question, 30 for ten) make oneDNN's matmul
// pay about 12 us of set-up per product against 1 us of arithmetic (measured: 35 us per kv head and layer,
// 70% of it in the two executes); these loops do the arithmetic with nothing around it.
//
// They read K and V in layouts made for vpdpbusd (4 bytes of one operand against 16 lanes of the other):
//  - K, per kv head: blocks of 16 keys, each as hd/4 groups of [16 keys][4 dims];
//  - V, per kv head: groups of 4 keys, each as [hd dims][4 keys].
#pragma once

#include <cstddef>
#include <cstdint>

namespace folio::engine::kernels {

// This CPU has AVX-512 VNNI and the head size is one the value loop handles (64 or 128).
bool vnni_products_for(int head_dim);

// Byte offsets of element (key j, dim t) in a kv head's K and V blocks (keys padded to a multiple of 16).
inline std::size_t vnni_k_offset(int j, int t, int hd) {
  return (static_cast<std::size_t>(j / 16) * (hd / 4) + t / 4) * 64 + (j % 16) * 4 + t % 4;
}
inline std::size_t vnni_v_offset(int j, int t, int hd) {
  return (static_cast<std::size_t>(j / 4) * hd + t) * 4 + j % 4;
}

// s[r][j] = sum_t q[r][t] k[j][t] over rows r < rows (q: u8, rows hd apart), keys j < keys (a multiple of 16;
// s's rows `keys` apart). With row_keys, row r needs only its first row_keys[r] scores: the rows run in
// blocks, each block's up to its rows' most (a causal block's early rows skip the keys after them). With
// k_sum (per key), s[r][j] starts from -128 k_sum[j]: Q's zero point of 128 taken off in the product's
// accumulators, once a block of rows, instead of once a score in the softmax. With fetch_ahead (K read
// from memory, as a decode step's prefix is), each block of rows fetches its share of the next chunk of K
// into L2 while it multiplies the current one.
void vnni_scores(const std::uint8_t* q, int rows, int hd, const std::int8_t* k, int keys, std::int32_t* s,
                 const int* row_keys = nullptr, const std::int32_t* k_sum = nullptr, bool fetch_ahead = false);

// o[r][t] = sum_j p[r][j] v[j][t] over rows r < rows (p: u8, rows `keys` apart), keys a multiple of 4. With
// row_keys, row r's weights from row_keys[r] on are zero and may be skipped (in blocks, as above).
void vnni_values(const std::uint8_t* p, int rows, int keys, const std::int8_t* v, int hd, std::int32_t* o,
                 const int* row_keys = nullptr);

}  // namespace folio::engine::kernels
