#include "engine/kernels/attention_vnni.hpp"

#include <algorithm>
#include <cstring>

#include "engine/kernels/prefetch.hpp"
#include "engine/kernels/vnni.hpp"

namespace folio::engine::kernels {
namespace {

using vnni::broadcast4;
using vnni::dpbusd;
using vnni::keep_until_here;

// RB rows against KB blocks of 16 keys at a time: each K vector is loaded once for all RB rows, and
// RB x KB accumulators keep enough independent vpdpbusd chains in flight (one row alone would wait on the
// instruction's latency). Keys past the last whole group of KB blocks go one block at a time.
// With k_sum, each key's sums start at -128 k_sum (see vnni_scores).
// (GCC 12's shift intrinsic starts from an undefined vector and trips -Wmaybe-uninitialized: silenced here.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
template <int RB, int KB>
FOLIO_VNNI void scores_blocks(const std::uint8_t* q, int hd, const std::int8_t* k, int stride, int jb0, int jb1,
                              const std::int32_t* k_sum, std::int32_t* s) {
  const int groups = hd / 4;
  for (int jb = jb0; jb + KB <= jb1; jb += KB) {
    __m512i acc[RB][KB];
    for (int b = 0; b < KB; ++b) {
      const __m512i zero = _mm512_setzero_si512();
      const __m512i start =
          k_sum ? _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_loadu_si512(k_sum + (jb + b) * 16), 7)) : zero;
      for (int r = 0; r < RB; ++r) acc[r][b] = start;
    }
    const std::int8_t* kb = k + static_cast<std::size_t>(jb) * groups * 64;
    for (int g = 0; g < groups; ++g) {
      __m512i kv[KB];
      for (int b = 0; b < KB; ++b) kv[b] = _mm512_loadu_si512(kb + (static_cast<std::size_t>(b) * groups + g) * 64);
      for (int r = 0; r < RB; ++r) {
        const __m512i qb = broadcast4(q + r * hd + g * 4);
        for (int b = 0; b < KB; ++b) acc[r][b] = dpbusd(acc[r][b], qb, kv[b]);
        keep_until_here(qb);
      }
      for (int b = 0; b < KB; ++b) keep_until_here(kv[b]);
    }
    for (int r = 0; r < RB; ++r)
      for (int b = 0; b < KB; ++b)
        _mm512_storeu_si512(s + static_cast<std::size_t>(r) * stride + (jb + b) * 16, acc[r][b]);
  }
}
#pragma GCC diagnostic pop

// The scores of key blocks [jb0, jb1) (16 keys each) of RB rows, `stride` apart.
template <int RB>
FOLIO_VNNI void scores_rows(const std::uint8_t* q, int hd, const std::int8_t* k, int jb0, int jb1, int stride,
                            const std::int32_t* k_sum, std::int32_t* s) {
  constexpr int KB = RB >= 8 ? 2 : (RB >= 2 ? 4 : 8);
  const int whole = jb0 + (jb1 - jb0) / KB * KB;
  scores_blocks<RB, KB>(q, hd, k, stride, jb0, whole, k_sum, s);
  scores_blocks<RB, 1>(q, hd, k, stride, whole, jb1, k_sum, s);
}

// RB rows of P against V, HB vectors of 16 dims per row (hd = 16 HB): each group of 4 keys' V vectors
// is loaded once for all RB rows. With few rows (a decode step's) the keys alternate between two sets of
// accumulators: RB x HB chains alone would wait on vpdpbusd's latency. The first `keys` weights of each row
// count; the rows are `stride` apart.
template <int HB, int RB>
FOLIO_VNNI void values_rows(const std::uint8_t* p, int keys, int stride, const std::int8_t* v, std::int32_t* o) {
  constexpr int hd = 16 * HB, S = RB * HB < 12 ? 2 : 1;
  __m512i acc[S][RB][HB];
  for (int u = 0; u < S; ++u)
    for (int r = 0; r < RB; ++r)
      for (int h = 0; h < HB; ++h) acc[u][r][h] = _mm512_setzero_si512();
  auto group = [&](int u, int j4) FOLIO_VNNI {
    __m512i vv[HB];
    for (int h = 0; h < HB; ++h) vv[h] = _mm512_loadu_si512(v + (static_cast<std::size_t>(j4) * hd + h * 16) * 4);
    for (int r = 0; r < RB; ++r) {
      const __m512i pb = broadcast4(p + static_cast<std::size_t>(r) * stride + j4 * 4);
      for (int h = 0; h < HB; ++h) acc[u][r][h] = dpbusd(acc[u][r][h], pb, vv[h]);
      keep_until_here(pb);
    }
    for (int h = 0; h < HB; ++h) keep_until_here(vv[h]);
  };
  const int groups = keys / 4;
  int j4 = 0;
  for (; j4 + S <= groups; j4 += S)
    for (int u = 0; u < S; ++u) group(u, j4 + u);
  for (; j4 < groups; ++j4) group(0, j4);
  for (int r = 0; r < RB; ++r)
    for (int h = 0; h < HB; ++h) {
      __m512i a = acc[0][r][h];
      if constexpr (S == 2) a = _mm512_add_epi32(a, acc[1][r][h]);
      _mm512_storeu_si512(o + static_cast<std::size_t>(r) * hd + h * 16, a);
    }
}

// Rows in near-equal blocks of at most MaxRB (as many accumulators as the 32 vector registers hold): 8 rows
// as 4 + 4, 2 rows as one block of 2 (each block reads K or V once). run(rb, r0, block, blocks).
template <int MaxRB, typename F>
void in_row_blocks(int rows, F&& run) {
  const int blocks = (rows + MaxRB - 1) / MaxRB;
  for (int i = 0, r0 = 0; i < blocks; ++i) {
    const int n = vnni::near_equal_part(rows, blocks, i);
    vnni::with_count<MaxRB>(n, [&](auto rb) { run(rb, r0, i, blocks); });
    r0 += n;
  }
}

// The keys a block of `rows` rows from r0 needs: the most any of its rows needs, rounded up to `unit`, at
// most `keys` (all of them without a per-row count).
int keys_of_block(const int* row_keys, int r0, int rows, int unit, int keys) {
  if (!row_keys) return keys;
  const int most = *std::max_element(row_keys + r0, row_keys + r0 + rows);
  return std::min(keys, (most + unit - 1) / unit * unit);
}

}  // namespace

bool vnni_products_for(int head_dim) { return vnni::cpu_has_vnni() && (head_dim == 64 || head_dim == 128); }

void vnni_scores(const std::uint8_t* q, int rows, int hd, const std::int8_t* k, int keys, std::int32_t* s,
                 const int* row_keys, const std::int32_t* k_sum, bool fetch_ahead) {
  // Keys in chunks of 16 KB of K, every block of rows through a chunk while it is in L1 (a whole row of
  // keys per block of rows read K from L2 once per block): each call's products 5-7% faster in the engine,
  // the encoder's and a prefill's, timed call by call.
  const int chunk = std::max(4, 16384 / (16 * hd)) / 4 * 4;  // key blocks of 16, whole groups of four
  const int key_blocks = keys / 16;
  for (int c0 = 0; c0 < key_blocks; c0 += chunk)
    in_row_blocks<6>(rows, [&](auto rb, int r0, int block, int blocks) {
      constexpr int RB = decltype(rb)::value;
      if (fetch_ahead && blocks > 1 && c0 + chunk < key_blocks) {  // this block's share of the next chunk
        const long lines = static_cast<long>(std::min(chunk, key_blocks - c0 - chunk)) * 16 * hd / 64;
        prefetch_lines_to_l2(k + static_cast<std::size_t>(c0 + chunk) * 16 * hd, lines * block / blocks,
                             lines * (block + 1) / blocks);
      }
      const int end = std::min(keys_of_block(row_keys, r0, RB, 16, keys) / 16, c0 + chunk);
      if (c0 < end)
        scores_rows<RB>(q + static_cast<std::size_t>(r0) * hd, hd, k, c0, end, keys, k_sum,
                        s + static_cast<std::size_t>(r0) * keys);
    });
}

void vnni_values(const std::uint8_t* p, int rows, int keys, const std::int8_t* v, int hd, std::int32_t* o,
                 const int* row_keys) {
  auto run = [&]<int HB>(auto rb, int r0) {
    const int n = keys_of_block(row_keys, r0, decltype(rb)::value, 4, keys);
    values_rows<HB, decltype(rb)::value>(p + static_cast<std::size_t>(r0) * keys, n, keys, v,
                                         o + static_cast<std::size_t>(r0) * hd);
  };
  if (hd == 64) in_row_blocks<6>(rows, [&](auto rb, int r0, int, int) { run.template operator()<4>(rb, r0); });
  else in_row_blocks<2>(rows, [&](auto rb, int r0, int, int) { run.template operator()<8>(rb, r0); });
}

}  // namespace folio::engine::kernels
