// int8 linear layers (docs/engine.md):
//  - weights quantised once to s8 with one scale per output channel, reordered into the layout oneDNN's
//    matmul chose (format_tag::any, compensation for s8 activations folded in by the reorder);
//  - activations quantised per token (row) here as u8 (the native VNNI input type) with a zero point;
//    optionally a second plane holds the rounding residual, multiplied as more rows of the same product, so
//    the weights are still read once and the activations keep about 16 bits (the decoder uses it: with 8-bit
//    activations its noise equals the weights' and the logits miss the accuracy gate);
//  - the products on our VNNI loops over those reordered weights (gemm_vnni.hpp), each tile's s32 block
//    handed to our epilogue while in L1: zero points (acc - zp * column sum of the weights), scales, both
//    planes, bias, activation and residual add in one vectorised pass;
//  - elsewhere (no AVX-512 VNNI, another layout) oneDNN's matmul, kept on its brgemm kernels: one primitive
//    per row bucket (bucket_for; M fixed at creation, a partial chunk padded), raw s32 output with no
//    run-time scales (those drop oneDNN to slow paths), then the same epilogue over the s32 chunk.
// Scratch buffers are per thread and only grow, so a decode step allocates nothing.
#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/kernels/activations.hpp"
#include "engine/kernels/dnnl_context.hpp"
#include "engine/kernels/gemm_vnni.hpp"
#include "engine/kernels/linear_impl.hpp"
#include "engine/kernels/parallel.hpp"
#include "engine/kernels/prefetch.hpp"
#include "engine/kernels/quantize.hpp"
#include "engine/kernels/scratch.hpp"
#include "engine/kernels/softmax.hpp"
#include "engine/kernels/vnni.hpp"
#include "engine/kernels/vector_math.hpp"
#include "engine/kernels/vector_math_avx512.hpp"

namespace folio::engine::kernels {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

constexpr int kMaxRows = 512;
// On the VNNI path: tokens per chunk of a thread's share, and the fewest tokens per thread for which the
// rows are split between threads (below, each product splits its columns instead).
constexpr int kVnniChunk = 128;
constexpr int kRowsPerShare = 32;
// The s32 result of a chunk should stay in cache for the epilogue: rows x out x 4 bytes at most this.
constexpr std::size_t kChunkBytes = 4u << 20;
// A gated MLP's halves pair up panel by panel when their width is a whole number of panels.
constexpr int kPairedCols = kVnniPanelCols;

// Row buckets: powers of two up to 8, multiples of 4 up to 64 (a page's questions decoded together are
// 2 x questions rows: 20 rows run as 20, not 32; measured 4% faster than 24 for ten questions), then powers
// of two. Each bucket is one primitive.
int bucket_for(int rows) {
  if (rows <= 8) {
    int b = 1;
    while (b < rows) b *= 2;
    return b;
  }
  if (rows <= 64) return (rows + 3) / 4 * 4;
  int b = 64;
  while (b < rows) b *= 2;
  return b;
}

// One layer's quantised input rows: the u8 planes with each token's scale and zero point. With adaptive
// planes, lo_of[r] is the index of token r's residual plane among the residual rows (-1: none) and
// residual_rows how many there are; otherwise lo_of is empty.
struct QuantisedRows {
  std::vector<std::uint8_t> q;
  std::vector<float> row_scales;
  std::vector<std::int32_t> zero_points;
  std::vector<int> lo_of;
  int residual_rows = 0;
};

// A chunk's quantised rows in the order the VNNI product reads them: each token's first plane, then its
// residual plane when it has one, in tiles of whole tokens (a tile's block then holds both planes of its
// tokens, which the epilogue adds together).
struct RowList {
  std::vector<const std::uint8_t*> src;
  std::vector<int> token;  // the token of each row
  std::vector<VnniTile> tiles;
};

struct Scratch {
  QuantisedRows in, mid;  // a layer's input; the second layer's input inside an MLP
  std::vector<std::int32_t> acc;
  RowList rows, mid_rows;
  std::vector<float> hidden;  // an MLP's activated first-layer rows, on the VNNI path
  std::vector<float> pair;    // a gated MLP's gate and up panels of each token, until they are gated
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// y[r, n] (+)= act((acc[r, n] - zp * col_sum[n]) * row_scale * col_scale[n]
//                  + (acc_lo[r, n] - 128 * col_sum[n]) * row_scale / 255 * col_scale[n] + bias[n]), over [c0, c1),
// as (acc + acc_lo / 255 - col_sum (zp + 128 / 255)) (row_scale col_scale) + bias: float arithmetic only (an
// integer multiply per element cost two of the loop's ten vector operations).
template <Activation A, bool TwoPlanes, bool Accumulate>
[[gnu::always_inline]] inline void dequantize_row(const std::int32_t* acc, const std::int32_t* acc_lo, float row_scale,
                                                  std::int32_t zp, const float* col_sum, const float* col_scale,
                                                  const float* bias, int c0, int c1, float* y) {
  const float offset = static_cast<float>(zp) + (TwoPlanes ? 128.0f / 255.0f : 0.0f);
#pragma omp simd
  for (int n = c0; n < c1; ++n) {
    float a = static_cast<float>(acc[n]);
    if constexpr (TwoPlanes) a += static_cast<float>(acc_lo[n]) * (1.0f / 255.0f);
    a -= col_sum[n] * offset;
    float v = a * (row_scale * col_scale[n]) + bias[n];
    if constexpr (A == Activation::GeluTanh) v = gelu_tanh(v);
    if constexpr (A == Activation::Silu) v = silu(v);
    if constexpr (Accumulate) v += y[n];
    y[n] = v;
  }
}

template <Activation A>
[[gnu::always_inline]] inline void dequantize_activation(const std::int32_t* acc, const std::int32_t* acc_lo,
                                                         float row_scale, std::int32_t zp, const float* col_sum,
                                                         const float* col_scale, const float* bias, int c0, int c1,
                                                         bool accumulate, float* y) {
  if (acc_lo) {
    if (accumulate) dequantize_row<A, true, true>(acc, acc_lo, row_scale, zp, col_sum, col_scale, bias, c0, c1, y);
    else dequantize_row<A, true, false>(acc, acc_lo, row_scale, zp, col_sum, col_scale, bias, c0, c1, y);
  } else {
    if (accumulate) dequantize_row<A, false, true>(acc, acc_lo, row_scale, zp, col_sum, col_scale, bias, c0, c1, y);
    else dequantize_row<A, false, false>(acc, acc_lo, row_scale, zp, col_sum, col_scale, bias, c0, c1, y);
  }
}

// One row of a product's results to dequantize: its s32 results and its residual plane's (or nullptr), its
// scale and zero point, and where its outputs go.
struct DequantRow {
  const std::int32_t* acc;
  const std::int32_t* acc_lo;
  float row_scale;
  std::int32_t zp;
  float* y;
};

// dequantize_row over `count` rows sharing columns [0, cols) (col_sum, col_scale and bias from column 0),
// compiled once per ISA with every variant inlined as a branch-free vectorised loop, chosen once per row.
// One call takes every token of a product block: a decode step's blocks are 64 columns of a few tokens, and
// a call per token (some 30 thousand a ten-question step) cost more than its arithmetic. Every epilogue goes
// through this one function, so that our products and oneDNN's give the same values bit for bit.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void dequantize_rows(
    Activation activation, const DequantRow* rows, int count, const float* col_sum, const float* col_scale,
    const float* bias, int cols, bool accumulate) {
  for (int i = 0; i < count; ++i) {
    const DequantRow& r = rows[i];
    switch (activation) {
      case Activation::None:
        dequantize_activation<Activation::None>(r.acc, r.acc_lo, r.row_scale, r.zp, col_sum, col_scale, bias, 0,
                                                cols, accumulate, r.y);
        break;
      case Activation::GeluTanh:
        dequantize_activation<Activation::GeluTanh>(r.acc, r.acc_lo, r.row_scale, r.zp, col_sum, col_scale, bias, 0,
                                                    cols, accumulate, r.y);
        break;
      case Activation::Silu:
        dequantize_activation<Activation::Silu>(r.acc, r.acc_lo, r.row_scale, r.zp, col_sum, col_scale, bias, 0,
                                                cols, accumulate, r.y);
        break;
    }
  }
}

// One row's columns [c0, c1).
void dequantize_planes(Activation activation, const std::int32_t* acc, const std::int32_t* acc_lo, float row_scale,
                       std::int32_t zp, const float* col_sum, const float* col_scale, const float* bias, int c0, int c1,
                       bool accumulate, float* y) {
  const DequantRow row{acc + c0, acc_lo ? acc_lo + c0 : nullptr, row_scale, zp, y + c0};
  dequantize_rows(activation, &row, 1, col_sum + c0, col_scale + c0, bias + c0, c1 - c0, accumulate);
}

// |lo - 128|: the Euclidean norm of a residual plane's values around its zero.
float residual_norm(const std::uint8_t* lo, int n) {
  std::int64_t squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int i = 0; i < n; ++i) {
    const int d = lo[i] - 128;
    squares += d * d;
  }
  return static_cast<float>(std::sqrt(static_cast<double>(squares)));
}

// What greedy() gathers of one row's one-plane outputs while each block is in L1, lane by lane (lane l
// holds the columns 16 i + l), so that a block needs no reduction across lanes: the best lower bound
// max (z - margin) over the columns that may win (the bar), the softmax denominator online (sum of
// exp(z - base), its base moved up only when a column passes it by more than kRebase), and the columns that
// may still win: those whose upper bound z + margin reached their lane's bar as it stood when their block
// came. A lane's bar only rises and never passes the row's final bar, so every column whose upper bound
// reaches the final bar is among them; the others are dropped when the list is pruned or read.
struct GreedyStats {
  alignas(64) float lane_bar[16];
  alignas(64) float lane_base[16];
  alignas(64) float lane_sum[16];
  std::vector<int> column;      // candidates: output column,
  std::vector<float> z, upper;  // its one-plane value and its upper bound
  int count = 0;

  void reset() {
    std::fill_n(lane_bar, 16, -std::numeric_limits<float>::infinity());
    std::fill_n(lane_base, 16, -std::numeric_limits<float>::infinity());
    std::fill_n(lane_sum, 16, 0.0f);
    count = 0;
  }
  float bar() const { return *std::max_element(lane_bar, lane_bar + 16); }
  // Room for a block's 64 more candidates: first by dropping those below the bar, then by growing.
  void make_room() {
    if (count + kVnniPanelCols <= static_cast<int>(column.size())) return;
    const float b = bar();
    int kept = 0;
    for (int i = 0; i < count; ++i)
      if (upper[i] >= b) {
        column[kept] = column[i];
        z[kept] = z[i];
        upper[kept++] = upper[i];
      }
    count = kept;
    const std::size_t need = std::max<std::size_t>(256, 2 * static_cast<std::size_t>(count + kVnniPanelCols));
    if (column.size() < need) {
      column.resize(need);
      z.resize(need);
      upper.resize(need);
    }
  }
};

// A row's statistics over the team's lanes: its bar, and its softmax denominator sum of exp(z - max).
struct GreedyRow {
  float bar = -std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  double sum = 0.0;
};

GreedyRow merged(const GreedyStats* parts, int count, std::size_t stride) {
  GreedyRow row;
  for (int i = 0; i < count; ++i)
    for (int l = 0; l < 16; ++l) {
      row.bar = std::max(row.bar, parts[i * stride].lane_bar[l]);
      row.max = std::max(row.max, parts[i * stride].lane_base[l]);
    }
  for (int i = 0; i < count; ++i)
    for (int l = 0; l < 16; ++l)
      if (parts[i * stride].lane_base[l] > -std::numeric_limits<float>::infinity())
        row.sum += parts[i * stride].lane_sum[l] * std::exp(static_cast<double>(parts[i * stride].lane_base[l]) - row.max);
  return row;
}

// How far a column may pass its lane's base before the base moves: e^16 per term keeps a lane's float sum
// of a vocabulary's terms far from overflow.
constexpr float kRebase = 16.0f;

// Columns [col0, col0 + n) (n <= 64, a product's block) of one row's outputs z (z[0] is column col0) into
// `st`, where column j's margin is f bound[j] + g scale[j] and the columns of the bits of `excluded` may not
// win (excluded tokens).
// (GCC 12's unmasked max and scalef intrinsics start from an undefined vector and trip -Wuninitialized.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
FOLIO_VNNI void greedy_block(const float* z, const float* bound, const float* scale, float f, float g, int n,
                             int col0, std::uint64_t excluded, GreedyStats& st) {
  const __m512 vf = _mm512_set1_ps(f), vg = _mm512_set1_ps(g), low = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 vlog2e = _mm512_set1_ps(kLog2e);
  __m512 v[4], margin[4];
  __mmask16 m[4], may_win[4];
  __m512 bar = _mm512_load_ps(st.lane_bar), base = _mm512_load_ps(st.lane_base), sum = _mm512_load_ps(st.lane_sum);
  __m512 mx = low;
  for (int i = 0; i < 4; ++i) {
    const int j = 16 * i;
    m[i] = static_cast<__mmask16>(n - j >= 16 ? 0xffff : (n > j ? (1u << (n - j)) - 1 : 0));
    v[i] = _mm512_mask_loadu_ps(low, m[i], z + j);
    margin[i] = _mm512_fmadd_ps(vf, _mm512_maskz_loadu_ps(m[i], bound + j),
                                _mm512_mul_ps(vg, _mm512_maskz_loadu_ps(m[i], scale + j)));
    may_win[i] = m[i] & static_cast<__mmask16>(~(excluded >> j));
    bar = _mm512_mask_max_ps(bar, may_win[i], bar, _mm512_sub_ps(v[i], margin[i]));
    mx = _mm512_max_ps(mx, v[i]);
  }
  // Lanes whose columns passed their base by more than kRebase (every lane at its first block): the base
  // moves up to the block's value and the lane's sum is scaled down to match (a sum of nothing stays 0).
  const __mmask16 up = _mm512_cmp_ps_mask(mx, _mm512_add_ps(base, _mm512_set1_ps(kRebase)), _CMP_GT_OQ);
  if (up) {
    const __m512 moved = _mm512_mask_mov_ps(base, up, mx);
    const __mmask16 scaled = _mm512_mask_cmp_ps_mask(up, base, low, _CMP_GT_OQ);
    const ExpParts e = exp2_parts(_mm512_maskz_mul_ps(scaled, _mm512_sub_ps(base, moved), vlog2e));
    sum = _mm512_mask_mul_ps(sum, scaled, sum, _mm512_scalef_ps(e.p, e.n));
    base = moved;
  }
  // e^(v - base) = 2^(v log2(e) - base log2(e)), one rounding.
  const __m512 base2 = _mm512_mul_ps(base, vlog2e);
  for (int i = 0; i < 4; ++i) {
    if (!m[i]) break;
    const ExpParts e = exp2_parts(_mm512_maskz_fmsub_ps(m[i], v[i], vlog2e, base2));
    sum = _mm512_add_ps(sum, _mm512_maskz_scalef_ps(m[i], e.p, e.n));
  }
  _mm512_store_ps(st.lane_bar, bar);
  _mm512_store_ps(st.lane_base, base);
  _mm512_store_ps(st.lane_sum, sum);
  // The block's columns whose upper bound reaches their lane's bar, this block's own lower bounds included.
  st.make_room();
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int i = 0; i < 4; ++i) {
    if (!m[i]) break;
    const __m512 top = _mm512_add_ps(v[i], margin[i]);
    const __mmask16 hit = _mm512_mask_cmp_ps_mask(may_win[i], top, bar, _CMP_GE_OQ);
    if (!hit) continue;
    _mm512_mask_compressstoreu_epi32(st.column.data() + st.count, hit,
                                     _mm512_add_epi32(lanes, _mm512_set1_epi32(col0 + 16 * i)));
    _mm512_mask_compressstoreu_ps(st.z.data() + st.count, hit, v[i]);
    _mm512_mask_compressstoreu_ps(st.upper.data() + st.count, hit, top);
    st.count += __builtin_popcount(hit);
  }
}
#pragma GCC diagnostic pop

// greedy()'s slack on each bound, in units of the s32 sums: float rounding of the outputs (sums up to about
// 2^25, a few units each) stays well inside it.
constexpr float kGreedySlack = 64.0f;

class Int8Linear final : public Linear::Impl {
 public:
  Int8Linear(std::span<const float> weight, int out, int in, std::span<const float> bias, Int8Input input,
             bool own_products)
      : Impl(out, in, Precision::Int8), bias_(out, 0.0f), col_scales_(out), col_sums_(out, 0.0f),
        planes_(input == Int8Input::OnePlane ? 1 : 2), adaptive_(input == Int8Input::Adaptive) {
    if (!bias.empty()) std::copy(bias.begin(), bias.end(), bias_.begin());
    std::vector<std::int8_t> q(static_cast<std::size_t>(out) * in);
    quantize_weights_s8(weight.data(), out, in, q.data(), col_scales_.data());
    for (int n = 0; n < out; ++n) {
      std::int32_t sum = 0;
      for (int k = 0; k < in; ++k) sum += q[static_cast<std::size_t>(n) * in + k];
      col_sums_[n] = static_cast<float>(sum);
    }
    // greedy() bounds each column's residual-plane share by the norm of its s8 weights (only the layers it
    // can serve: two planes for every token).
    if (planes_ == 2 && !adaptive_) {
      col_bounds_.resize(out);
      for (int n = 0; n < out; ++n) {
        std::int64_t squares = 0;
        for (int k = 0; k < in; ++k) {
          const int v = q[static_cast<std::size_t>(n) * in + k];
          squares += v * v;
        }
        col_bounds_[n] = col_scales_[n] * static_cast<float>(std::sqrt(static_cast<double>(squares)));
      }
    }
    // Largest bucket whose s32 chunk fits the cache budget (at least 64 rows: smaller M loses speed).
    chunk_ = kMaxRows;
    while (chunk_ > 64 && static_cast<std::size_t>(chunk_) * out * 4 > kChunkBytes) chunk_ /= 2;
    if (planes_ == 2) chunk_ /= 2;  // each token is up to two rows of the matmul (its two activation planes)

    // The layout the kernels want differs with M on some CPUs (AMX tiles for large M, VNNI for small M):
    // keep one reordered copy per distinct layout, so that decode and prefill both get a fast kernel.
    const auto& eng = dnnl_engine();
    dnnl::memory user(dnnl::memory::desc({in_, out_}, dt::s8, tag::ba), eng, q.data());
    dnnl::stream s(eng);
    for (int m : {1, std::min(128, chunk_)}) {
      const auto desc = make_pd(m, dnnl::memory::desc({in_, out_}, dt::s8, tag::any)).weights_desc();
      if (!layouts_.empty() && layouts_.front().desc == desc) continue;
      Layout l{desc, dnnl::memory(desc, eng)};
      dnnl::reorder(user, l.weights).execute(s, user, l.weights);
      layouts_.push_back(std::move(l));
    }
    s.wait();
    for (const auto& l : layouts_)
      if (!panels_.data && own_products) panels_ = vnni_panels_of(l.weights, in_, out_);
  }

  std::size_t weight_bytes() const override {
    return layouts_.size() * static_cast<std::size_t>(in_) * out_ + out_ * 8;
  }

  void forward(const float* x, int m, float* y, Epilogue ep) override {
    if (!panels_.data) return forward_onednn(x, m, y, ep);
    for_each_share(m, kVnniChunk, [&](int row0, int rows) {
      Scratch& sc = scratch();
      quantise_input(x + static_cast<std::size_t>(row0) * in_, rows, sc.in, false);
      list_rows(sc.in, rows, sc.rows);
      float* out = y + static_cast<std::size_t>(row0) * out_;
      const auto sink = [&](const VnniBlock& b) {
        dequantize_block(b, sc.rows, sc.in, ep.activation, ep.accumulate, out, out_, b.col0);
      };
      vnni_product(sc.rows.src.data(), sc.rows.tiles.data(), static_cast<int>(sc.rows.tiles.size()), panels_,
                   VnniSink(sink));
    });
  }

  // Greedy decoding (an lm_head at two planes) for about the products of one plane: every output from the
  // first planes alone, then in each row only the outputs the residual plane could still lift to the top,
  // recomputed at both planes exactly as forward() computes them. The residual's share of output n is
  // (lo - 128)·q_n row_scale col_scale[n] / 255, at most |lo - 128| |q_n| row_scale col_scale[n] / 255
  // (Cauchy-Schwarz; col_bounds_ holds col_scale |q_n|): an output whose one-plane value plus its bound stays
  // below another's value minus that one's bound cannot win. Rows with too many such candidates (flat
  // outputs) are multiplied again at two planes in full. The log-softmax's denominator takes the other
  // outputs at one plane: their rounding is an 8-bit product's, far below what a confidence needs.
  void greedy(const float* x, int m, std::span<const int> excluded, int* index, float* logprob) override {
    if (!panels_.data || col_bounds_.empty()) return Impl::greedy(x, m, excluded, index, logprob);
    constexpr int kRows = 16;  // rows at a time: a block of their one-plane outputs is 16 x 64 floats
    for (int row0 = 0; row0 < m; row0 += kRows) {
      const int rows = std::min(kRows, m - row0);
      const float* xs = x + static_cast<std::size_t>(row0) * in_;
      Scratch& sc = scratch();
      quantise_input(xs, rows, sc.in, false);
      list_rows(sc.in, rows, sc.rows, /*first_planes_only=*/true);
      // Each row's margin factors: f for its residual's bound, g for the slack (see settle_greedy_row).
      thread_local std::vector<float> factors_of;
      std::vector<float>& factors = factors_of;
      factors.resize(2 * rows);
      for (int r = 0; r < rows; ++r) {
        const float rs = sc.in.row_scales[r];
        factors[2 * r] = rs * residual_norm(sc.in.q.data() + static_cast<std::size_t>(rows + r) * in_, in_) / 255.0f *
                         (1.0f + 1e-5f);
        factors[2 * r + 1] = rs * kGreedySlack;
      }
      // Statistics and candidates per thread of the product's team and row, merged after it. The outputs
      // themselves never leave the block's L1 buffer (ten rows of a 49152-token vocabulary are 2 MB).
      const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
      thread_local std::vector<GreedyStats> stats_of;
      std::vector<GreedyStats>& stats = stats_of;
      if (stats.size() < static_cast<std::size_t>(team) * rows) stats.resize(static_cast<std::size_t>(team) * rows);
      std::for_each_n(stats.begin(), team * rows, [](GreedyStats& st) { st.reset(); });
      const auto sink = [&](const VnniBlock& b) {
        thread_local std::vector<float> block_of;
        float* z = grown(block_of, static_cast<std::size_t>(kRows) * kVnniPanelCols);
        dequantize_block(b, sc.rows, sc.in, Activation::None, false, z, kVnniPanelCols, 0);
        GreedyStats* mine = stats.data() + static_cast<std::size_t>(omp_get_thread_num() % team) * rows;
        std::uint64_t skip = 0;  // the block's excluded columns
        for (const int e : excluded)
          if (e >= b.col0 && e < b.col0 + b.cols) skip |= std::uint64_t{1} << (e - b.col0);
        for (int i = 0; i < b.rows; ++i) {
          const int t = sc.rows.token[b.row0 + i];
          greedy_block(z + static_cast<std::size_t>(t) * kVnniPanelCols, col_bounds_.data() + b.col0,
                       col_scales_.data() + b.col0, factors[2 * t], factors[2 * t + 1], b.cols, b.col0, skip, mine[t]);
        }
      };
      vnni_product(sc.rows.src.data(), sc.rows.tiles.data(), static_cast<int>(sc.rows.tiles.size()), panels_,
                   VnniSink(sink));
      thread_local std::vector<int> unsettled_rows;
      std::vector<int>& unsettled = unsettled_rows;  // this thread's, also where the team writes
      unsettled.assign(rows, 0);
      for_each_row(rows, 2 * out_, [&](int r) {
        unsettled[r] = !settle_greedy_row(sc.in, r, rows, stats.data() + r, team, rows, index + row0 + r,
                                          logprob + row0 + r);
      });
      for (int r = 0; r < rows; ++r) {
        if (!unsettled[r]) continue;
        float* zr = grown(sc.hidden, out_);
        forward(xs + static_cast<std::size_t>(r) * in_, 1, zr, {});  // (sc.in is no longer needed)
        greedy_token(zr, out_, excluded, index + row0 + r, logprob + row0 + r);
      }
    }
  }

  // This layer's epilogue quantises each output row (after the activation) straight into the second
  // layer's input planes: the f32 activation between the two layers stays in cache (a chunk of rows on
  // the VNNI path, one row on oneDNN's).
  void forward_mlp(const float* x, int m, Impl& second_impl, MlpActivation act, float* y, Epilogue ep) override {
    auto* second = dynamic_cast<Int8Linear*>(&second_impl);
    if (!second) return Impl::forward_mlp(x, m, second_impl, act, y, ep);
    if (!panels_.data || !second->panels_.data) return forward_mlp_onednn(x, m, *second, act, y, ep);
    const int mid = second->in_;
    // SiLU-gated halves of whole panels are gated as their blocks leave the product: the panels are visited
    // in pairs (gate panel p, then up panel p + mid / 64), each gate panel's values wait in a small buffer
    // for their up panel, and only the gated row, half as wide, is written out (prefill MLPs 10.2 -> 9.9
    // ms). GELU stays a row pass: on each 64-column block it was 1% slower than over the row.
    const bool paired = act == MlpActivation::SiluGate && mid % kPairedCols == 0;
    const int width = paired ? mid : out_;  // of the rows the second layer's input is quantised from
    // Rows whose activated first-layer outputs (f32) take about 2 MB, so that they stay in cache until
    // they are quantised; at least 64, or a wide layer's weights would be streamed again every few rows.
    const int chunk = std::clamp(static_cast<int>((2u << 20) / (4u * out_)), 64, kVnniChunk);
    for_each_share(m, chunk, [&](int row0, int rows) {
      Scratch& sc = scratch();
      quantise_input(x + static_cast<std::size_t>(row0) * in_, rows, sc.in, false);
      list_rows(sc.in, rows, sc.rows);
      float* h = grown(sc.hidden, static_cast<std::size_t>(rows) * width);
      const auto first = [&](const VnniBlock& b) {
        if (!paired) return dequantize_block(b, sc.rows, sc.in, Activation::None, false, h, out_, b.col0);
        // Token t's gate panel at pair + t * 128, its up panel 64 floats after, in a buffer of the thread
        // that runs both panels (a decode step's product splits its pairs over the team).
        float* pair = grown(scratch().pair, static_cast<std::size_t>(rows) * 2 * kPairedCols);
        const bool up = b.col0 >= mid;
        const int c = b.col0 % kPairedCols;
        dequantize_block(b, sc.rows, sc.in, Activation::None, false, pair + (up ? kPairedCols : 0), 2 * kPairedCols, c);
        if (up)
          for_each_block_token(b, sc.rows, [&](int t, int, bool) {
            const float* g = pair + static_cast<std::size_t>(t) * 2 * kPairedCols + c;
            silu_gate_pairs(g, g + kPairedCols, b.cols, h + static_cast<std::size_t>(t) * mid + (b.col0 - mid));
          });
      };
      vnni_product(sc.rows.src.data(), sc.rows.tiles.data(), static_cast<int>(sc.rows.tiles.size()), panels_,
                   VnniSink(first), paired ? mid / kPairedCols : 0);
      second->bucket_for_rows(rows, sc.mid, false);
      // Each element costs about three light passes here (the activation unless gated already, two planes out).
      for_each_row(rows, 3 * out_, [&](int r) {
        float* t = h + static_cast<std::size_t>(r) * width;
        float range[2];
        if (act == MlpActivation::GeluTanh) gelu_tanh_in_place(t, out_, range[0], range[1]);
        else if (!paired) silu_gate_in_place(t, mid);
        second->quantise_row(t, r, rows, sc.mid, act == MlpActivation::GeluTanh ? range : nullptr);
      });
      second->list_rows(sc.mid, rows, sc.mid_rows);
      float* out = y + static_cast<std::size_t>(row0) * second->out_;
      const auto sink = [&](const VnniBlock& b) {
        second->dequantize_block(b, sc.mid_rows, sc.mid, ep.activation, ep.accumulate, out, second->out_, b.col0);
      };
      vnni_product(sc.mid_rows.src.data(), sc.mid_rows.tiles.data(), static_cast<int>(sc.mid_rows.tiles.size()),
                   second->panels_, VnniSink(sink));
    });
  }

 private:
  // Where the CPU lacks AVX-512 VNNI or oneDNN chose another weight layout: its matmul, then the epilogue.
  void forward_onednn(const float* x, int m, float* y, Epilogue ep) {
    dnnl::stream stream(dnnl_engine());
    Scratch& sc = scratch();
    for (int row0 = 0; row0 < m; row0 += chunk_) {
      const int rows = std::min(chunk_, m - row0);
      const int b = quantise_input(x + static_cast<std::size_t>(row0) * in_, rows, sc.in, true);
      std::int32_t* acc = grown(sc.acc, static_cast<std::size_t>(b) * out_);
      multiply(rows + sc.in.residual_rows, sc.in.q.data(), acc, stream);
      epilogue(acc, sc.in, rows, ep, y + static_cast<std::size_t>(row0) * out_);
    }
    stream.wait();
  }

  void forward_mlp_onednn(const float* x, int m, Int8Linear& second_layer, MlpActivation act, float* y, Epilogue ep) {
    Int8Linear* second = &second_layer;
    const int mid = second->in_;
    const int chunk = std::min(chunk_, second->chunk_);
    dnnl::stream stream(dnnl_engine());
    Scratch& sc = scratch();
    for (int row0 = 0; row0 < m; row0 += chunk) {
      const int rows = std::min(chunk, m - row0);
      const int b = quantise_input(x + static_cast<std::size_t>(row0) * in_, rows, sc.in, true);
      std::int32_t* acc = grown(sc.acc, static_cast<std::size_t>(std::max(b * out_, bucket_for(second->planes_ * rows) * second->out_)));
      multiply(rows + sc.in.residual_rows, sc.in.q.data(), acc, stream);
      second->bucket_for_rows(rows, sc.mid, true);
      const float* rs = sc.in.row_scales.data();
      const std::int32_t* zp = sc.in.zero_points.data();
      std::uint8_t* q2 = sc.mid.q.data();
      // Each element costs about four light passes here (two planes in, the activation, two planes out):
      // ten questions' gate|up rows (10 x 3072) ran on one thread under the plain element threshold.
#pragma omp parallel for schedule(static) if (rows > 1 && worth_threads(4L * rows * out_))
      for (int r = 0; r < rows; ++r) {
        thread_local std::vector<float> row_buffer;
        float* t = grown(row_buffer, static_cast<std::size_t>(out_));
        const std::int32_t* a = acc + static_cast<std::size_t>(r) * out_;
        const std::int32_t* a_lo = residual_of(acc, sc.in, rows, r);
        dequantize_planes(Activation::None, a, a_lo, rs[r], zp[r], col_sums_.data(), col_scales_.data(), bias_.data(), 0,
                          out_, false, t);
        if (act == MlpActivation::SiluGate) silu_gate_in_place(t, mid);
        else gelu_tanh_in_place(t, out_);
        second->quantise_row(t, r, rows, sc.mid);
      }
      second->multiply(second->planes_ * rows, q2, acc, stream);
      second->epilogue(acc, sc.mid, rows, ep,
                       y + static_cast<std::size_t>(row0) * second->out_);
    }
    stream.wait();
  }

  // greedy() for row r of `rows` quantised rows, whose one-plane outputs the team's sinks summarised in
  // `team` lanes and lists of candidates (parts[i * stride], excluded columns never among the candidates):
  // false when it has more candidates than are worth recomputing one by one, or none.
  bool settle_greedy_row(const QuantisedRows& in, int r, int rows, const GreedyStats* parts, int team, int stride,
                         int* index, float* logprob) const {
    const GreedyRow st = merged(parts, team, static_cast<std::size_t>(stride));
    constexpr int kMaxCandidates = 512;  // about 100 cycles each, against a two-plane product of the row
    // The columns whose upper bound reaches the final bar, in increasing order, with their one-plane values.
    thread_local std::vector<std::pair<int, float>> candidates;
    candidates.clear();
    for (int i = 0; i < team; ++i) {
      const GreedyStats& p = parts[static_cast<std::size_t>(i) * stride];
      for (int j = 0; j < p.count; ++j)
        if (p.upper[j] >= st.bar) candidates.emplace_back(p.column[j], p.z[j]);
    }
    const int count = static_cast<int>(candidates.size());
    if (count > kMaxCandidates || count == 0) return false;
    std::sort(candidates.begin(), candidates.end());
    const std::uint8_t* planes[2] = {in.q.data() + static_cast<std::size_t>(r) * in_,
                                     in.q.data() + static_cast<std::size_t>(rows + r) * in_};
    // The candidates at both planes, and the denominator with their one-plane terms swapped for those.
    thread_local std::vector<float> both_planes;
    float* z2 = grown(both_planes, count);
    int best = -1;
    float top = st.max;
    for (int i = 0; i < count; ++i) {
      const int n = candidates[i].first;
      std::int32_t acc[2];
      vnni_column_products(panels_, n, planes, 2, acc);
      dequantize_planes(Activation::None, acc, acc + 1, in.row_scales[r], in.zero_points[r], col_sums_.data() + n,
                        col_scales_.data() + n, bias_.data() + n, 0, 1, false, z2 + i);
      if (best < 0 || z2[i] > z2[best]) best = i;
      top = std::max(top, z2[i]);
    }
    double sum = st.sum * std::exp(static_cast<double>(st.max) - top);
    for (int i = 0; i < count; ++i)
      sum += std::exp(static_cast<double>(z2[i]) - top) - std::exp(static_cast<double>(candidates[i].second) - top);
    *index = candidates[best].first;
    *logprob = static_cast<float>(z2[best] - top - std::log(sum));
    return true;
  }

  // Sizes the buffers of `rows` tokens' input (rows [0, rows) their first planes, [rows, 2 rows) their
  // residual planes) and returns their row count: for oneDNN's primitives (`for_onednn`), padded with zero
  // rows up to the row bucket; our VNNI products read the real rows only.
  int bucket_for_rows(int rows, QuantisedRows& in, bool for_onednn) const {
    const int b = for_onednn ? bucket_for(planes_ * rows) : planes_ * rows;
    grown(in.q, static_cast<std::size_t>(b) * in_);
    grown(in.row_scales, b);
    grown(in.zero_points, b);
    if (b > planes_ * rows)
      std::memset(in.q.data() + static_cast<std::size_t>(planes_ * rows) * in_, 0,
                  static_cast<std::size_t>(b - planes_ * rows) * in_);
    return b;
  }

  // Token r of `rows` (one row of in_ values) into the input planes: both for an adaptive layer too (the
  // second layer of an MLP, which this feeds, is never adaptive; the per-token choice is quantise_input's).
  // range: the row's [min(x, 0), max(x, 0)] if its producer has it (one plane only).
  void quantise_row(const float* x, int r, int rows, QuantisedRows& in, const float* range = nullptr) const {
    std::uint8_t* q = in.q.data() + static_cast<std::size_t>(r) * in_;
    if (range && planes_ == 1)
      quantize_row_u8_in_range(x, in_, range[0], range[1], q, in.row_scales.data() + r, in.zero_points.data() + r);
    else if (planes_ == 2)
      quantize_rows_u8_planes(x, 1, in_, in_, q, in.q.data() + static_cast<std::size_t>(rows + r) * in_,
                              in.row_scales.data() + r, in.zero_points.data() + r);
    else
      quantize_rows_u8(x, 1, in_, in_, q, in.row_scales.data() + r, in.zero_points.data() + r);
  }

  // Sizes the buffers for the most rows the input can take and quantises it; the residual rows that were
  // written (all, some or none) follow the first planes.
  int quantise_input(const float* x, int rows, QuantisedRows& in, bool for_onednn) const {
    const int b = bucket_for_rows(rows, in, for_onednn);
    std::uint8_t* q = in.q.data();
    in.lo_of.clear();
    if (adaptive_) {
      in.lo_of.resize(rows);
      in.residual_rows = quantize_rows_u8_adaptive(x, rows, in_, in_, q, q + static_cast<std::size_t>(rows) * in_,
                                                   in.row_scales.data(), in.zero_points.data(), in.lo_of.data());
    } else if (planes_ == 2) {
      quantize_rows_u8_planes(x, rows, in_, in_, q, q + static_cast<std::size_t>(rows) * in_, in.row_scales.data(),
                              in.zero_points.data());
      in.residual_rows = rows;
    } else {
      quantize_rows_u8(x, rows, in_, in_, q, in.row_scales.data(), in.zero_points.data());
      in.residual_rows = 0;
    }
    return b;
  }

  // Token r's index among the residual planes (stacked after the first planes), or -1 when it has one plane.
  int residual_index(const QuantisedRows& in, int r) const {
    if (planes_ == 1) return -1;
    return in.lo_of.empty() ? r : in.lo_of[r];
  }

  // Token r's residual-plane products in acc, or nullptr when it has one plane.
  const std::int32_t* residual_of(const std::int32_t* acc, const QuantisedRows& in, int rows, int r) const {
    const int lo = residual_index(in, r);
    return lo < 0 ? nullptr : acc + static_cast<std::size_t>(rows + lo) * out_;
  }

  // The rows of `rows` quantised tokens as the VNNI product reads them (RowList). Tiles are near-equal when
  // every token has the same planes (20 one-plane rows as 5, 5, 5, 5), filled in order otherwise.
  void list_rows(const QuantisedRows& in, int rows, RowList& l, bool first_planes_only = false) const {
    l.src.clear();
    l.token.clear();
    l.tiles.clear();
    const std::uint8_t* q = in.q.data();
    int with_residual = 0;
    for (int r = 0; r < rows; ++r) {
      l.src.push_back(q + static_cast<std::size_t>(r) * in_);
      l.token.push_back(r);
      if (const int lo = first_planes_only ? -1 : residual_index(in, r); lo >= 0) {
        l.src.push_back(q + static_cast<std::size_t>(rows + lo) * in_);
        l.token.push_back(r);
        ++with_residual;
      }
    }
    const int n = static_cast<int>(l.src.size());
    if (with_residual == 0 || with_residual == rows) {
      const int planes = with_residual ? 2 : 1, per_tile = kVnniTileRows / planes, count = (rows + per_tile - 1) / per_tile;
      for (int i = 0, t0 = 0; i < count; ++i) {
        const int tokens = rows / count + (i < rows % count);
        l.tiles.push_back({t0 * planes, tokens * planes});
        t0 += tokens;
      }
      return;
    }
    for (int i = 0; i < n;) {
      int j = i;
      while (j < n) {
        const int next = j + 1 + (j + 1 < n && l.token[j + 1] == l.token[j]);
        if (next - i > kVnniTileRows) break;
        j = next;
      }
      l.tiles.push_back({i, j - i});
      i = j;
    }
  }

  // f(t, i, two) for each token of a block of the product of `l`: t its index, i the block row of its first
  // plane, two whether its residual plane is the next row.
  template <typename F>
  static void for_each_block_token(const VnniBlock& b, const RowList& l, F&& f) {
    for (int i = 0; i < b.rows;) {
      const int t = l.token[b.row0 + i];
      const bool two = i + 1 < b.rows && l.token[b.row0 + i + 1] == t;
      f(t, i, two);
      i += two ? 2 : 1;
    }
  }

  // One block of the product of `l` into y (token t's outputs from y + t * stride + col): zero points,
  // scales, both planes of a token, bias, activation and residual, from L1.
  void dequantize_block(const VnniBlock& b, const RowList& l, const QuantisedRows& in, Activation act,
                        bool accumulate, float* y, std::size_t stride, int col) const {
    DequantRow tokens[kVnniTileRows];
    int count = 0;
    for_each_block_token(b, l, [&](int t, int i, bool two) {
      float* row = y + static_cast<std::size_t>(t) * stride + col;
      // A residual add reads and writes the token's output row, which a long run's earlier steps have left
      // in the L3: the part that this thread's next panel adds to is fetched now, a panel of work ahead. (A
      // decode step's few rows stay in cache, and its threads split the columns. Plain outputs gained
      // nothing measurable from it.)
      if (accumulate && b.all_columns && b.col0 + kVnniPanelCols < out_)
        for (int c = 0; c < kVnniPanelCols; c += 16) prefetch_for_writing(row + kVnniPanelCols + c);
      const std::int32_t* hi = b.acc + static_cast<std::size_t>(i) * kVnniBlockStride;
      tokens[count++] = {hi, two ? hi + kVnniBlockStride : nullptr, in.row_scales[t], in.zero_points[t], row};
    });
    dequantize_rows(act, tokens, count, col_sums_.data() + b.col0, col_scales_.data() + b.col0, bias_.data() + b.col0,
                    b.cols, accumulate);
  }

  // f(row0, rows) over [0, m) in chunks of at most `chunk` rows. Few rows (a decode step) run on the
  // calling thread, whose products spread their columns over the team. Many rows are split into one share
  // per thread, each thread running whole chunks of its own share (quantisation, product, epilogue) with
  // no fork, join or barrier between the steps and its rows' data in its own cache, until it takes the
  // others' last chunks (ClaimedShares).
  template <typename F>
  static void for_each_share(int m, int chunk, F&& f) {
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads == 1 || m < kRowsPerShare * threads || threads > ClaimedShares::kMaxTeam) {
      for (int row0 = 0; row0 < m; row0 += chunk) f(row0, std::min(chunk, m - row0));
      return;
    }
    // Near-equal chunks of each share (300 rows as 100 x 3, not 128, 128, 44): each chunk streams the
    // layer's weights once. A thread done with its own share takes the others' last chunks.
    const auto share_of = [m, threads](int i) {
      return std::pair{static_cast<int>(static_cast<long>(m) * i / threads), static_cast<int>(static_cast<long>(m) * (i + 1) / threads)};
    };
    // Every claim cuts at a chunk boundary, so lo and hi always lie on one: the chunk after lo (before hi)
    // is one of the share's `rem` longer chunks, q + 1 rows, while it lies in their run at the front.
    const auto cut = [&](int share, int lo, int hi, bool back) {
      const auto [s0, s1] = share_of(share);
      const int count = (s1 - s0 + chunk - 1) / chunk, q = (s1 - s0) / count, longer = (q + 1) * ((s1 - s0) % count);
      return back ? hi - q - (hi - s0 <= longer) : lo + q + (lo - s0 < longer);
    };
    ClaimedShares shares;
    for (int i = 0; i < threads; ++i) shares.set(i, share_of(i).first, share_of(i).second);
#pragma omp parallel num_threads(threads)
    {
      const int i = omp_get_thread_num();
      int r0 = 0, r1 = 0, own_end = 0;
      while (shares.next(i, threads, cut, r0, r1, own_end)) f(r0, r1 - r0);
    }
  }

  // The s32 products of `rows` quantised rows (padded with zero rows up to their bucket) on a oneDNN primitive.
  void multiply(int rows, const std::uint8_t* q, std::int32_t* acc, dnnl::stream& stream) {
    Prim& p = primitive(bucket_for(rows));
    p.src.set_data_handle(const_cast<std::uint8_t*>(q));
    p.dst.set_data_handle(acc);
    p.matmul.execute(stream, {{DNNL_ARG_SRC, p.src},
                              {DNNL_ARG_WEIGHTS, layouts_[p.layout].weights},
                              {DNNL_ARG_DST, p.dst},
                              {DNNL_ARG_SCRATCHPAD, thread_scratchpad(p.scratchpad)}});
  }

  struct Layout {
    dnnl::memory::desc desc;
    dnnl::memory weights;
  };
  struct Prim {
    std::size_t layout = 0;
    dnnl::matmul matmul;
    dnnl::memory src, dst;
    dnnl::memory::desc scratchpad;
  };

  dnnl::matmul::primitive_desc make_pd(int m, const dnnl::memory::desc& wdesc) const {
    dnnl::memory::desc src({m, in_}, dt::u8, tag::ab);
    dnnl::memory::desc dst({m, out_}, dt::s32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wdesc, dst), with_user_scratchpad(), dnnl_engine());
  }

  // Zero points, scales, bias and the activation in one pass over the s32 result (the activation is
  // the same vectorised loop, so it costs no extra pass as a separate eltwise primitive would).
  void epilogue(const std::int32_t* acc, const QuantisedRows& in, int rows, Epilogue ep, float* out) const {
    const float* rs = in.row_scales.data();
    const std::int32_t* zp = in.zero_points.data();
    // Columns split in blocks too, so that a single decode row (lm_head: 49k columns) uses every core.
    constexpr int kCols = 2048;
    const int blocks = (out_ + kCols - 1) / kCols;
#pragma omp parallel for collapse(2) schedule(static) if (worth_threads(static_cast<long>(rows) * out_))
    for (int r = 0; r < rows; ++r)
      for (int blk = 0; blk < blocks; ++blk)
        dequantize_planes(ep.activation, acc + static_cast<std::size_t>(r) * out_,
                          residual_of(acc, in, rows, r), rs[r], zp[r],
                          col_sums_.data(), col_scales_.data(), bias_.data(), blk * kCols,
                          std::min(out_, (blk + 1) * kCols), ep.accumulate, out + static_cast<std::size_t>(r) * out_);
  }

  Prim& primitive(int bucket) {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(bucket);
    if (it != cache_.end()) return it->second;
    const auto& eng = dnnl_engine();
    // Small buckets prefer the decode layout, large ones the prefill layout; a layout that would put
    // this M on oneDNN's reference loop is passed over for the other.
    Prim p;
    p.layout = bucket <= 16 ? 0 : layouts_.size() - 1;
    auto pd = make_pd(bucket, layouts_[p.layout].desc);
    if (std::string(pd.impl_info_str()).find("ref") != std::string::npos && layouts_.size() > 1) {
      p.layout = layouts_.size() - 1 - p.layout;
      pd = make_pd(bucket, layouts_[p.layout].desc);
    }
    p.matmul = dnnl::matmul(pd);
    p.src = dnnl::memory(pd.src_desc(), eng, DNNL_MEMORY_NONE);
    p.dst = dnnl::memory(pd.dst_desc(), eng, DNNL_MEMORY_NONE);
    p.scratchpad = pd.scratchpad_desc();
    return cache_.emplace(bucket, std::move(p)).first->second;
  }

  std::vector<float> bias_, col_scales_;
  std::vector<float> col_sums_;  // of the s8 weights (exact: at most 127 x in_features)
  std::vector<float> col_bounds_;  // col_scale |q_n| (two planes, not adaptive: greedy()'s bounds)
  int planes_ = 1;        // activation planes per token (at most, when adaptive)
  bool adaptive_ = false;  // the second plane only for tokens that need it (Int8Input::Adaptive)
  int chunk_ = kMaxRows;
  std::vector<Layout> layouts_;  // reordered weights, one per distinct layout the buckets need
  VnniPanels panels_;            // one of them, when our VNNI products can read it (else oneDNN multiplies)
  std::map<int, Prim> cache_;
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Linear::Impl> make_int8_linear(std::span<const float> weight, int out, int in, std::span<const float> bias,
                                               Int8Input input, bool own_products) {
  return std::make_unique<Int8Linear>(weight, out, in, bias, input, own_products);
}

}  // namespace folio::engine::kernels
