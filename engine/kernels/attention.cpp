#include "engine/kernels/attention.hpp"
#include "engine/kernels/attention_blocks.hpp"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <vector>

#include "engine/kernels/softmax.hpp"
#include "engine/kernels/vector_math.hpp"

namespace folio::engine::kernels {
namespace {

// Below this many queries (decode steps), the ranged row kernel beats setting up matmuls.
constexpr int kMinQueriesForMatmul = 8;
// Keys per partial softmax in the row kernel.
constexpr int kKeyBlock = 256;

// One work item: a kv head, a span of contiguous keys, and the query rows that see it (every row for a
// shared prompt prefix, one row for its own tail). For each row and query head of the group it leaves the
// span's max score, sum of exponentials and exp-weighted sum of values (a partial softmax, merged later).
// All rows and heads are scored in the same pass, so each key and value row is loaded once.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void partial_span(
    const float* q, int rows, const KeyRun& kr, const float* v, const AttentionShape& s, int g, int j0, int j1,
    float scale, float* scores, float* partial, std::size_t partial_row_stride) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim, n = j1 - j0, vecs = rows * group;
  const std::size_t kts = kr.token_stride, kds = kr.dim_stride;
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
      const float* kt = kr.k + t * kds;
      for (int qv = 0; qv < vecs; ++qv) {
        const float qt = query(qv)[t] * scale;
        float* sc = scores + qv * kKeyBlock;
#pragma omp simd
        for (int i = 0; i < n; ++i) sc[i] += qt * kt[i];
      }
    }
  } else {
    for (int i = 0; i < n; ++i) {
      const float* kj = kr.k + i * kts;
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
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void span_block(const float* q, const KeyRun& kr, const float* v, const AttentionShape& s, int g, int j0, int n,
                float scale, int qv0, float* scores, float* partial, std::size_t partial_row_stride) {
  constexpr int kChunk = 64;
  const int group = s.heads / s.kv_heads;
  const std::size_t kds = kr.dim_stride;
  const float* kbase = kr.k;
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
    const float* q, int rows, const KeyRun& kr, const float* v, const AttentionShape& s, int g, int j0, int j1,
    float scale, float* scores, float* partial, std::size_t partial_row_stride) {
  const int vecs = rows * (s.heads / s.kv_heads), n = j1 - j0;
  for (int qv0 = 0; qv0 < vecs; qv0 += 4) {
    switch (std::min(4, vecs - qv0)) {
      case 4: span_block<HD, 4>(q, kr, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
      case 3: span_block<HD, 3>(q, kr, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
      case 2: span_block<HD, 2>(q, kr, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
      default: span_block<HD, 1>(q, kr, v, s, g, j0, n, scale, qv0, scores, partial, partial_row_stride); break;
    }
  }
}

int blocks_of(int n) { return (n + kKeyBlock - 1) / kKeyBlock; }

struct SpanItem {
  int g, j0, j1, row0, rows, span;
};

void attention_rows(const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges* ranges,
                    const TokenMajorTails& tails, float scale, float* out) {
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
      const KeyRun kr = key_run(k, s, tails, it.g, it.j0);
      if (hd == 64 && kr.token_stride == 1)
        partial_span_fixed<64>(qr, it.rows, kr, v, s, it.g, it.j0, it.j1, scale, scores.data(), part, row_stride);
      else
        partial_span(qr, it.rows, kr, v, s, it.g, it.j0, it.j1, scale, scores.data(), part, row_stride);
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
  attention_rows(q, k, v, s, ranges.data(), {}, scale, out);
}

void attention_ranges(const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges* ranges,
                      float scale, float* out, const PackedKv* prefix, const TokenMajorTails& tails) {
  bool shared = s.queries > 0 && ranges[0].prefix > 0;
  for (int r = 1; r < s.queries && shared; ++r) shared = ranges[r].prefix == ranges[0].prefix;
  if (!shared) return attention_rows(q, k, v, s, ranges, tails, scale, out);
  if (!prefix || prefix->keys != ranges[0].prefix) {  // packed here, for this call alone
    thread_local PackedKv packed;
    AttentionShape ps = s;
    ps.keys = ranges[0].prefix;
    pack_kv(k, v, ps, packed);
    prefix = &packed;
  }
  attention_packed_prefix(q, k, v, s, ranges, *prefix, scale, out, tails);
}

}  // namespace folio::engine::kernels
