// u8 x s8 -> s32 products straight on the s8 weights oneDNN has already reordered for its own VNNI matmul
// (so no second copy of the weights is held), each tile's results handed to a sink while in L1.
//
// Why not oneDNN's matmul: at M = 20 (ten questions decoded together, two activation planes each) its
// brgemm reached 780 GOPS of the machine's 1.4 TOPS over the decoder's shapes, and every call pays a
// primitive's set-up and an OpenMP fork (121 calls a step). At large M these loops are as fast as its
// brgemm (1.25-1.39 TOPS on the encoder's and decoder's shapes, within 2-8%), and the sink takes the s32
// results from L1, where oneDNN writes them out for a separate epilogue pass to read back. Here all rows of
// a 64-column panel are multiplied while the panel is in cache, with as many vpdpbusd chains as the
// registers hold.
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

// Rows per tile of the product: 6 rows x 4 vectors = 24 accumulators, the rest of the registers for weights.
constexpr int kVnniTileRows = 6;

// Consecutive entries [row0, row0 + rows) of a product's row list, multiplied together (rows <= kVnniTileRows).
struct VnniTile {
  int row0 = 0, rows = 0;
};

// One tile's results as the product hands them out: rows [row0, row0 + rows) of the row list, columns
// [col0, col0 + cols) (cols <= 64), the s32 value of (row0 + i, col0 + c) at acc[i * kVnniBlockStride + c].
struct VnniBlock {
  int row0 = 0, rows = 0, col0 = 0, cols = 0;
  const std::int32_t* acc = nullptr;
  // This thread runs every column of these rows (a long run's share, not a decode step's columns split over
  // the team): the block of the next panel, 64 columns on, will be its own.
  bool all_columns = false;
};
constexpr int kVnniBlockStride = 64;
// Output columns per panel of the reordered weights (a block never spans two).
constexpr int kVnniPanelCols = 64;

// What takes each block while it is still in L1 (a layer's epilogue: scales, bias, activation, residual),
// so that the s32 products are never written out and read back. Refers to `f`, which must outlive it.
class VnniSink {
 public:
  template <typename F>
  explicit VnniSink(const F& f) : f_(&f), call_([](const void* p, const VnniBlock& b) { (*static_cast<const F*>(p))(b); }) {}
  void operator()(const VnniBlock& b) const { call_(f_, b); }

 private:
  const void* f_;
  void (*call_)(const void*, const VnniBlock&);
};

// Every tile's rows against every column: the columns split over the OpenMP team in 16-column units, or on
// the calling thread alone inside a parallel region (a thread's own share of a long run of rows) or when
// the weights are too few for a team. rows[i] points at row i's k u8 values. The panels of 64 columns go
// in order, or with paired_from > 0 (every panel whole, 2 x paired_from of them) in pairs: panel p, then
// panel p + paired_from, both on the same thread, so that a gated MLP's sink gets each gate panel and then
// its up panel while the gate panel's values are still in cache.
void vnni_product(const std::uint8_t* const* rows, const VnniTile* tiles, int tile_count, const VnniPanels& w,
                  const VnniSink& sink, int paired_from = 0);

// The products of output column n alone with `count` rows of k u8 values: out[r] = sum_i rows[r][i] * w[i, n],
// the same s32 values vnni_product gives. For a few columns (a greedy choice's candidates), read straight
// from their panel.
void vnni_column_products(const VnniPanels& w, int n, const std::uint8_t* const* rows, int count, std::int32_t* out);

// acc[r, j] = sum_i src[r, i] * w[i, j] for r < rows (src rows `k` bytes apart, acc rows `n` apart):
// exact, the same s32 values oneDNN's matmul gives (vnni_product on near-equal tiles, storing its blocks).
void vnni_product_s32(const std::uint8_t* src, int rows, const VnniPanels& w, std::int32_t* acc);

}  // namespace folio::engine::kernels
