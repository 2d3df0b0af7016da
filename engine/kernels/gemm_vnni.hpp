// Small-M u8 x s8 -> s32 products (a decode step: 1-32 rows) straight on the s8 weights oneDNN has
// already reordered for its own VNNI matmul, so no second copy of the weights is held.
//
// Why not oneDNN for these: at M = 20 (ten questions decoded together, two activation planes each) its
// brgemm reached 780 GOPS of the machine's 1.4 TOPS over the decoder's shapes, and every call pays a
// primitive's set-up and an OpenMP fork (121 calls a step). Here all rows of a 64-column panel are
// multiplied while the panel is in L1, with as many vpdpbusd chains as the registers hold, and the
// columns are split evenly over the threads in 16-column units.
#pragma once

#include <dnnl.hpp>

#include <cstdint>

namespace folio::engine::kernels {

// oneDNN's s8 weights for a u8 x s8 matmul on AVX-512 VNNI (format BA16a64b4a, no compensation): for each
// panel of 64 output columns, k_padded / 4 groups of [64 columns x 4 consecutive k] bytes, panels
// k_padded * 64 bytes apart, zero-padded to multiples of 64 in k and n.
struct VnniPanels {
  const std::int8_t* data = nullptr;
  int k = 0, n = 0, k_padded = 0;
};

// The panels of a reordered weights memory of logical shape [k, n], or data == nullptr when its layout
// is another one (other CPUs, other oneDNN versions) or this CPU lacks AVX-512 VNNI.
VnniPanels vnni_panels_of(const dnnl::memory& weights, int k, int n);

// The largest row count the small-M product is for (beyond it oneDNN's brgemm is as fast).
constexpr int kVnniSmallRows = 32;

// acc[r, j] = sum_i src[r, i] * w[i, j] for r < rows (src rows `k` bytes apart, acc rows `n` apart):
// exact, the same s32 values oneDNN's matmul gives. Uses the OpenMP team unless inside a parallel region.
void vnni_small_product(const std::uint8_t* src, int rows, const VnniPanels& w, std::int32_t* acc);

}  // namespace folio::engine::kernels
