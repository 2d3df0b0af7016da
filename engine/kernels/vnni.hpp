// The AVX-512 VNNI building blocks our own int8 loops share (gemm_vnni.cpp, attention_vnni.cpp).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#define FOLIO_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

namespace folio::engine::kernels::vnni {

// Whether this CPU runs the loops below (AVX-512 F, BW, VL and VNNI).
inline bool cpu_has_vnni() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return yes;
}

// f(integral_constant<n>) for a run-time n in [1, N]: a tile's row or column count as a template argument.
template <int N, typename F>
void with_count(int n, F&& f) {
  if constexpr (N >= 1) {
    if (n == N) f(std::integral_constant<int, N>{});
    else with_count<N - 1>(n, f);
  }
}

// Part i of `total` split into `parts` near-equal parts (20 into 4: 5, 5, 5, 5, not 6, 6, 6, 2).
inline int near_equal_part(int total, int parts, int i) { return total / parts + (i < total % parts); }

// Four consecutive u8 values in every 32-bit lane.
FOLIO_VNNI inline __m512i broadcast4(const std::uint8_t* p) {
  std::int32_t d;
  std::memcpy(&d, p, 4);
  return _mm512_set1_epi32(d);
}

// acc + u8 x s8 (vpdpbusd), the accumulator tied to the instruction's destination. With the intrinsic,
// GCC 12 copies every accumulator of an unrolled tile around each vpdpbusd and spills some to the stack
// (about two extra moves per product; a 5 x 4 tile ran at a third of the machine's peak).
FOLIO_VNNI inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

// Marks an operand as still needed after its last vpdpbusd (a tile's weight vectors after its last row, a
// row's broadcast after its last column). Without it, GCC 12 gives some accumulators the dying operand's
// register and copies them there and back, two moves a product on the products' own ports: a 5 x 4 tile's
// loop had 6 moves beside 20 products, a 5 x 3 tile's 12 beside 15.
FOLIO_VNNI inline void keep_until_here(__m512i x) { asm("" : : "v"(x)); }

}  // namespace folio::engine::kernels::vnni
