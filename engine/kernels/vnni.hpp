// The AVX-512 VNNI building blocks our own int8 loops share (gemm_vnni.cpp, attention_vnni.cpp).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define FOLIO_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

namespace folio::engine::kernels::vnni {

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

}  // namespace folio::engine::kernels::vnni
