#include "engine/kernels/attention.hpp"
#include "engine/kernels/attention_blocks.hpp"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "engine/kernels/dnnl_context.hpp"
#include "engine/kernels/softmax.hpp"
#include "engine/kernels/vector_math.hpp"

namespace folio::engine::kernels {
namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;

// Below this many queries (decode steps), the ranged row kernel beats setting up matmuls.
constexpr int kMinQueriesForMatmul = 8;
// Keys per partial softmax in the row kernel.
constexpr int kKeyBlock = 256;

// One work item: a kv head, a span of contiguous keys, and the query rows that see it (every row for a
// shared prompt prefix, one row for its own tail). For each row and query head of the group it leaves the
// span's max score, sum of exponentials and exp-weighted sum of values (a partial softmax, merged later).
// All rows and heads are scored in the same pass, so each key and value row is loaded once.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void partial_span(
    const float* q, int rows, const float* k, const float* v, const AttentionShape& s, int g, int j0, int j1,
    float scale, float* scores, float* partial, std::size_t partial_row_stride) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim, n = j1 - j0, vecs = rows * group;
  const std::size_t kts = s.key_stride(), kds = s.k_dim_stride;
  auto query = [&](int qv) {  // query vector qv = (row, head in group)
    return q + static_cast<std::size_t>(qv / group) * s.q_stride + (static_cast<std::size_t>(g) * group + qv % group) * hd;
  };
  auto part = [&](int qv) {
    return partial + static_cast<std::size_t>(qv / group) * partial_row_stride + static_cast<std::size_t>(qv % group) * (hd + 2);
  };
  for (int qv = 0; qv < vecs; ++qv) std::fill(scores + qv * kKeyBlock, scores + qv * kKeyBlock + n, 0.0f);
  if (kts == 1) {
    // Transposed K: the scores of the whole span accumulate one dimension at a time, contiguous in keys.
    for (int t = 0; t < hd; ++t) {
      const float* kt = k + (static_cast<std::size_t>(g) * hd + t) * kds + j0;
      for (int qv = 0; qv < vecs; ++qv) {
        const float qt = query(qv)[t] * scale;
        float* sc = scores + qv * kKeyBlock;
#pragma omp simd
        for (int i = 0; i < n; ++i) sc[i] += qt * kt[i];
      }
    }
  } else {
    for (int i = 0; i < n; ++i) {
      const float* kj = k + static_cast<std::size_t>(j0 + i) * kts + static_cast<std::size_t>(g) * hd * kds;
      for (int qv = 0; qv < vecs; ++qv) {
        const float* qh = query(qv);
        float d = 0;
#pragma omp simd reduction(+ : d)
        for (int t = 0; t < hd; ++t) d += qh[t] * kj[t * kds];
        scores[qv * kKeyBlock + i] = d * scale;
      }
    }
  }
  for (int qv = 0; qv < vecs; ++qv) {
    float* sc = scores + qv * kKeyBlock;
    float mx = -INFINITY;
    for (int i = 0; i < n; ++i) mx = std::max(mx, sc[i]);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; ++i) {
      sc[i] = exp_approx(sc[i] - mx);
      sum += sc[i];
    }
    float* out = part(qv);
    out[0] = mx;
    out[1] = sum;
    std::fill(out + 2, out + 2 + hd, 0.0f);
  }
  for (int i = 0; i < n; ++i) {
    const float* vj = v + static_cast<std::size_t>(j0 + i) * s.kv_stride + g * hd;
    for (int qv = 0; qv < vecs; ++qv) {
      const float p = scores[qv * kKeyBlock + i];
      float* acc = part(qv) + 2;
#pragma omp simd
      for (int t = 0; t < hd; ++t) acc[t] += p * vj[t];
    }
  }
}

// The same for the decoder's usual case, head_dim a compile-time constant and K dimension-major. Query
// vectors go up to four at a time (NQ) through 64-key chunks, so that each loaded key or value feeds NQ
// accumulators held in registers.
template <int HD, int NQ>
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void span_block(const float* q, const float* k, const float* v, const AttentionShape& s, int g, int j0, int n,
                float scale, int qv0, float* scores, float* partial, std::size_t partial_row_stride) {
  constexpr int kChunk = 64;
  const int group = s.heads / s.kv_heads;
  const std::size_t kds = s.k_dim_stride;
  const float* kbase = k + static_cast<std::size_t>(g) * HD * kds + j0;
  float qs[NQ][HD];
  for (int a = 0; a < NQ; ++a) {
    const int row = (qv0 + a) / group, hh = (qv0 + a) % group;
    const float* qh = q + static_cast<std::size_t>(row) * s.q_stride + (static_cast<std::size_t>(g) * group + hh) * HD;
    for (int t = 0; t < HD; ++t) qs[a][t] = qh[t] * scale;
  }
  float* sc = scores + static_cast<std::size_t>(qv0) * kKeyBlock;
  int i0 = 0;
  for (; i0 + kChunk <= n; i0 += kChunk) {
    float acc[NQ][kChunk] = {};
    for (int t = 0; t < HD; ++t) {
      const float* kt = kbase + t * kds + i0;
      for (int a = 0; a < NQ; ++a) {
        const float qa = qs[a][t];
#pragma omp simd
        for (int i = 0; i < kChunk; ++i) acc[a][i] += qa * kt[i];
      }
    }
    for (int a = 0; a < NQ; ++a) std::copy_n(acc[a], kChunk, sc + a * kKeyBlock + i0);
  }
  for (int a = 0; a < NQ && i0 < n; ++a) {
    float* sa = sc + a * kKeyBlock;
    std::fill(sa + i0, sa + n, 0.0f);
    for (int t = 0; t < HD; ++t) {
      const float* kt = kbase + t * kds;
      for (int i = i0; i < n; ++i) sa[i] += qs[a][t] * kt[i];
    }
  }
  float mx[NQ], sum[NQ];
  for (int a = 0; a < NQ; ++a) {
    const auto e = exp_minus_max(sc + a * kKeyBlock, n);
    mx[a] = e.max;
    sum[a] = e.sum;
  }
  float acc[NQ][HD] = {};
  for (int i = 0; i < n; ++i) {
    const float* vj = v + static_cast<std::size_t>(j0 + i) * s.kv_stride + static_cast<std::size_t>(g) * HD;
    for (int a = 0; a < NQ; ++a) {
      const float p = sc[a * kKeyBlock + i];
#pragma omp simd
      for (int t = 0; t < HD; ++t) acc[a][t] += p * vj[t];
    }
  }
  for (int a = 0; a < NQ; ++a) {
    const int row = (qv0 + a) / group, hh = (qv0 + a) % group;
    float* out = partial + static_cast<std::size_t>(row) * partial_row_stride + static_cast<std::size_t>(hh) * (HD + 2);
    out[0] = mx[a];
    out[1] = sum[a];
    std::copy_n(acc[a], HD, out + 2);
  }
}

template <int HD>
void partial_span_fixed(
    const float* q, int rows, const float* k, const float* v, const AttentionShape& s, int g, int j0, int j1,
    float scale, float* scores, float* partial, std::size_t partial_row_stride) {
  const int vecs = rows * (s.heads / s.kv_heads), n = j1 - j0;
  for (int qv0 = 0; qv0 < vecs; qv0 += 4) {
    switch (std::min(4, vecs - qv0)) {
      case 4: span_block<HD, 4>(q, k, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
      case 3: span_block<HD, 3>(q, k, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
      case 2: span_block<HD, 2>(q, k, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
      default: span_block<HD, 1>(q, k, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
    }
  }
}

int blocks_of(int n) { return (n + kKeyBlock - 1) / kKeyBlock; }

struct SpanItem {
  int g, j0, j1, row0, rows, span;
};

void attention_rows(const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges* ranges,
                    float scale, float* out) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim, Q = s.queries;
  // Each row's keys as spans of at most kKeyBlock contiguous keys: prefix blocks, then tail blocks. When
  // every row has the same prefix (questions of one page), a prefix span is one item for all rows.
  bool shared = true;
  for (int r = 1; r < Q; ++r) shared = shared && ranges[r].prefix == ranges[0].prefix;
  int spans = 1;
  for (int r = 0; r < Q; ++r) spans = std::max(spans, blocks_of(ranges[r].prefix) + blocks_of(ranges[r].tail));
  std::vector<SpanItem> items;
  for (int g = 0; g < s.kv_heads; ++g) {
    if (shared)
      for (int b = 0; b < blocks_of(ranges[0].prefix); ++b)
        items.push_back({g, b * kKeyBlock, std::min(ranges[0].prefix, (b + 1) * kKeyBlock), 0, Q, b});
    for (int r = 0; r < Q; ++r) {
      const KeyRanges& kr = ranges[r];
      const int pb = blocks_of(kr.prefix);
      if (!shared)
        for (int b = 0; b < pb; ++b) items.push_back({g, b * kKeyBlock, std::min(kr.prefix, (b + 1) * kKeyBlock), r, 1, b});
      for (int b = 0; b < blocks_of(kr.tail); ++b)
        items.push_back({g, kr.tail_begin + b * kKeyBlock, kr.tail_begin + std::min(kr.tail, (b + 1) * kKeyBlock), r, 1,
                         pb + b});
    }
  }
  const std::size_t item = static_cast<std::size_t>(group) * (hd + 2);
  const std::size_t row_stride = static_cast<std::size_t>(s.kv_heads) * spans * item;
  thread_local std::vector<float> partials;
  partials.assign(static_cast<std::size_t>(Q) * row_stride, 0.0f);
  float* const base = partials.data();  // the owner thread's buffer, shared with the team
  // Spans a row does not have stay empty (max -inf).
  for (int r = 0; r < Q; ++r)
    for (int g = 0; g < s.kv_heads; ++g)
      for (int b = 0; b < spans; ++b)
        for (int hh = 0; hh < group; ++hh)
          base[r * row_stride + (static_cast<std::size_t>(g) * spans + b) * item + hh * (hd + 2)] = -INFINITY;
  const int n_items = static_cast<int>(items.size());
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(Q) * group * kKeyBlock);
#pragma omp for schedule(dynamic, 1)
    for (int w = 0; w < n_items; ++w) {
      const SpanItem& it = items[w];
      const float* qr = q + static_cast<std::size_t>(it.row0) * s.q_stride;
      float* part = base + it.row0 * row_stride + (static_cast<std::size_t>(it.g) * spans + it.span) * item;
      if (hd == 64 && s.key_stride() == 1)
        partial_span_fixed<64>(qr, it.rows, k, v, s, it.g, it.j0, it.j1, scale, scores.data(), part, row_stride);
      else
        partial_span(qr, it.rows, k, v, s, it.g, it.j0, it.j1, scale, scores.data(), part, row_stride);
    }
  }
  // Merge the spans: softmax over all keys = rescaled partial sums.
  for (int r = 0; r < s.queries; ++r)
    for (int h = 0; h < s.heads; ++h) {
      const int g = h / group, hh = h % group;
      auto part = [&](int b) {
        return base + r * row_stride + (static_cast<std::size_t>(g) * spans + b) * item + hh * (hd + 2);
      };
      float mx = -INFINITY;
      for (int b = 0; b < spans; ++b) mx = std::max(mx, part(b)[0]);
      float* o = out + static_cast<std::size_t>(r) * s.out_stride + h * hd;
      std::fill(o, o + hd, 0.0f);
      float sum = 0;
      for (int b = 0; b < spans; ++b) {
        const float* p = part(b);
        if (p[0] == -INFINITY) continue;
        const float w = std::exp(p[0] - mx);
        sum += w * p[1];
        for (int t = 0; t < hd; ++t) o[t] += w * p[2 + t];
      }
      const float inv = 1.0f / sum;
      for (int t = 0; t < hd; ++t) o[t] *= inv;
    }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, const AttentionShape& s, float scale, float* out) {
  if (s.queries >= kMinQueriesForMatmul)
    return attention_query_blocks(q, k, v, s, scale, out);
  std::vector<KeyRanges> ranges(s.queries);
  for (int i = 0; i < s.queries; ++i)
    ranges[i].prefix = s.first_query_position < 0 ? s.keys : std::min(s.keys, s.first_query_position + i + 1);
  attention_rows(q, k, v, s, ranges.data(), scale, out);
}

namespace {

// Several questions decoding over one shared page prefix: per kv head, the prefix part is two small GEMMs
// through oneDNN (scores = Q·Kᵀ for every query vector at once, then P·V), the short tails plain loops.
struct PrefixPrimitives {
  dnnl::matmul scores, values;
  dnnl::memory::desc q_md, k_md, s_md, p_md, v_md, o_md;
  dnnl::memory::desc scores_scratchpad, values_scratchpad;
};

const PrefixPrimitives& prefix_primitives(int m, int hd, int prefix, int row, int kds, int kv_stride, float scale) {
  thread_local std::map<std::tuple<int, int, int, int, int, int, float>, PrefixPrimitives> cache;
  const auto key = std::make_tuple(m, hd, prefix, row, kds, kv_stride, scale);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() > 64) cache.clear();
  const auto& eng = dnnl_engine();
  PrefixPrimitives p;
  p.q_md = dnnl::memory::desc({m, hd}, dt::f32, dims{hd, 1});
  p.k_md = dnnl::memory::desc({hd, prefix}, dt::f32, dims{kds, 1});
  p.s_md = dnnl::memory::desc({m, prefix}, dt::f32, dims{row, 1});
  p.v_md = dnnl::memory::desc({prefix, hd}, dt::f32, dims{kv_stride, 1});
  p.o_md = dnnl::memory::desc({m, hd}, dt::f32, dims{hd, 1});
  dnnl::primitive_attr scaled = with_user_scratchpad();
  scaled.set_output_scales(0, {scale});
  const dnnl::matmul::primitive_desc scores(dnnl::matmul::desc(p.q_md, p.k_md, p.s_md), scaled, eng);
  const dnnl::matmul::primitive_desc values(dnnl::matmul::desc(p.s_md, p.v_md, p.o_md), with_user_scratchpad(), eng);
  p.scores = dnnl::matmul(scores);
  p.values = dnnl::matmul(values);
  p.scores_scratchpad = scores.scratchpad_desc();
  p.values_scratchpad = values.scratchpad_desc();
  return cache.emplace(key, std::move(p)).first->second;
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void tail_and_softmax(
    const float* qm, const float* k, std::size_t kds, int hd, int prefix, int tail_begin, int tail, float scale,
    float* row) {
  // Scores of the row's own tail, after the prefix's: one dimension at a time, contiguous in keys.
  float* tail_scores = row + prefix;
  std::fill(tail_scores, tail_scores + tail, 0.0f);
  for (int t = 0; t < hd; ++t) {
    const float qt = qm[t] * scale;
    const float* kt = k + static_cast<std::size_t>(t) * kds + tail_begin;
#pragma omp simd
    for (int j = 0; j < tail; ++j) tail_scores[j] += qt * kt[j];
  }
  const int n = prefix + tail;
  const float inv = 1.0f / exp_minus_max(row, n).sum;
#pragma omp simd
  for (int i = 0; i < n; ++i) row[i] *= inv;
}

void attention_shared_prefix(const float* q, const float* k, const float* v, const AttentionShape& s,
                             const KeyRanges* ranges, float scale, float* out) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim, Q = s.queries, M = Q * group, P = ranges[0].prefix;
  int max_tail = 0;
  for (int r = 0; r < Q; ++r) max_tail = std::max(max_tail, ranges[r].tail);
  const int row = P + max_tail;
  const std::size_t kds = s.k_dim_stride;
  thread_local std::vector<float> qbuf, sbuf, obuf;
  qbuf.resize(static_cast<std::size_t>(M) * hd);
  sbuf.resize(static_cast<std::size_t>(M) * row);
  obuf.resize(static_cast<std::size_t>(M) * hd);
  float *const qp = qbuf.data(), *const sp = sbuf.data(), *const op = obuf.data();
  const auto& b = prefix_primitives(M, hd, P, row, s.k_dim_stride, s.kv_stride, scale);
  const auto& eng = dnnl_engine();
  dnnl::stream stream(eng);
  for (int g = 0; g < s.kv_heads; ++g) {
    const float* kg = k + static_cast<std::size_t>(g) * hd * kds;
    for (int m = 0; m < M; ++m)
      std::copy_n(q + static_cast<std::size_t>(m / group) * s.q_stride + (static_cast<std::size_t>(g) * group + m % group) * hd,
                  hd, qp + static_cast<std::size_t>(m) * hd);
    dnnl::memory qm(b.q_md, eng, qp), km(b.k_md, eng, const_cast<float*>(kg)), sm(b.s_md, eng, sp),
        vm(b.v_md, eng, const_cast<float*>(v + static_cast<std::size_t>(g) * hd)), om(b.o_md, eng, op);
    b.scores.execute(stream, {{DNNL_ARG_SRC, qm},
                              {DNNL_ARG_WEIGHTS, km},
                              {DNNL_ARG_DST, sm},
                              {DNNL_ARG_SCRATCHPAD, thread_scratchpad(b.scores_scratchpad)}});
    stream.wait();
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; ++m) {
      const KeyRanges& kr = ranges[m / group];
      tail_and_softmax(qp + static_cast<std::size_t>(m) * hd, kg, kds, hd, P, kr.tail_begin, kr.tail, scale,
                       sp + static_cast<std::size_t>(m) * row);
    }
    b.values.execute(stream, {{DNNL_ARG_SRC, sm},
                              {DNNL_ARG_WEIGHTS, vm},
                              {DNNL_ARG_DST, om},
                              {DNNL_ARG_SCRATCHPAD, thread_scratchpad(b.values_scratchpad)}});
    stream.wait();
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; ++m) {
      const KeyRanges& kr = ranges[m / group];
      float* o = op + static_cast<std::size_t>(m) * hd;
      const float* pr = sp + static_cast<std::size_t>(m) * row + P;
      for (int j = 0; j < kr.tail; ++j) {
        const float* vj = v + static_cast<std::size_t>(kr.tail_begin + j) * s.kv_stride + static_cast<std::size_t>(g) * hd;
        for (int t = 0; t < hd; ++t) o[t] += pr[j] * vj[t];
      }
      std::copy_n(o, hd, out + static_cast<std::size_t>(m / group) * s.out_stride + (static_cast<std::size_t>(g) * group + m % group) * hd);
    }
  }
}

}  // namespace

void attention_ranges(const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges* ranges,
                      float scale, float* out, const PackedKv* prefix) {
  bool shared = s.queries > 0 && ranges[0].prefix > 0;
  for (int r = 1; r < s.queries && shared; ++r) shared = ranges[r].prefix == ranges[0].prefix;
  if (prefix && shared && prefix->keys == ranges[0].prefix)
    return attention_packed_prefix(q, k, v, s, ranges, *prefix, scale, out);
  shared = shared && s.key_stride() == 1;
  // Enough query vectors share the prefix for a GEMM to beat the per-span loops.
  if (shared && s.queries * (s.heads / s.kv_heads) >= kMinQueriesForMatmul)
    return attention_shared_prefix(q, k, v, s, ranges, scale, out);
  attention_rows(q, k, v, s, ranges, scale, out);
}

}  // namespace folio::engine::kernels
