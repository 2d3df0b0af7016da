#include "engine/kernels/gemm_vnni.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/kernels/parallel.hpp"
#include "engine/kernels/vnni.hpp"

namespace folio::engine::kernels {
namespace {

using vnni::broadcast4;
using vnni::dpbusd;
using vnni::keep_until_here;

constexpr int kGroupBytes = 4 * 64;    // one group: 4 k x 64 columns
// Below this many weight bytes a product stays on the calling thread (a team's fork costs more).
constexpr long kMinParallelWeightBytes = 32768;

struct Tile {
  const std::uint8_t* const* rows;  // the tile's rows of activations
  int groups;                       // whole groups of 4 k
  int tail;                         // k % 4: bytes of a last, partial group
  const std::int8_t* w;             // the tile's first 16-column vector in its panel, at group 0
  std::int32_t* acc;                // the tile's results, rows kVnniBlockStride apart
  int last_cols;                    // valid columns of the tile's last vector (16 unless it ends the matrix)
  const char* prefetch;             // this tile's share of the next panel, fetched into L2 while it computes
  int prefetch_lines;               // 64-byte lines of that share
};

// R rows x C vectors of 16 columns: each weight vector is loaded once for the R rows, and R x C
// independent accumulators keep the vpdpbusd pipes busy.
template <int R, int C>
FOLIO_VNNI void tile(const Tile& t) {
  __m512i acc[R][C];
  const std::uint8_t* src[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    src[r] = t.rows[r];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  }
  const std::int8_t* w = t.w;
  // Spread the prefetches over the groups: the memory streams the next panel while this one, already in
  // cache, is multiplied by the tile's rows (otherwise it idles through all but the first row tile).
  const int per_group = t.groups ? (t.prefetch_lines + t.groups - 1) / t.groups : 0;
  const char* pf = t.prefetch;
  const char* pf_end = t.prefetch + static_cast<std::size_t>(t.prefetch_lines) * 64;
  for (int g = 0; g < t.groups; ++g, w += kGroupBytes) {
    for (int i = 0; i < per_group && pf < pf_end; ++i, pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
    __m512i wv[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) wv[c] = _mm512_loadu_si512(w + c * 64);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i b = broadcast4(src[r] + g * 4);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) acc[r][c] = dpbusd(acc[r][c], b, wv[c]);
      keep_until_here(b);
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) keep_until_here(wv[c]);
  }
  if (t.tail) {  // the padded weights of the missing k are zero; the activations must not be read past
    __m512i wv[C];
    for (int c = 0; c < C; ++c) wv[c] = _mm512_loadu_si512(w + c * 64);
    for (int r = 0; r < R; ++r) {
      std::int32_t d = 0;
      std::memcpy(&d, src[r] + t.groups * 4, t.tail);
      const __m512i b = _mm512_set1_epi32(d);
      for (int c = 0; c < C; ++c) acc[r][c] = dpbusd(acc[r][c], b, wv[c]);
    }
  }
  const __mmask16 last = static_cast<__mmask16>((1u << t.last_cols) - 1);
  for (int r = 0; r < R; ++r) {
    std::int32_t* out = t.acc + static_cast<std::size_t>(r) * kVnniBlockStride;
    for (int c = 0; c + 1 < C; ++c) _mm512_storeu_si512(out + c * 16, acc[r][c]);
    _mm512_mask_storeu_epi32(out + (C - 1) * 16, last, acc[r][C - 1]);
  }
}

// The panel at position s of a product's panel order: in order, or (paired_from > 0) in pairs s / 2 and
// s / 2 + paired_from, so that a gated MLP's gate panel and its up panel come one after the other.
int visited_panel(int s, int paired_from) { return paired_from > 0 ? s / 2 + (s % 2) * paired_from : s; }

// Positions [u0, u1) of 16-column vectors in the panel order, for every tile: panel by panel, all tiles of
// a panel while it is in cache, each tile's block handed to the sink from an L1 buffer. While a panel is
// multiplied, the next one is fetched into L2 if it lies before position prefetch_to (the thread's own).
void product_range(const std::uint8_t* const* rows, const VnniTile* tiles, int tile_count, const VnniPanels& w,
                   int paired_from, const VnniSink& sink, int u0, int u1, int prefetch_to, bool all_columns) {
  alignas(64) std::int32_t block[kVnniTileRows * kVnniBlockStride];
  const int units = (w.n + 15) / 16;
  Tile t{};
  t.groups = w.k / 4;
  t.tail = w.k % 4;
  t.acc = block;
  const std::size_t panel_bytes = static_cast<std::size_t>(w.k_padded) * kVnniPanelCols;
  const int panel_lines = static_cast<int>((static_cast<std::size_t>(t.groups + (t.tail > 0)) * kGroupBytes) / 64);
  for (int u = u0; u < u1;) {
    const int panel = visited_panel(u / 4, paired_from), c0 = u % 4, c = std::min(4 - c0, u1 - u);
    const int first_unit = panel * 4 + c0;
    t.last_cols = first_unit + c == units && w.n % 16 ? w.n % 16 : 16;
    const std::int8_t* panel_w = w.data + panel * panel_bytes + c0 * 64;
    const bool next = u + c < prefetch_to;  // this thread's next panel (whole groups of it: simpler, and harmless)
    const char* next_w =
        reinterpret_cast<const char*>(w.data + visited_panel(u / 4 + 1, paired_from) * panel_bytes);
    VnniBlock out{0, 0, first_unit * 16, std::min(c * 16, w.n - first_unit * 16), block, all_columns};
    for (int i = 0; i < tile_count; ++i) {
      const int l0 = static_cast<int>(static_cast<long>(panel_lines) * i / tile_count),
                l1 = static_cast<int>(static_cast<long>(panel_lines) * (i + 1) / tile_count);
      t.prefetch = next_w + static_cast<std::size_t>(l0) * 64;
      t.prefetch_lines = next ? l1 - l0 : 0;
      t.rows = rows + tiles[i].row0;
      t.w = panel_w;
      vnni::with_count<kVnniTileRows>(tiles[i].rows, [&](auto R) { vnni::with_count<4>(c, [&](auto C) { tile<R, C>(t); }); });
      out.row0 = tiles[i].row0;
      out.rows = tiles[i].rows;
      sink(out);
    }
    u += c;
  }
}

}  // namespace

VnniPanels vnni_panels_of(const dnnl::memory& weights, int k, int n) {
  const dnnl_memory_desc_t& d = weights.get_desc().data;
  const auto& b = d.format_desc.blocking;
  const bool layout = d.ndims == 2 && d.data_type == dnnl_s8 && d.format_kind == dnnl_blocked && d.dims[0] == k &&
                      d.dims[1] == n && d.offset0 == 0 && d.extra.flags == 0 && b.inner_nblks == 3 &&
                      b.inner_blks[0] == 16 && b.inner_idxs[0] == 0 && b.inner_blks[1] == 64 && b.inner_idxs[1] == 1 &&
                      b.inner_blks[2] == 4 && b.inner_idxs[2] == 0 && d.padded_dims[0] % 64 == 0 &&
                      d.padded_dims[1] % 64 == 0 && b.strides[0] == 64 * 64 && b.strides[1] == d.padded_dims[0] * 64;
  if (!vnni::cpu_has_vnni() || !layout) return {};
  return VnniPanels{static_cast<const std::int8_t*>(weights.get_data_handle()), k, n, static_cast<int>(d.padded_dims[0])};
}

void vnni_product(const std::uint8_t* const* rows, const VnniTile* tiles, int tile_count, const VnniPanels& w,
                  const VnniSink& sink, int paired_from) {
  if (tile_count <= 0) return;
  const int units = (w.n + 15) / 16;
  const bool parallel = !omp_in_parallel() && static_cast<long>(w.k) * w.n >= kMinParallelWeightBytes;
  const int team = omp_get_max_threads();
  if (!parallel || team == 1 || team > ClaimedShares::kMaxTeam)
    return product_range(rows, tiles, tile_count, w, paired_from, sink, 0, units, units, true);
  // Equal shares in 16-column units (paired panels in whole pairs, so that each thread's sink sees both
  // panels of its pairs), taken a panel (a pair) at most at a time. The threads had finished a decode
  // step's product 1-18 us apart (of 25-70 us).
  const int step = paired_from > 0 ? 8 : 1, steps = (units + step - 1) / step, chunk = paired_from > 0 ? 8 : 4;
  ClaimedShares shares;
  for (int i = 0; i < team; ++i)
    shares.set(i, std::min(units, static_cast<int>(static_cast<long>(steps) * i / team) * step),
               std::min(units, static_cast<int>(static_cast<long>(steps) * (i + 1) / team) * step));
  const auto cut = [chunk](int, int lo, int hi, bool back) {
    return back ? std::max(lo, (hi - 1) / chunk * chunk) : std::min(hi, (lo / chunk + 1) * chunk);
  };
  // (A team smaller than omp_get_max_threads leaves some shares unowned: the others take them.)
#pragma omp parallel
  {
    const int i = omp_get_thread_num();
    int u0 = 0, u1 = 0, own_end = 0;
    while (shares.next(i, team, cut, u0, u1, own_end))
      product_range(rows, tiles, tile_count, w, paired_from, sink, u0, u1, own_end, false);
  }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's _mm512_reduce_add_epi32
FOLIO_VNNI void vnni_column_products(const VnniPanels& w, int n, const std::uint8_t* const* rows, int count,
                                     std::int32_t* out) {
  // Column n's 4 k of group g sit at g * 256 + (n % 64) * 4 in its panel: 16 groups per gather.
  const std::int8_t* col = w.data + static_cast<std::size_t>(n / kVnniPanelCols) * w.k_padded * kVnniPanelCols +
                           (n % kVnniPanelCols) * 4;
  const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(kGroupBytes));
  const int groups = (w.k + 3) / 4;
  for (int r = 0; r < count; ++r) {
    __m512i acc = _mm512_setzero_si512();
    for (int g0 = 0; g0 < groups; g0 += 16) {
      const int here = std::min(16, groups - g0);
      const __mmask16 lanes = static_cast<__mmask16>((1u << here) - 1);
      const __m512i wv = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes, offsets,
                                                     col + static_cast<std::size_t>(g0) * kGroupBytes, 1);
      // The activations' bytes past k are never read (the padded weights there are zero anyway).
      const int bytes = std::min(64, w.k - 4 * g0);
      const __m512i a = _mm512_maskz_loadu_epi8(bytes >= 64 ? ~0ull : (1ull << bytes) - 1, rows[r] + 4 * g0);
      acc = vnni::dpbusd(acc, a, wv);
    }
    out[r] = _mm512_reduce_add_epi32(acc);
  }
}
#pragma GCC diagnostic pop

void vnni_product_s32(const std::uint8_t* src, int rows, const VnniPanels& w, std::int32_t* acc) {
  if (rows <= 0) return;
  std::vector<const std::uint8_t*> row(rows);
  for (int r = 0; r < rows; ++r) row[r] = src + static_cast<std::size_t>(r) * w.k;
  const int count = (rows + kVnniTileRows - 1) / kVnniTileRows;
  std::vector<VnniTile> tiles(count);
  for (int i = 0, r0 = 0; i < count; ++i) {
    tiles[i] = {r0, vnni::near_equal_part(rows, count, i)};
    r0 += tiles[i].rows;
  }
  const auto store = [&](const VnniBlock& b) {
    for (int i = 0; i < b.rows; ++i)
      std::memcpy(acc + static_cast<std::size_t>(b.row0 + i) * w.n + b.col0, b.acc + i * kVnniBlockStride,
                  static_cast<std::size_t>(b.cols) * 4);
  };
  vnni_product(row.data(), tiles.data(), count, w, VnniSink(store));
}

}  // namespace folio::engine::kernels
