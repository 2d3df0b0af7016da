// Attention for long query runs (the vision encoder's tiles, the decoder's prefill), fused per work item:
// one query head and one block of its queries, on one thread, with the block's scores kept in that core's
// L2 from the Q·Kᵀ product through the softmax to the P·V product. Items spread over the OpenMP team; the
// two products are single-threaded oneDNN brgemm matmuls (oneDNN runs sequentially inside a parallel
// region), created once per block shape and thread.
//
// Products come in three precisions (AttentionProducts):
//  - F32: the reference engine's;
//  - Bf16: bf16 inputs, f32 accumulation, on CPUs that multiply bf16 natively (AVX-512 BF16, AMX); on
//    others oneDNN emulates bf16 at a sixth of f32's speed (measured: 62 vs 360 GOPS), so F32 runs instead;
//  - Int8: Q per row (u8 with a fixed zero point of 128) times K per key (s8), s32 accumulation; the softmax
//    weights e = exp(s - max) in [0, 1] as two u8 planes, the high and low bytes of round(65535 e), so that
//    a long flat tail of small weights (attention sinks) keeps its mass: one plane would round every weight
//    below 1/510 of the row's largest to zero. V per channel (s8). Both planes run as one matmul of twice
//    the rows: V is read once.
// K and V are packed once per call into per-kv-head, key-major buffers of the product type, keys padded to
// a multiple of kKeyAlign with zeros, so that block shapes (and so primitives) repeat across prompt lengths.
#include "engine/kernels/attention_blocks.hpp"

#include <dnnl.hpp>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "engine/kernels/attention_tail.hpp"
#include "engine/kernels/attention_vnni.hpp"
#include "engine/kernels/prefetch.hpp"
#include "engine/kernels/vector_math_avx512.hpp"
#include "engine/kernels/dnnl_context.hpp"
#include "engine/kernels/quantize.hpp"
#include "engine/kernels/scratch.hpp"
#include "engine/kernels/softmax.hpp"
#include "engine/kernels/vector_math.hpp"

namespace folio::engine::kernels {
namespace {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

constexpr int kKeyAlign = 128;
// One block's f32 scores at most this: they stay in a core's L2 between the two products.
constexpr std::size_t kScoreBytes = 512u << 10;
constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: float rounding to nearest even, vectorisable

int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Rows of one head are a few cache lines each, a whole activation row apart: too far apart for the hardware
// prefetcher, so their loads waited on memory (half of Q's quantisation and K's packing). Fetched ahead.
constexpr int kPrefetchAhead = 4;

// V of one key and kv head as s8 with the channels' own scales (inv_v: their inverses), vectorised.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void quantize_values(const float* v,
                                                                                   const float* inv_v, int hd,
                                                                                   std::int8_t* q) {
#pragma omp simd
  for (int t = 0; t < hd; ++t) q[t] = static_cast<std::int8_t>(static_cast<int>((v[t] * inv_v[t] + kMagic) - kMagic));
}

// Four rows of hd s8 values into vpdpbusd order: out[4 t + r] = rows[r][t].
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void interleave4(const std::int8_t* rows, int hd,
                                                                                      std::int8_t* out) {
  std::uint32_t* o = reinterpret_cast<std::uint32_t*>(out);
#pragma omp simd
  for (int t = 0; t < hd; ++t)
    o[t] = static_cast<std::uint8_t>(rows[t]) | static_cast<std::uint32_t>(static_cast<std::uint8_t>(rows[hd + t])) << 8 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(rows[2 * hd + t])) << 16 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(rows[3 * hd + t])) << 24;
}

// out[c] = max over keys j < keys of |x[j * stride + c]|, for the n <= 16 channels c of one cache line.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) void channel_max_abs_avx512(const float* x, std::size_t stride, int keys, int n,
                                                               float* out) {
  const __mmask16 m = n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
  __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  int j = 0;
  for (; j + 2 <= keys; j += 2) {
    a = _mm512_max_ps(a, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + j * stride)));
    b = _mm512_max_ps(b, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + (j + 1) * stride)));
  }
  if (j < keys) a = _mm512_max_ps(a, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + j * stride)));
  _mm512_mask_storeu_ps(out, m, _mm512_max_ps(a, b));
}
#pragma GCC diagnostic pop

void channel_max_abs(const float* x, std::size_t stride, int keys, int n, float* out) {
  if (cpu_has_avx512()) return channel_max_abs_avx512(x, stride, keys, n, out);
  std::fill_n(out, n, 0.0f);
  for (int j = 0; j < keys; ++j)
    for (int c = 0; c < n; ++c) out[c] = std::max(out[c], std::abs(x[j * stride + c]));
}

// K of the 16 keys [j0, j0 + 16) of one kv head, dimension-major (dim t's keys contiguous at k0 + t kds; the
// first `valid` of them real, the rest zero), into one block of the VNNI K layout (vnni_k_offset) with each
// key's scale and sum: the arithmetic of quantize_row_s8 key by key, the same bytes, with the 16 keys in the
// vector lanes, so that nothing is gathered (a key's dimensions lie a whole cache row apart) and no sum or
// maximum is reduced across lanes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f,avx512bw,avx512vl"))) void pack_k16_dimension_major(const float* k0, std::size_t kds,
                                                                                   int hd, int valid, std::int8_t* out,
                                                                                   float* scales, std::int32_t* sums) {
  const __mmask16 m = valid >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << valid) - 1);
  __m512 amax = _mm512_setzero_ps();
  for (int t = 0; t < hd; ++t) amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, k0 + t * kds)));
  _mm512_storeu_ps(scales, _mm512_div_ps(amax, _mm512_set1_ps(127.0f)));
  const __m512 inv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_GT_OQ),
                                         _mm512_set1_ps(127.0f), amax);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  __m512i sum = _mm512_setzero_si512();
  for (int t = 0; t < hd; t += 4) {
    __m128i b[4];
    for (int d = 0; d < 4; ++d) {
      const __m512 x = _mm512_maskz_loadu_ps(m, k0 + (t + d) * kds);
      const __m512i r = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x, inv)), lo), hi);
      sum = _mm512_add_epi32(sum, r);
      b[d] = _mm512_cvtepi32_epi8(r);
    }
    // [dim][key] bytes to [key][4 dims]: keys 0-7 and 8-15 of dims (0, 1) and (2, 3) paired, then the pairs.
    const __m128i l01 = _mm_unpacklo_epi8(b[0], b[1]), h01 = _mm_unpackhi_epi8(b[0], b[1]);
    const __m128i l23 = _mm_unpacklo_epi8(b[2], b[3]), h23 = _mm_unpackhi_epi8(b[2], b[3]);
    std::int8_t* o = out + static_cast<std::size_t>(t / 4) * 64;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_unpacklo_epi16(l01, l23));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 16), _mm_unpackhi_epi16(l01, l23));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 32), _mm_unpacklo_epi16(h01, h23));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 48), _mm_unpackhi_epi16(h01, h23));
  }
  _mm512_storeu_si512(sums, sum);
}
#pragma GCC diagnostic pop

void pack_into(const float* k, const float* v, const AttentionShape& s, AttentionProducts products, bool vnni,
               PackedKv& p) {
  p.products = products;
  p.vnni = vnni && products == AttentionProducts::Int8;
  const int Hk = s.kv_heads, hd = s.head_dim, Kt = s.keys, Kp = round_up(Kt, kKeyAlign);
  p.kv_heads = Hk;
  p.keys = Kt;
  p.padded = Kp;
  p.hd = hd;
  const std::size_t n = static_cast<std::size_t>(Hk) * Kp * hd;
  const std::size_t kts = s.key_stride(), kds = s.k_dim_stride;
  if (products == AttentionProducts::Int8) {
    p.k8.resize(n);
    p.v8.resize(n);
    p.k_scale.resize(static_cast<std::size_t>(Hk) * Kp);
    p.k_sum.resize(p.k_scale.size());
    p.v_scale.resize(static_cast<std::size_t>(Hk) * hd);
    // V's per-channel scales: the largest magnitude of each (kv head, dim) over the keys, in items of 16
    // channels (a cache line of each key's row), spread over the team (this ran serially: 4% of the vision
    // encoder; one kv head per thread left a thread idle with 3 heads on 2, and its loop compiled scalar).
    float* const vs = p.v_scale.data();
    const int units = (Hk * hd + 15) / 16;
#pragma omp parallel for schedule(static)
    for (int u = 0; u < units; ++u) {
      const int c0 = u * 16, n = std::min(16, Hk * hd - c0);
      channel_max_abs(v + c0, s.kv_stride, Kt, n, vs + c0);
      for (int t = 0; t < n; ++t) vs[c0 + t] /= 127.0f;
    }
  } else if (products == AttentionProducts::Bf16) {
    p.kb.resize(n);
    p.vb.resize(n);
  } else {
    p.kf.resize(n);
    p.vf.resize(n);
  }
  // A dimension-major K (the decoder's prompt cache) goes into the VNNI layout 16 keys at a time.
  const bool k16 = p.vnni && kts == 1 && kds != 1 && hd % 4 == 0 && cpu_has_avx512();
  constexpr int kChunk = 256;
  const int chunks = Kp / kChunk + (Kp % kChunk ? 1 : 0);
#pragma omp parallel for collapse(2) schedule(static)
  for (int g = 0; g < Hk; ++g)
    for (int c = 0; c < chunks; ++c) {
      thread_local std::vector<float> buffers;
      float* const kr = grown(buffers, 5 * static_cast<std::size_t>(hd));  // K, V, 1 / V's scales, s8 K and 4 V rows
      float* const vr = kr + hd;
      float* const inv_v = vr + hd;
      if (products == AttentionProducts::Int8)
        for (int t = 0; t < hd; ++t) {
          const float sc = p.v_scale[static_cast<std::size_t>(g) * hd + t];
          inv_v[t] = sc > 0.0f ? 1.0f / sc : 0.0f;
        }
      for (int j = c * kChunk; j < std::min(Kp, (c + 1) * kChunk); ++j) {
        const std::size_t at = (static_cast<std::size_t>(g) * Kp + j) * hd;
        // The key's K and V vectors: read in place where contiguous (token-major K), else gathered.
        const float* kj = kr;
        const float* vj = vr;
        if (j + kPrefetchAhead < Kt && kds == 1) {
          prefetch_values(k + (j + kPrefetchAhead) * kts + static_cast<std::size_t>(g) * hd, hd);
          prefetch_values(v + static_cast<std::size_t>(j + kPrefetchAhead) * s.kv_stride + static_cast<std::size_t>(g) * hd, hd);
        }
        if (j < Kt) {
          const float* k0 = k + j * kts + static_cast<std::size_t>(g) * hd * kds;
          if (kds == 1) kj = k0;
          else if (!k16)
            for (int t = 0; t < hd; ++t) kr[t] = k0[t * kds];
          vj = v + static_cast<std::size_t>(j) * s.kv_stride + static_cast<std::size_t>(g) * hd;
        } else {
          std::fill_n(kr, hd, 0.0f);
          std::fill_n(vr, hd, 0.0f);
        }
        switch (products) {
          case AttentionProducts::F32:
            std::copy_n(kj, hd, p.kf.data() + at);
            std::copy_n(vj, hd, p.vf.data() + at);
            break;
          case AttentionProducts::Bf16:
            for (int t = 0; t < hd; ++t) {
              p.kb[at + t] = bf16_of(kj[t]);
              p.vb[at + t] = bf16_of(vj[t]);
            }
            break;
          case AttentionProducts::Int8: {
            // K per key (the engine's symmetric quantiser, with the sum Q's zero point costs), V per channel.
            const std::size_t key = static_cast<std::size_t>(g) * Kp + j;
            if (p.vnni) {
              // K's 4-dim groups go 64 bytes apart (vnni_k_offset); V is interleaved four keys at a time
              // (vnni_v_offset), from the group's rows kept in the buffer (chunks are whole groups of 4).
              std::int8_t* const kq = reinterpret_cast<std::int8_t*>(inv_v + hd);
              std::int8_t* const vq4 = kq + hd;
              const std::size_t head = static_cast<std::size_t>(g) * Kp * hd;
              if (!k16) {
                p.k_sum[key] = quantize_row_s8(kj, hd, kq, &p.k_scale[key]);
                std::int8_t* const k_at = p.k8.data() + head + vnni_k_offset(j, 0, hd);
                for (int t = 0; t < hd; t += 4) std::memcpy(k_at + t * 16, kq + t, 4);
              } else if (j % 16 == 0) {  // chunks are whole blocks of 16 keys
                pack_k16_dimension_major(k + j + static_cast<std::size_t>(g) * hd * kds, kds, hd, std::clamp(Kt - j, 0, 16),
                                         p.k8.data() + head + vnni_k_offset(j, 0, hd), &p.k_scale[key], &p.k_sum[key]);
              }
              quantize_values(vj, inv_v, hd, vq4 + (j % 4) * hd);
              if (j % 4 == 3) interleave4(vq4, hd, p.v8.data() + head + vnni_v_offset(j - 3, 0, hd));
            } else {
              p.k_sum[key] = quantize_row_s8(kj, hd, p.k8.data() + at, &p.k_scale[key]);
              quantize_values(vj, inv_v, hd, p.v8.data() + at);
            }
            break;
          }
        }
      }
    }
}

// The two products of one block shape, for one thread.
struct BlockPrimitives {
  dnnl::matmul scores, values;
  dnnl::memory::desc scores_scratchpad, values_scratchpad;
};

dt src_type(AttentionProducts p) {
  return p == AttentionProducts::Int8 ? dt::u8 : (p == AttentionProducts::Bf16 ? dt::bf16 : dt::f32);
}
dt weight_type(AttentionProducts p) {
  return p == AttentionProducts::Int8 ? dt::s8 : (p == AttentionProducts::Bf16 ? dt::bf16 : dt::f32);
}
dt acc_type(AttentionProducts p) { return p == AttentionProducts::Int8 ? dt::s32 : dt::f32; }

// Rows of P per query row: two u8 planes for int8, one otherwise.
int p_planes(AttentionProducts p) { return p == AttentionProducts::Int8 ? 2 : 1; }

const BlockPrimitives& block_primitives(AttentionProducts p, int rows, int keys, int hd) {
  thread_local std::map<std::tuple<int, int, int, int>, BlockPrimitives> cache;
  const auto key = std::make_tuple(static_cast<int>(p), rows, keys, hd);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() > 64) cache.clear();
  const auto& eng = dnnl_engine();
  const dnnl::memory::dim R = rows, K = keys, D = hd, PR = R * p_planes(p);
  const dnnl::memory::desc q_md({R, D}, src_type(p), dims{D, 1});
  const dnnl::memory::desc kt_md({D, K}, weight_type(p), dims{1, D});  // Kᵀ: a view of key-major K
  const dnnl::memory::desc s_md({R, K}, acc_type(p), dims{K, 1});
  const dnnl::memory::desc p_md({PR, K}, src_type(p), dims{K, 1});
  const dnnl::memory::desc v_md({K, D}, weight_type(p), dims{D, 1});
  const dnnl::memory::desc o_md({PR, D}, acc_type(p), dims{D, 1});
  BlockPrimitives b;
  const dnnl::matmul::primitive_desc scores(dnnl::matmul::desc(q_md, kt_md, s_md), with_user_scratchpad(), eng);
  const dnnl::matmul::primitive_desc values(dnnl::matmul::desc(p_md, v_md, o_md), with_user_scratchpad(), eng);
  b.scores = dnnl::matmul(scores);
  b.values = dnnl::matmul(values);
  b.scores_scratchpad = scores.scratchpad_desc();
  b.values_scratchpad = values.scratchpad_desc();
  return cache.emplace(key, std::move(b)).first->second;
}

// Per-thread buffers of one item, grown once.
struct ItemScratch {
  std::vector<float> qf, sf, pf, of, row, prefix_scores;
  std::vector<std::uint16_t> qb, pb;
  std::vector<std::uint8_t> q8, p8;
  std::vector<std::int32_t> s32, o32;
  std::vector<float> q_scale, sums;
  std::vector<int> lo_of, row_keys;
};

// One query's vector as u8 around a zero point of 128: the symmetric s8 quantiser, shifted. Returns its scale.
float quantize_query(const float* x, int hd, std::uint8_t* q) {
  float scale = 0.0f;
  quantize_row_s8(x, hd, reinterpret_cast<std::int8_t*>(q), &scale);
  for (int t = 0; t < hd; ++t) q[t] ^= 0x80u;  // two's complement v -> v + 128
  return scale;
}

// Softmax weights e in [0, 1] as two u8 planes of one 16-bit fixed-point value, w = round(65535 e) =
// 256 hi + lo: P·V over both planes (the hi rows, then the lo rows) recombines as (256 O_hi + O_lo) / 65535.
constexpr float kWeightOne = 65535.0f;

[[gnu::always_inline]] inline void weights_to_u8_planes_scalar(const float* e, int n, std::uint8_t* hi, std::uint8_t* lo,
                                                               int from) {
  for (int j = from; j < n; ++j) {
    int w = static_cast<int>((e[j] * kWeightOne + kMagic) - kMagic);
    w = w < 0 ? 0 : (w > 65535 ? 65535 : w);
    hi[j] = static_cast<std::uint8_t>(w >> 8);
    lo[j] = static_cast<std::uint8_t>(w & 255);
  }
}

// (GCC 12's own intrinsics start from an undefined vector and trip -Wmaybe-uninitialized: silenced here.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define FOLIO_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline

// round(w) for w = 65535 e, e in [0, 1] (and a hair above 1 from rounding), as 32-bit lanes at most 65535.
// store_planes64's packs saturate at 65535 themselves: it takes the rounding alone (unclamped16).
FOLIO_AVX512 __m512i unclamped16(__m512 w) { return _mm512_cvtps_epi32(w); }
FOLIO_AVX512 __m512i fixed16(__m512 w) { return _mm512_min_epi32(unclamped16(w), _mm512_set1_epi32(65535)); }

// 16 weights' planes, lane by lane.
FOLIO_AVX512 void store_planes16(__m512i w, std::uint8_t* hi, std::uint8_t* lo) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(hi), _mm512_cvtepi32_epi8(_mm512_srli_epi32(w, 8)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lo), _mm512_cvtepi32_epi8(_mm512_and_si512(w, _mm512_set1_epi32(255))));
}

// 64 weights' planes: two packs per plane narrow four vectors at once (a quarter of the narrowing
// instructions of lane-by-lane stores), and one permute puts the keys back in order (the packs interleave
// 128-bit lanes: lane L holds keys 4L..4L+3 of each of the four vectors). The first pack saturates the
// weights (non-negative) at 65535.
FOLIO_AVX512 void store_planes64(__m512i w0, __m512i w1, __m512i w2, __m512i w3, std::uint8_t* hi, std::uint8_t* lo) {
  const __m512i w01 = _mm512_packus_epi32(w0, w1), w23 = _mm512_packus_epi32(w2, w3);
  const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  const __m512i low_byte = _mm512_set1_epi16(0x00ff);
  const __m512i h = _mm512_packus_epi16(_mm512_srli_epi16(w01, 8), _mm512_srli_epi16(w23, 8));
  const __m512i l = _mm512_packus_epi16(_mm512_and_si512(w01, low_byte), _mm512_and_si512(w23, low_byte));
  _mm512_storeu_si512(hi, _mm512_permutexvar_epi32(order, h));
  _mm512_storeu_si512(lo, _mm512_permutexvar_epi32(order, l));
}

// 65535 e of 16 weights e.
FOLIO_AVX512 __m512 weights16(const float* e) {
  return _mm512_mul_ps(_mm512_loadu_ps(e), _mm512_set1_ps(kWeightOne));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void weights_to_u8_planes_avx512(const float* e, int n,
                                                                                      std::uint8_t* hi,
                                                                                      std::uint8_t* lo) {
  int j = 0;
  for (; j + 64 <= n; j += 64)
    store_planes64(unclamped16(weights16(e + j)), unclamped16(weights16(e + j + 16)),
                   unclamped16(weights16(e + j + 32)), unclamped16(weights16(e + j + 48)), hi + j, lo + j);
  for (; j + 16 <= n; j += 16) store_planes16(fixed16(weights16(e + j)), hi + j, lo + j);
  weights_to_u8_planes_scalar(e, n, hi, lo, j);
}

void weights_to_u8_planes(const float* e, int n, std::uint8_t* hi, std::uint8_t* lo) {
  if (cpu_has_avx512()) return weights_to_u8_planes_avx512(e, n, hi, lo);
  weights_to_u8_planes_scalar(e, n, hi, lo, 0);
}

// The int8 softmax weights in two AVX-512 passes: the scores t = (acc - 128 k_sum) k_scale with their
// maximum, then e = exp(a t - a max) with its sum and both u8 planes.
// Scores (acc - 128 k_sum) k_scale of keys [j, j + 16), lanes of m.
FOLIO_AVX512 __m512 int8_scores16(const std::int32_t* acc, const std::int32_t* k_sum, const float* k_scale, int j,
                                  __mmask16 m) {
  __m512i c = _mm512_maskz_loadu_epi32(m, acc + j);
  if (k_sum) c = _mm512_sub_epi32(c, _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m, k_sum + j), 7));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(c), _mm512_maskz_loadu_ps(m, k_scale + j));
}

// w = 65535 e, e = exp(a t - a_max) = 2^(a2 t - a2_max) (a2 = a log2(e), a2_max = a_max log2(e): the caller
// folds the base into its scale) for the lanes of m, 0 elsewhere and below exp_approx's clamp (e^-87.3 =
// 2^-126): the weights in their fixed-point unit, 65535 folded into the polynomial. They only need 16 bits,
// so 2^r on |r| <= 1/2 is a degree-4 polynomial (relative error < 2.7e-6) rather than exp_approx's degree 7.
// (unit: 1 for plain f32 exponentials, the tails' own.)
FOLIO_AVX512 __m512 exp16(const float* t, __mmask16 m, __m512 a2, __m512 a2_max, float unit = kWeightOne) {
  const __m512 x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, t), a2, a2_max);
  const ExpParts e = exp2_parts(x, unit);
  return _mm512_maskz_scalef_ps(_mm512_mask_cmp_ps_mask(m, x, _mm512_set1_ps(-126.0f), _CMP_GT_OQ), e.p, e.n);
}
#undef FOLIO_AVX512

// int8_scores_max_avx512's loop, compiled apart for a null k_sum (its test then leaves the loop).
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline float int8_scores_max_loop(
    const std::int32_t* acc, const std::int32_t* k_sum, const float* k_scale, int n, float* t) {
  // Full vectors unmasked; only the last, partial one is masked.
  const int full = n / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - full)) - 1);
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int j = 0; j < full; j += 16) {
    const __m512 v = int8_scores16(acc, k_sum, k_scale, j, 0xffff);
    _mm512_storeu_ps(t + j, v);
    vmax = _mm512_max_ps(vmax, v);
  }
  if (tail) {
    const __m512 v = int8_scores16(acc, k_sum, k_scale, full, tail);
    _mm512_mask_storeu_ps(t + full, tail, v);
    vmax = _mm512_mask_max_ps(vmax, tail, vmax, v);
  }
  return _mm512_reduce_max_ps(vmax);
}

// Pass 1: t = (acc - 128 k_sum) k_scale for keys [0, n), n > 0, into t; returns max t. Without k_sum, acc
// has the zero point's share taken off already (vnni_scores with k_sum).
__attribute__((target("avx512f,avx512bw,avx512vl"))) float int8_scores_max_avx512(const std::int32_t* acc,
                                                                                  const std::int32_t* k_sum,
                                                                                  const float* k_scale, int n, float* t) {
  if (!k_sum) return int8_scores_max_loop(acc, nullptr, k_scale, n, t);
  return int8_scores_max_loop(acc, k_sum, k_scale, n, t);
}

// Pass 2: e = exp(a (t - t_max)) for keys [0, n) as the two u8 planes, zeros for keys [n, keys); returns sum e.
// (The planes hold round(65535 e), which the exponentials give directly; their sum is divided back once.)
__attribute__((target("avx512f,avx512bw,avx512vl"))) float exp_planes_avx512(const float* t, int n, int keys,
                                                                             float t_max, float a, std::uint8_t* hi,
                                                                             std::uint8_t* lo) {
  const __m512 va = _mm512_set1_ps(a * kLog2e), a_max = _mm512_set1_ps(a * t_max * kLog2e);
  __m512 vsum = _mm512_setzero_ps();
  int j = 0;
  for (; j + 64 <= n; j += 64) {
    const __m512 w0 = exp16(t + j, 0xffff, va, a_max), w1 = exp16(t + j + 16, 0xffff, va, a_max);
    const __m512 w2 = exp16(t + j + 32, 0xffff, va, a_max), w3 = exp16(t + j + 48, 0xffff, va, a_max);
    vsum = _mm512_add_ps(vsum, _mm512_add_ps(_mm512_add_ps(w0, w1), _mm512_add_ps(w2, w3)));
    store_planes64(unclamped16(w0), unclamped16(w1), unclamped16(w2), unclamped16(w3), hi + j, lo + j);
  }
  for (; j + 16 <= n; j += 16) {
    const __m512 w = exp16(t + j, 0xffff, va, a_max);
    vsum = _mm512_add_ps(vsum, w);
    store_planes16(fixed16(w), hi + j, lo + j);
  }
  int zero_from = j;
  if (j < n) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512 wf = exp16(t + j, tail, va, a_max);  // 0 past n
    vsum = _mm512_add_ps(vsum, wf);
    const __m512i w = fixed16(wf);
    // A whole vector is stored when the row has room (a masked byte store is slow).
    if (j + 16 <= keys) {
      store_planes16(w, hi + j, lo + j);
      zero_from = j + 16;
    } else {
      _mm_mask_storeu_epi8(hi + j, tail, _mm512_cvtepi32_epi8(_mm512_srli_epi32(w, 8)));
      _mm_mask_storeu_epi8(lo + j, tail, _mm512_cvtepi32_epi8(_mm512_and_si512(w, _mm512_set1_epi32(255))));
      zero_from = n;
    }
  }
  std::fill(hi + zero_from, hi + keys, std::uint8_t{0});
  std::fill(lo + zero_from, lo + keys, std::uint8_t{0});
  return _mm512_reduce_add_ps(vsum) / kWeightOne;
}

// The sum of n bytes (n a multiple of 64), 64 at a time.
__attribute__((target("avx512f,avx512bw,avx512vl"))) std::uint64_t byte_sum_avx512(const std::uint8_t* p, int n) {
  __m512i acc = _mm512_setzero_si512();
  for (int j = 0; j < n; j += 64) acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_loadu_si512(p + j), _mm512_setzero_si512()));
  return static_cast<std::uint64_t>(_mm512_reduce_add_epi64(acc));
}

// The int8 softmax row of softmax_row<Int8> below in two passes instead of four.
float softmax_row_int8_avx512(const std::int32_t* acc, const std::int32_t* k_sum, const float* k_scale, float a,
                              int visible, int keys, float* t, std::uint8_t* hi, std::uint8_t* lo) {
  const float t_max = int8_scores_max_avx512(acc, k_sum, k_scale, visible, t);
  return exp_planes_avx512(t, visible, keys, t_max, a, hi, lo);
}
#pragma GCC diagnostic pop

// The softmax weights of one row: e = exp(s - max) for its visible keys, 0 for keys [visible, keys), written
// into the P row(s) in the product type; returns the sum of e. Two passes over the row: the maximum, then the
// exponentials with their sum and conversion. For int8 the scores are made from the s32 products on the way
// (zero-point correction, Q and K scales); `s` holds the f32 scores between the two passes.
// s = (acc - 128 k_sum) k_scale a for n keys; without k_sum, acc has the zero point's share taken off already
// (vnni_scores with k_sum). Inlined into each caller's ISA clones.
[[gnu::always_inline]] inline void int8_scores_row(const std::int32_t* acc, int n, const std::int32_t* k_sum,
                                                   const float* k_scale, float a, float* s) {
  if (!k_sum) {
#pragma omp simd
    for (int j = 0; j < n; ++j) s[j] = static_cast<float>(acc[j]) * a * k_scale[j];
    return;
  }
#pragma omp simd
  for (int j = 0; j < n; ++j) s[j] = static_cast<float>(acc[j] - 128 * k_sum[j]) * a * k_scale[j];
}

template <AttentionProducts P>
[[gnu::always_inline]] inline float softmax_row(const float* scores_f32, const std::int32_t* acc,
                                                const std::int32_t* k_sum, const float* k_scale, float a, int visible,
                                                int keys, float* s, void* p_row, std::uint8_t* lo) {
  if constexpr (P == AttentionProducts::Int8) {
    int8_scores_row(acc, visible, k_sum, k_scale, a, s);
  } else {
#pragma omp simd
    for (int j = 0; j < visible; ++j) s[j] = scores_f32[j] * a;
  }
  float mx = s[0];
  for (int j = 1; j < visible; ++j) mx = s[j] > mx ? s[j] : mx;  // a vector max (finite math, see CMakeLists)
  float sum = 0.0f;
  if constexpr (P == AttentionProducts::F32) {
    float* pf = static_cast<float*>(p_row);
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < visible; ++j) {
      pf[j] = exp_approx(s[j] - mx);
      sum += pf[j];
    }
    std::fill(pf + visible, pf + keys, 0.0f);
  } else if constexpr (P == AttentionProducts::Bf16) {
    std::uint16_t* pb = static_cast<std::uint16_t*>(p_row);
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < visible; ++j) {
      const float e = exp_approx(s[j] - mx);
      pb[j] = bf16_of(e);
      sum += e;
    }
    std::fill(pb + visible, pb + keys, std::uint16_t{0});
  } else {
    std::uint8_t* hi = static_cast<std::uint8_t*>(p_row);
    // Exponentials in place (a float-only loop vectorises at full width), then the two planes.
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < visible; ++j) {
      s[j] = exp_approx(s[j] - mx);
      sum += s[j];
    }
    weights_to_u8_planes(s, visible, hi, lo);
    std::fill(hi + visible, hi + keys, std::uint8_t{0});
    std::fill(lo + visible, lo + keys, std::uint8_t{0});
  }
  return sum;
}

// Compiled per ISA with each precision's loops inlined: one dispatch, one set of clones.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) float softmax_weights(
    AttentionProducts products, const float* scores_f32, const std::int32_t* acc, const std::int32_t* k_sum,
    const float* k_scale, float a, int visible, int keys, float* s, void* p_row, std::uint8_t* lo) {
  switch (products) {
    case AttentionProducts::F32:
      return softmax_row<AttentionProducts::F32>(scores_f32, acc, k_sum, k_scale, a, visible, keys, s, p_row, lo);
    case AttentionProducts::Bf16:
      return softmax_row<AttentionProducts::Bf16>(scores_f32, acc, k_sum, k_scale, a, visible, keys, s, p_row, lo);
    case AttentionProducts::Int8:
      return softmax_row<AttentionProducts::Int8>(scores_f32, acc, k_sum, k_scale, a, visible, keys, s, p_row, lo);
  }
  return 0.0f;
}

// The buffers of one item: Q of its rows in the product type (rows from `rows` to `rows_pad` are padding:
// zero, or int8's zero point), and the scores, weights and output of its two products.
struct ItemBuffers {
  void *q = nullptr, *s = nullptr, *p = nullptr, *o = nullptr;
  const void *k = nullptr, *v = nullptr;
  std::size_t qn = 0, sn = 0;  // elements of one plane of Q and O, of S and P
};

// Q already quantised for this item's rows (u8 rows hd apart, and their scales), or none.
struct QuantisedQ {
  const std::uint8_t* q = nullptr;
  const float* scales = nullptr;
};

template <typename QRow>
ItemBuffers item_buffers(AttentionProducts products, const PackedKv& pk, int g, int rows, int rows_pad, int keys,
                         QRow q_row, ItemScratch& sc, QuantisedQ given = {}) {
  const int hd = pk.hd;
  const std::size_t kv_at = static_cast<std::size_t>(g) * pk.padded * hd;
  ItemBuffers b;
  b.qn = static_cast<std::size_t>(rows_pad) * hd;
  b.sn = static_cast<std::size_t>(rows_pad) * keys;
  const std::size_t real = static_cast<std::size_t>(rows) * hd;
  switch (products) {
    case AttentionProducts::F32: {
      float* qf = grown(sc.qf, b.qn);
      for (int r = 0; r < rows; ++r) std::copy_n(q_row(r), hd, qf + static_cast<std::size_t>(r) * hd);
      std::fill(qf + real, qf + b.qn, 0.0f);
      b.q = qf, b.s = grown(sc.sf, b.sn), b.p = grown(sc.pf, b.sn), b.o = grown(sc.of, b.qn);
      b.k = pk.kf.data() + kv_at, b.v = pk.vf.data() + kv_at;
      break;
    }
    case AttentionProducts::Bf16: {
      std::uint16_t* qb = grown(sc.qb, b.qn);
      for (int r = 0; r < rows; ++r)
        for (int t = 0; t < hd; ++t) qb[static_cast<std::size_t>(r) * hd + t] = bf16_of(q_row(r)[t]);
      std::fill(qb + real, qb + b.qn, std::uint16_t{0});
      b.q = qb, b.s = grown(sc.sf, b.sn), b.p = grown(sc.pb, b.sn), b.o = grown(sc.of, b.qn);
      b.k = pk.kb.data() + kv_at, b.v = pk.vb.data() + kv_at;
      break;
    }
    case AttentionProducts::Int8: {
      float* qs = grown(sc.q_scale, rows_pad);
      if (given.q) {  // the VNNI products read the item's rows alone: no padding rows
        std::copy_n(given.scales, rows, qs);
        b.q = const_cast<std::uint8_t*>(given.q);
      } else {
        std::uint8_t* q8 = grown(sc.q8, b.qn);
        for (int r = 0; r < rows; ++r) {
          if (r + kPrefetchAhead < rows) prefetch_values(q_row(r + kPrefetchAhead), hd);
          qs[r] = quantize_query(q_row(r), hd, q8 + static_cast<std::size_t>(r) * hd);
        }
        std::fill(q8 + real, q8 + b.qn, std::uint8_t{128});
        b.q = q8;
      }
      b.s = grown(sc.s32, b.sn), b.p = grown(sc.p8, 2 * b.sn), b.o = grown(sc.o32, 2 * b.qn);
      b.k = pk.k8.data() + kv_at, b.v = pk.v8.data() + kv_at;
      break;
    }
  }
  return b;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(dnnl_engine());
  return stream;
}

// S = Q·Kᵀ over the item's rows_pad rows and `keys` keys.
void scores_product(const BlockPrimitives& bp, const ItemBuffers& b, AttentionProducts products, int rows_pad,
                    int keys, int hd) {
  const auto& eng = dnnl_engine();
  dnnl::memory qm(dnnl::memory::desc({rows_pad, hd}, src_type(products), dims{hd, 1}), eng, b.q);
  dnnl::memory km(dnnl::memory::desc({hd, keys}, weight_type(products), dims{1, hd}), eng, const_cast<void*>(b.k));
  dnnl::memory sm(dnnl::memory::desc({rows_pad, keys}, acc_type(products), dims{keys, 1}), eng, b.s);
  bp.scores.execute(thread_stream(), {{DNNL_ARG_SRC, qm},
                                      {DNNL_ARG_WEIGHTS, km},
                                      {DNNL_ARG_DST, sm},
                                      {DNNL_ARG_SCRATCHPAD, thread_scratchpad(bp.scores_scratchpad)}});
  thread_stream().wait();
}

// O = P·V for every plane of P.
void values_product(const BlockPrimitives& bp, const ItemBuffers& b, AttentionProducts products, int rows_pad,
                    int keys, int hd) {
  const auto& eng = dnnl_engine();
  const dnnl::memory::dim PR = static_cast<dnnl::memory::dim>(rows_pad) * p_planes(products);
  dnnl::memory pm(dnnl::memory::desc({PR, keys}, src_type(products), dims{keys, 1}), eng, b.p);
  dnnl::memory vm(dnnl::memory::desc({keys, hd}, weight_type(products), dims{hd, 1}), eng, const_cast<void*>(b.v));
  dnnl::memory om(dnnl::memory::desc({PR, hd}, acc_type(products), dims{hd, 1}), eng, b.o);
  bp.values.execute(thread_stream(), {{DNNL_ARG_SRC, pm},
                                      {DNNL_ARG_WEIGHTS, vm},
                                      {DNNL_ARG_DST, om},
                                      {DNNL_ARG_SCRATCHPAD, thread_scratchpad(bp.values_scratchpad)}});
  thread_stream().wait();
}

// o[t] = (256 hi[t] + lo[t]) v_scale[t] f: one row of the int8 P·V (lo null: no low plane). Cloned per ISA:
// the caller is built for the baseline and this loop ran 4 wide (6% of the vision encoder's attention).
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void int8_output_row(
    const std::int32_t* ohi, const std::int32_t* olo, const float* vs, float f, int hd, float* o) {
  if (!olo) {
#pragma omp simd
    for (int t = 0; t < hd; ++t) o[t] = static_cast<float>(ohi[t]) * 256.0f * vs[t] * f;
    return;
  }
#pragma omp simd
  for (int t = 0; t < hd; ++t) o[t] = (static_cast<float>(ohi[t]) * 256.0f + static_cast<float>(olo[t])) * vs[t] * f;
}

// Whether a row of int8 softmax weights may drop its low plane: normalised by the sum of the high-plane
// weights it keeps, the output then moves by about sqrt(sum lo^2) / (256 sum hi) times V's spread (the
// dropped parts act as independent perturbations of the weights), and sum lo^2 <= 255 sum lo. Below
// 2^-10 that is well under V's own s8 rounding (about 0.3% of its range). Flat rows qualify; a row with one
// dominant weight and a long tail of small ones (an attention sink) keeps both planes, since its tail would
// round away.
bool high_plane_suffices(std::uint64_t hi_sum, std::uint64_t lo_sum) {
  constexpr double kTolerance = 1.0 / 1024;
  const double kept = 256.0 * static_cast<double>(hi_sum);
  return 255.0 * static_cast<double>(lo_sum) < kTolerance * kTolerance * kept * kept;
}

// Row r of int8 softmax weights, just written in its two planes (row r of each, `keys` bytes), whose index
// among the low planes kept so far is lo_of[r] (= lo_rows - 1): drops its low plane where the high plane
// suffices, returning the weights kept (in the units of the exponentials), or moves its low plane down to
// row lo_of[r], as P·V over the low planes that run reads them, and returns a negative value.
float settle_low_plane(std::uint8_t* p8, std::size_t sn, int keys, int r, int* lo_of, int& lo_rows) {
  const std::size_t at = static_cast<std::size_t>(r) * keys;
  const std::uint64_t hi_sum = byte_sum_avx512(p8 + at, keys);
  if (high_plane_suffices(hi_sum, byte_sum_avx512(p8 + sn + at, keys))) {
    lo_of[r] = -1;
    --lo_rows;
    return static_cast<float>(256.0 * static_cast<double>(hi_sum) / kWeightOne);
  }
  if (lo_of[r] < r) std::memcpy(p8 + sn + static_cast<std::size_t>(lo_of[r]) * keys, p8 + sn + at, keys);
  return -1.0f;
}

// P·V on the VNNI loops: the high planes of `rows` rows, then the `lo_rows` low planes that run. With
// row_keys (and lo_keys for the low planes), the keys each row sees (vnni_values).
void vnni_plane_values(const ItemBuffers& b, int rows, int lo_rows, int keys, int hd, const int* row_keys = nullptr,
                       const int* lo_keys = nullptr) {
  vnni_values(static_cast<const std::uint8_t*>(b.p), rows, keys, static_cast<const std::int8_t*>(b.v), hd,
              static_cast<std::int32_t*>(b.o), row_keys);
  vnni_values(static_cast<const std::uint8_t*>(b.p) + b.sn, lo_rows, keys, static_cast<const std::int8_t*>(b.v), hd,
              static_cast<std::int32_t*>(b.o) + b.qn, lo_keys);
}

// Row r of P·V as floats (int8: its planes, V's channel scales, the weights' unit), times `inv`. lo_row: the
// row's index among the low-plane products, or -1 when it has only the high plane (then inv is over the
// high-plane weights, in units of 256 / 65535).
void output_row(const ItemBuffers& b, AttentionProducts products, const PackedKv& pk, int g, int r, int lo_row,
                float inv, float* o) {
  const int hd = pk.hd;
  if (products == AttentionProducts::Int8) {
    const std::int32_t* ohi = static_cast<const std::int32_t*>(b.o) + static_cast<std::size_t>(r) * hd;
    const std::int32_t* olo =
        lo_row < 0 ? nullptr : static_cast<const std::int32_t*>(b.o) + b.qn + static_cast<std::size_t>(lo_row) * hd;
    const float* vs = pk.v_scale.data() + static_cast<std::size_t>(g) * hd;
    int8_output_row(ohi, olo, vs, inv / kWeightOne, hd, o);
  } else {
    const float* of = static_cast<const float*>(b.o) + static_cast<std::size_t>(r) * hd;
    for (int t = 0; t < hd; ++t) o[t] = of[t] * inv;
  }
}

// Weight rows [from, to) of P set to zero, every plane.
void zero_weight_rows(const ItemBuffers& b, AttentionProducts products, int keys, int from, int to) {
  const std::size_t a = static_cast<std::size_t>(from) * keys, e = static_cast<std::size_t>(to) * keys;
  switch (products) {
    case AttentionProducts::F32: std::fill(static_cast<float*>(b.p) + a, static_cast<float*>(b.p) + e, 0.0f); break;
    case AttentionProducts::Bf16:
      std::fill(static_cast<std::uint16_t*>(b.p) + a, static_cast<std::uint16_t*>(b.p) + e, std::uint16_t{0});
      break;
    case AttentionProducts::Int8: {
      std::uint8_t* p8 = static_cast<std::uint8_t*>(b.p);
      std::fill(p8 + a, p8 + e, std::uint8_t{0});
      std::fill(p8 + b.sn + a, p8 + b.sn + e, std::uint8_t{0});
      break;
    }
  }
}

void run_item(const float* q, const AttentionShape& s, const PackedKv& pk, AttentionProducts products, float scale,
              int h, int i0, int rows, float* out, QuantisedQ given = {}) {
  const int group = s.heads / s.kv_heads, g = h / group, hd = s.head_dim;
  const bool causal = s.first_query_position >= 0;
  const int rows_pad = round_up(rows, 16);
  const int seen = causal ? std::min(s.keys, s.first_query_position + i0 + rows) : s.keys;
  const int keys = std::min(pk.padded, round_up(seen, kKeyAlign));
  const BlockPrimitives* bp = pk.vnni ? nullptr : &block_primitives(products, rows_pad, keys, hd);
  thread_local ItemScratch sc;
  float* row = grown(sc.row, keys);
  auto q_row = [&](int r) { return q + static_cast<std::size_t>(i0 + r) * s.q_stride + static_cast<std::size_t>(h) * hd; };

  const ItemBuffers b = item_buffers(products, pk, g, rows, rows_pad, keys, q_row, sc, given);
  // The keys each row sees (its softmax's, and what the VNNI products of its block of rows multiply): a
  // causal block's early rows stop short of its last, and no row reads the padding keys.
  int* row_keys = grown(sc.row_keys, 2 * static_cast<std::size_t>(rows_pad));
  for (int r = 0; r < rows; ++r)
    row_keys[r] = causal ? std::min(s.keys, s.first_query_position + i0 + r + 1) : s.keys;
  const std::size_t kg = static_cast<std::size_t>(g) * pk.padded;
  // The int8 scores' zero-point share: taken off in the VNNI product's accumulators, else in the softmax.
  const std::int32_t* const k_sum_left = pk.vnni ? nullptr : pk.k_sum.data() + kg;
  if (pk.vnni)
    vnni_scores(static_cast<const std::uint8_t*>(b.q), rows, hd, static_cast<const std::int8_t*>(b.k), keys,
                static_cast<std::int32_t*>(b.s), row_keys, pk.k_sum.data() + kg);
  else
    scores_product(*bp, b, products, rows_pad, keys, hd);
  // Softmax weights, row by row; padded rows of P stay zero.
  const bool avx512 = cpu_has_avx512();
  float* sums = grown(sc.sums, rows_pad);
  // Each row's index among the rows whose low weight plane runs, -1 for none. Only the VNNI path drops
  // planes (a row's own choice); the low planes that run are moved together, in row order, as it goes.
  int* lo_of = grown(sc.lo_of, rows_pad);
  int lo_rows = 0;
  for (int r = 0; r < rows; ++r) {
    const std::size_t at = static_cast<std::size_t>(r) * keys;
    // The row's output lines, written at the end of the item, come in meanwhile: stored cold, they had
    // left the cache since the last layer and stalled the output loop on their misses.
    const float* o_row = out + static_cast<std::size_t>(i0 + r) * s.out_stride + static_cast<std::size_t>(h) * hd;
    for (int t = 0; t < hd; t += 16) prefetch_for_writing(o_row + t);
    lo_of[r] = lo_rows++;
    if (products == AttentionProducts::Int8 && avx512) {
      std::uint8_t* p8 = static_cast<std::uint8_t*>(b.p);
      sums[r] = softmax_row_int8_avx512(static_cast<const std::int32_t*>(b.s) + at, k_sum_left,
                                        pk.k_scale.data() + kg, sc.q_scale[r] * scale, row_keys[r], keys, row,
                                        p8 + at, p8 + b.sn + at);
      if (!pk.vnni) continue;
      if (const float kept = settle_low_plane(p8, b.sn, keys, r, lo_of, lo_rows); kept >= 0.0f) sums[r] = kept;
    } else if (products == AttentionProducts::Int8) {
      std::uint8_t* p8 = static_cast<std::uint8_t*>(b.p);
      sums[r] = softmax_weights(products, nullptr, static_cast<const std::int32_t*>(b.s) + at, k_sum_left,
                                pk.k_scale.data() + kg, sc.q_scale[r] * scale, row_keys[r], keys, row, p8 + at,
                                p8 + b.sn + at);
    } else {
      const std::size_t elem = products == AttentionProducts::F32 ? sizeof(float) : sizeof(std::uint16_t);
      sums[r] = softmax_weights(products, static_cast<const float*>(b.s) + at, nullptr, nullptr, nullptr, scale,
                                row_keys[r], keys, row, static_cast<char*>(b.p) + at * elem, nullptr);
    }
  }
  if (pk.vnni) {
    int* lo_keys = row_keys + rows_pad;
    for (int r = 0; r < rows; ++r)
      if (lo_of[r] >= 0) lo_keys[lo_of[r]] = row_keys[r];
    vnni_plane_values(b, rows, lo_rows, keys, hd, row_keys, lo_keys);
  } else {
    zero_weight_rows(b, products, keys, rows, rows_pad);
    values_product(*bp, b, products, rows_pad, keys, hd);
  }
  for (int r = 0; r < rows; ++r)
    output_row(b, products, pk, g, r, lo_of[r], 1.0f / sums[r],
               out + static_cast<std::size_t>(i0 + r) * s.out_stride + static_cast<std::size_t>(h) * hd);
}

bool native_bf16_products() {
  static const bool native = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core_bf16;
  return native;
}

AttentionProducts effective(AttentionProducts p) {
  return p == AttentionProducts::Bf16 && !native_bf16_products() ? AttentionProducts::F32 : p;
}

// Prefix scores of one row from the int8 products: zero-point correction, Q and K scales.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void int8_scores(const std::int32_t* acc, int n,
                                                                                       const std::int32_t* k_sum,
                                                                                       const float* k_scale, float a,
                                                                                       float* s) {
  int8_scores_row(acc, n, k_sum, k_scale, a, s);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// e^(x - mx) in place over a row's tail keys, returning their sum: 16 at a time through exp16 with a unit of
// 1, the last vector masked (a tail is a few dozen keys: a scalar remainder loop took as long as the vectors).
__attribute__((target("avx512f,avx512bw,avx512vl"))) float exp_shifted_avx512(float* x, int n, float mx) {
  const __m512 l2e = _mm512_set1_ps(kLog2e), m2 = _mm512_set1_ps(mx * kLog2e);
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512 w = exp16(x + j, m, l2e, m2, 1.0f);
    _mm512_mask_storeu_ps(x + j, m, w);
    sum = _mm512_add_ps(sum, w);
  }
  return _mm512_reduce_add_ps(sum);
}
#pragma GCC diagnostic pop

// Rows of a decode item from which it fetches ahead what it reads from memory: the prefix's K and V (the
// weights' stream keeps them out of the caches between steps) and the questions' tails. One question's three
// rows leave no time to hide the fetches in.
constexpr int kFetchAheadRows = 8;

// A tail's `keys` rows of one kv head (hd values, f32 or bf16, `stride` apart) into the cache
// (prefetch_values' Locality).
template <int Locality, typename T>
void prefetch_tail(const T* x, int keys, std::size_t stride, int hd) {
  for (int j = 0; j < keys; ++j) prefetch_values<Locality>(x + j * stride, hd);
}

// One kv head of rows that share the packed prefix: every query vector of its group (row r, head in
// group hh: vector r * group + hh) as one matrix, so that its K and V are read once and a decode step runs
// two products per kv head. Q·Kᵀ over the packed prefix, each row's own tail scores from the cache, one
// softmax over both, P·V over the packed prefix plus the tail's values.
void prefix_item(const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges* ranges,
                 const TokenMajorTails& tails, const PackedKv& pk, float scale, int g, int m0, int m1, float* out) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim, rows = m1 - m0, P = pk.keys, keys = pk.padded;
  const AttentionProducts products = pk.products;
  const BlockPrimitives* bp = pk.vnni ? nullptr : &block_primitives(products, rows, keys, hd);
  thread_local ItemScratch sc;
  const std::size_t kg = static_cast<std::size_t>(g) * keys;
  int max_tail = 0;
  for (int r = 0; r < s.queries; ++r) max_tail = std::max(max_tail, ranges[r].tail);
  const std::size_t row_len = static_cast<std::size_t>(keys) + max_tail;
  float* const row_all = grown(sc.row, static_cast<std::size_t>(rows) * row_len);
  auto head_of = [&](int m) { return static_cast<std::size_t>(g) * group + m % group; };
  auto q_row = [&](int m) { return q + static_cast<std::size_t>(m / group) * s.q_stride + head_of(m) * hd; };
  auto q_local = [&](int r) { return q_row(m0 + r); };

  const ItemBuffers b = item_buffers(products, pk, g, rows, rows, keys, q_local, sc);
  // The item's rows come in runs of one question's query heads, which share that question's tail keys.
  auto for_each_run = [&](auto&& f) {
    for (int r0 = 0, r1; r0 < rows; r0 = r1) {
      r1 = r0 + 1;
      while (r1 < rows && (m0 + r1) / group == (m0 + r0) / group) ++r1;
      f(r0, r1, ranges[(m0 + r0) / group]);
    }
  };
  // A tail read from the bf16 copies (the int8 engine's): its row j's K, or V, at [j * tails.stride] there.
  const auto bf16_tail = [&](const KeyRanges& kr) { return tails.k16 && kr.tail_begin >= tails.first; };
  const auto tail16 = [&](const std::uint16_t* x, const KeyRanges& kr) {
    return x + static_cast<std::size_t>(kr.tail_begin - tails.first) * tails.stride + static_cast<std::size_t>(g) * hd;
  };
  const bool fetch_ahead = pk.vnni && rows >= kFetchAheadRows;
  if (fetch_ahead)  // the tails' K, for the tail scores after the prefix's
    for_each_run([&](int, int, const KeyRanges& kr) {
      if (bf16_tail(kr)) return prefetch_tail<3>(tail16(tails.k16, kr), kr.tail, tails.stride, hd);
      const KeyRun tk = key_run(k, s, tails, g, kr.tail_begin);
      if (tk.dim_stride == 1) prefetch_tail<3>(tk.k, kr.tail, tk.token_stride, hd);
    });
  // The int8 scores' zero-point share: taken off in the VNNI product's accumulators, else in the softmax.
  const std::int32_t* const k_sum_left = pk.vnni ? nullptr : pk.k_sum.data() + kg;
  if (pk.vnni)
    vnni_scores(static_cast<const std::uint8_t*>(b.q), rows, hd, static_cast<const std::int8_t*>(b.k), keys,
                static_cast<std::int32_t*>(b.s), nullptr, pk.k_sum.data() + kg, fetch_ahead);
  else
    scores_product(*bp, b, products, rows, keys, hd);
  float* sums = grown(sc.sums, rows);
  const bool avx512 = cpu_has_avx512();
  thread_local std::vector<const float*> in_rows;
  thread_local std::vector<float*> out_rows;
  in_rows.resize(rows);
  out_rows.resize(rows);
  // Each row's tail scores, after its prefix scores in its row.
  for_each_run([&](int r0, int r1, const KeyRanges& kr) {
    for (int r = r0; r < r1; ++r) {
      in_rows[r] = q_local(r);
      out_rows[r] = row_all + r * row_len + P;
    }
    if (bf16_tail(kr))
      return tail_scores(in_rows.data() + r0, r1 - r0, tail16(tails.k16, kr), hd, tails.stride, kr.tail, scale,
                         out_rows.data() + r0);
    const KeyRun tk = key_run(k, s, tails, g, kr.tail_begin);
    tail_scores(in_rows.data() + r0, r1 - r0, tk.k, hd, tk.dim_stride, tk.token_stride, kr.tail, scale,
                out_rows.data() + r0);
  });
  // Each row's index among the low weight planes that run (-1: none), as in run_item.
  int* lo_of = grown(sc.lo_of, rows);
  int lo_rows = 0;
  for (int r = 0; r < rows; ++r) {
    const KeyRanges& kr = ranges[(m0 + r) / group];
    float* row = row_all + r * row_len;
    lo_of[r] = lo_rows++;
    const std::size_t at = static_cast<std::size_t>(r) * keys;
    const float a = products == AttentionProducts::Int8 ? sc.q_scale[r] * scale : scale;  // Q's scale in int8
    if (products == AttentionProducts::Int8 && avx512 && a > 0.0f && P > 0) {
      // Two passes over the prefix: its scores and their maximum, then (with the tail's maximum) its
      // weights straight into the planes; the tail's weights stay f32 for the exact tail values. The
      // prefix's scores go through one row of scratch that stays in L1: in the row's own place, ten
      // questions' 30 rows took every pass through L2 (their softmax 16-20% faster, the attention 4-6%).
      float* t = grown(sc.prefix_scores, keys);
      const float t_max = int8_scores_max_avx512(static_cast<const std::int32_t*>(b.s) + at, k_sum_left,
                                                 pk.k_scale.data() + kg, P, t);
      float* tail = row + P;
      float mx = a * t_max;
      for (int j = 0; j < kr.tail; ++j) mx = std::max(mx, tail[j]);
      std::uint8_t* hi = static_cast<std::uint8_t*>(b.p) + at;
      const float prefix_sum = exp_planes_avx512(t, P, keys, mx / a, a, hi, hi + b.sn);
      // The prefix's V, for P·V next, into L2 a slice a row while the softmax runs; each question's tail
      // V at its first row.
      if (fetch_ahead) {
        const long lines = static_cast<long>(keys) * hd / 64;
        prefetch_lines_to_l2(b.v, lines * r / rows, lines * (r + 1) / rows);
        if (r == 0 || (m0 + r) % group == 0) {
          if (bf16_tail(kr))
            prefetch_tail<2>(tail16(tails.v16, kr), kr.tail, tails.stride, hd);
          else
            prefetch_tail<2>(v + static_cast<std::size_t>(kr.tail_begin) * s.kv_stride + static_cast<std::size_t>(g) * hd,
                             kr.tail, s.kv_stride, hd);
        }
      }
      const float tail_sum = exp_shifted_avx512(tail, kr.tail, mx);
      sums[r] = prefix_sum + tail_sum;
      if (!pk.vnni) continue;
      // As in run_item: a flat row's prefix runs P·V on its high plane alone, normalised by the weights kept.
      const float kept = settle_low_plane(static_cast<std::uint8_t*>(b.p), b.sn, keys, r, lo_of, lo_rows);
      if (kept >= 0.0f) sums[r] = kept + tail_sum;
      continue;
    }
    if (products == AttentionProducts::Int8)
      int8_scores(static_cast<const std::int32_t*>(b.s) + at, P, k_sum_left, pk.k_scale.data() + kg, a, row);
    else
      for (int j = 0; j < P; ++j) row[j] = static_cast<const float*>(b.s)[at + j] * scale;
    sums[r] = exp_minus_max(row, P + kr.tail).sum;
    switch (products) {
      case AttentionProducts::F32: std::copy_n(row, P, static_cast<float*>(b.p) + at); break;
      case AttentionProducts::Bf16:
        for (int j = 0; j < P; ++j) static_cast<std::uint16_t*>(b.p)[at + j] = bf16_of(row[j]);
        break;
      case AttentionProducts::Int8: {
        std::uint8_t* hi = static_cast<std::uint8_t*>(b.p) + at;
        weights_to_u8_planes(row, P, hi, hi + b.sn);
        // Both planes run; on the VNNI path the low one goes down to its place among those that do (a row
        // of Q all zero, after a flat row: its low plane would otherwise be read from another row's place).
        if (pk.vnni && lo_of[r] < r) {
          std::uint8_t* lo = static_cast<std::uint8_t*>(b.p) + b.sn + static_cast<std::size_t>(lo_of[r]) * keys;
          std::memcpy(lo, hi + b.sn, P);
          std::fill_n(lo + P, keys - P, std::uint8_t{0});
        }
        break;
      }
    }
  }
  // Padded keys of every row get weight 0.
  for (int r = 0; r < rows; ++r) {
    const std::size_t at = static_cast<std::size_t>(r) * keys;
    switch (products) {
      case AttentionProducts::F32: std::fill_n(static_cast<float*>(b.p) + at + P, keys - P, 0.0f); break;
      case AttentionProducts::Bf16: std::fill_n(static_cast<std::uint16_t*>(b.p) + at + P, keys - P, std::uint16_t{0}); break;
      case AttentionProducts::Int8:
        std::fill_n(static_cast<std::uint8_t*>(b.p) + at + P, keys - P, std::uint8_t{0});
        std::fill_n(static_cast<std::uint8_t*>(b.p) + b.sn + at + P, keys - P, std::uint8_t{0});
        break;
    }
  }
  if (pk.vnni)
    vnni_plane_values(b, rows, lo_rows, keys, hd);
  else
    values_product(*bp, b, products, rows, keys, hd);
  // Each row's prefix output, then its tail's values added and the whole normalised.
  thread_local std::vector<float> inv;
  inv.resize(rows);
  for_each_run([&](int r0, int r1, const KeyRanges& kr) {
    for (int r = r0; r < r1; ++r) {
      out_rows[r] = out + static_cast<std::size_t>((m0 + r) / group) * s.out_stride + head_of(m0 + r) * hd;
      output_row(b, products, pk, g, r, lo_of[r], 1.0f, out_rows[r]);
      in_rows[r] = row_all + r * row_len + P;
      inv[r] = 1.0f / sums[r];
    }
    if (bf16_tail(kr))
      return tail_values(in_rows.data() + r0, r1 - r0, tail16(tails.v16, kr), hd, tails.stride, kr.tail,
                         inv.data() + r0, out_rows.data() + r0);
    tail_values(in_rows.data() + r0, r1 - r0,
                v + static_cast<std::size_t>(kr.tail_begin) * s.kv_stride + static_cast<std::size_t>(g) * hd, hd,
                s.kv_stride, kr.tail, inv.data() + r0, out_rows.data() + r0);
  });
}

}  // namespace

void pack_kv(const float* k, const float* v, const AttentionShape& s, PackedKv& out) {
  pack_into(k, v, s, effective(s.products), vnni_products_for(s.head_dim), out);
}

void attention_packed_prefix(const float* q, const float* k, const float* v, const AttentionShape& s,
                             const KeyRanges* ranges, const PackedKv& prefix, float scale, float* out,
                             const TokenMajorTails& tails) {
  // The (kv head, query row) pairs on one line, cut into one equal piece per thread: a thread's items are
  // the heads, or parts of heads, in its piece, so only a head cut between two threads has its K and V read
  // twice. (Two parts per head, handed out as they come, read every head twice: a decode layer's attention
  // took 8-16% longer for one question and 1-3% for ten, in-engine and alternating.)
  const int rows = s.queries * (s.heads / s.kv_heads), total = s.kv_heads * rows;
#pragma omp parallel
  {
    const int n = omp_get_num_threads(), t = omp_get_thread_num();
    const int end = static_cast<int>(static_cast<long>(total) * (t + 1) / n);
    for (int u = static_cast<int>(static_cast<long>(total) * t / n); u < end;) {
      const int g = u / rows, m0 = u % rows, m1 = std::min(rows, m0 + (end - u));
      prefix_item(q, k, v, s, ranges, tails, prefix, scale, g, m0, m1, out);
      u += m1 - m0;
    }
  }
}

void attention_query_blocks(const float* q, const float* k, const float* v, const AttentionShape& s, float scale,
                            float* out) {
  const AttentionProducts products = effective(s.products);
  thread_local PackedKv packed;
  pack_into(k, v, s, products, vnni_products_for(s.head_dim), packed);
  const PackedKv& pk = packed;
  const int padded_keys = round_up(s.keys, kKeyAlign);
  const int block = std::clamp(static_cast<int>(kScoreBytes / (4u * padded_keys)) / 16 * 16, 16, 256);
  const int blocks = (s.queries + block - 1) / block;
  const int items = s.heads * blocks;
  // On the VNNI path Q is quantised up front, each thread the rows q|k|v's epilogue wrote on it, row by row
  // in order (every head of a row at once), rather than by each item, head by head, from rows a whole
  // activation row apart and half of them in the other core: a vision layer's attention 3.8-5.3% faster,
  // a prefill's 0.6-3%, timed call by call in the engine.
  const bool up_front = pk.vnni && products == AttentionProducts::Int8;
  thread_local std::vector<std::uint8_t> q8_all;
  thread_local std::vector<float> qs_all;
  const std::size_t Q = s.queries, hd = s.head_dim;
  std::uint8_t* const q8 = up_front ? grown(q8_all, s.heads * Q * hd) : nullptr;  // [head][query][hd]
  float* const qs = up_front ? grown(qs_all, s.heads * Q) : nullptr;
#pragma omp parallel
  {
    if (up_front) {
      const int n = omp_get_num_threads(), t = omp_get_thread_num();
      for (std::size_t r = Q * t / n; r < Q * (t + 1) / n; ++r)
        for (int h = 0; h < s.heads; ++h)
          qs[h * Q + r] = quantize_query(q + r * s.q_stride + h * hd, s.head_dim, q8 + (h * Q + r) * hd);
#pragma omp barrier
    }
    // Later causal blocks see more keys: hand them out first.
#pragma omp for schedule(dynamic, 1)
    for (int w = 0; w < items; ++w) {
      const int b = blocks - 1 - w / s.heads, h = w % s.heads;
      const int i0 = b * block;
      const QuantisedQ given = up_front ? QuantisedQ{q8 + (h * Q + i0) * hd, qs + h * Q + i0} : QuantisedQ{};
      run_item(q, s, pk, products, scale, h, i0, std::min(block, s.queries - i0), out, given);
    }
  }
}

}  // namespace folio::engine::kernels
