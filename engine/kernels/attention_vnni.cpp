#include "engine/kernels/attention_vnni.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace folio::engine::kernels {
namespace {

#define FOLIO_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

FOLIO_VNNI inline __m512i broadcast4(const std::uint8_t* p) {
  std::int32_t d;
  std::memcpy(&d, p, 4);
  return _mm512_set1_epi32(d);
}

// RB rows against one block of 16 keys: the block's K vectors are loaded once for all RB rows.
template <int RB>
FOLIO_VNNI void scores_rows(const std::uint8_t* q, int hd, const std::int8_t* k, int keys, std::int32_t* s) {
  const int groups = hd / 4;
  for (int jb = 0; jb < keys / 16; ++jb) {
    __m512i acc[RB];
    for (int r = 0; r < RB; ++r) acc[r] = _mm512_setzero_si512();
    const std::int8_t* kb = k + static_cast<std::size_t>(jb) * groups * 64;
    for (int g = 0; g < groups; ++g) {
      const __m512i kv = _mm512_loadu_si512(kb + g * 64);
      for (int r = 0; r < RB; ++r) acc[r] = _mm512_dpbusd_epi32(acc[r], broadcast4(q + r * hd + g * 4), kv);
    }
    for (int r = 0; r < RB; ++r) _mm512_storeu_si512(s + static_cast<std::size_t>(r) * keys + jb * 16, acc[r]);
  }
}

// RB rows of P against V, HB vectors of 16 dims per row (hd = 16 HB): each group of 4 keys' V vectors
// is loaded once for all RB rows.
template <int HB, int RB>
FOLIO_VNNI void values_rows(const std::uint8_t* p, int keys, const std::int8_t* v, std::int32_t* o) {
  constexpr int hd = 16 * HB;
  __m512i acc[RB][HB];
  for (int r = 0; r < RB; ++r)
    for (int h = 0; h < HB; ++h) acc[r][h] = _mm512_setzero_si512();
  for (int j4 = 0; j4 < keys / 4; ++j4) {
    __m512i vv[HB];
    for (int h = 0; h < HB; ++h) vv[h] = _mm512_loadu_si512(v + (static_cast<std::size_t>(j4) * hd + h * 16) * 4);
    for (int r = 0; r < RB; ++r) {
      const __m512i pb = broadcast4(p + static_cast<std::size_t>(r) * keys + j4 * 4);
      for (int h = 0; h < HB; ++h) acc[r][h] = _mm512_dpbusd_epi32(acc[r][h], pb, vv[h]);
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int h = 0; h < HB; ++h) _mm512_storeu_si512(o + static_cast<std::size_t>(r) * hd + h * 16, acc[r][h]);
}

// Rows in blocks of up to MaxRB (as many accumulators as the 32 vector registers hold), the rest one by one
// block size down.
template <int MaxRB, typename F>
void in_row_blocks(int rows, F&& run) {
  int r = 0;
  for (; r + MaxRB <= rows; r += MaxRB) run(std::integral_constant<int, MaxRB>{}, r);
  if constexpr (MaxRB > 1) {
    const int left = rows - r;
    if (left > 0) {
      // One smaller block: the largest power of two, then recurse on what is left.
      in_row_blocks<MaxRB / 2>(left, [&](auto rb, int r0) { run(rb, r + r0); });
    }
  }
}

}  // namespace

bool vnni_products_for(int head_dim) {
  static const bool vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vl");
  return vnni && (head_dim == 64 || head_dim == 128);
}

void vnni_scores(const std::uint8_t* q, int rows, int hd, const std::int8_t* k, int keys, std::int32_t* s) {
  in_row_blocks<8>(rows, [&](auto rb, int r0) {
    scores_rows<decltype(rb)::value>(q + static_cast<std::size_t>(r0) * hd, hd, k, keys,
                                     s + static_cast<std::size_t>(r0) * keys);
  });
}

void vnni_values(const std::uint8_t* p, int rows, int keys, const std::int8_t* v, int hd, std::int32_t* o) {
  auto run = [&]<int HB>(auto rb, int r0) {
    values_rows<HB, decltype(rb)::value>(p + static_cast<std::size_t>(r0) * keys, keys, v,
                                         o + static_cast<std::size_t>(r0) * hd);
  };
  if (hd == 64) in_row_blocks<4>(rows, [&](auto rb, int r0) { run.template operator()<4>(rb, r0); });
  else in_row_blocks<2>(rows, [&](auto rb, int r0) { run.template operator()<8>(rb, r0); });
}

}  // namespace folio::engine::kernels
