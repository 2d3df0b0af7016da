#include "engine/kernels/attention.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "engine/kernels/dnnl_context.hpp"
#include "engine/kernels/vector_math.hpp"

namespace folio::engine::kernels {
namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;

// Below this many queries (decode steps), the ranged row kernel beats setting up matmuls.
constexpr int kMinQueriesForMatmul = 8;
// Queries per block: bounds the score matrix (heads x block x keys floats) and keeps it in cache.
constexpr int kQueryBlock = 256;
// Keys per partial softmax in the row kernel.
constexpr int kKeyBlock = 256;

// The i-th key a row sees, in the concatenation of its two ranges.
inline int key_index(const KeyRanges& r, int i) { return i < r.prefix ? i : r.tail_begin + (i - r.prefix); }

// One (row, kv head, key block) work item: for each query head of the group, the block's max score,
// sum of exponentials and exp-weighted sum of values (a partial softmax, merged later).
__attribute__((target_clones("avx512f", "avx2", "default"))) void partial_block(
    const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges& r, int g, int i0,
    int i1, float scale, float* scores, float* partial) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim, n = i1 - i0;
  for (int hh = 0; hh < group; ++hh) {
    const int h = g * group + hh;
    const float* qh = q + h * hd;
    float mx = -INFINITY;
    for (int i = 0; i < n; ++i) {
      const float* kj = k + static_cast<std::size_t>(key_index(r, i0 + i)) * s.kv_stride + g * hd;
      float d = 0;
#pragma omp simd reduction(+ : d)
      for (int t = 0; t < hd; ++t) d += qh[t] * kj[t];
      scores[i] = d * scale;
      mx = std::max(mx, scores[i]);
    }
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; ++i) {
      scores[i] = exp_approx(scores[i] - mx);
      sum += scores[i];
    }
    float* out = partial + static_cast<std::size_t>(hh) * (hd + 2);
    float* acc = out + 2;
    std::fill(acc, acc + hd, 0.0f);
    for (int i = 0; i < n; ++i) {
      const float* vj = v + static_cast<std::size_t>(key_index(r, i0 + i)) * s.kv_stride + g * hd;
      const float p = scores[i];
#pragma omp simd
      for (int t = 0; t < hd; ++t) acc[t] += p * vj[t];
    }
    out[0] = mx;
    out[1] = sum;
  }
}

void attention_rows(const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges* ranges,
                    float scale, float* out) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim;
  int max_blocks = 1;
  for (int r = 0; r < s.queries; ++r)
    max_blocks = std::max(max_blocks, (ranges[r].prefix + ranges[r].tail + kKeyBlock - 1) / kKeyBlock);
  const std::size_t item = static_cast<std::size_t>(group) * (hd + 2);
  // partials[row][kv head][block] = group x (max, sum, acc[hd])
  thread_local std::vector<float> partials;
  partials.resize(static_cast<std::size_t>(s.queries) * s.kv_heads * max_blocks * item);
  const int items = s.queries * s.kv_heads * max_blocks;
  float* const base = partials.data();  // the owner thread's buffer, shared with the team
#pragma omp parallel
  {
    std::vector<float> scores(kKeyBlock);
#pragma omp for schedule(dynamic, 1)
    for (int w = 0; w < items; ++w) {
      const int b = w % max_blocks, g = (w / max_blocks) % s.kv_heads, r = w / max_blocks / s.kv_heads;
      const int total = ranges[r].prefix + ranges[r].tail;
      float* part = base + static_cast<std::size_t>(w) * item;
      if (b * kKeyBlock >= total) {
        for (int hh = 0; hh < group; ++hh) part[hh * (hd + 2)] = -INFINITY;  // an empty block
        continue;
      }
      partial_block(q + static_cast<std::size_t>(r) * s.q_stride, k, v, s, ranges[r], g, b * kKeyBlock,
                    std::min(total, (b + 1) * kKeyBlock), scale, scores.data(), part);
    }
  }
  // Merge the blocks: softmax over all keys = rescaled partial sums.
  for (int r = 0; r < s.queries; ++r)
    for (int h = 0; h < s.heads; ++h) {
      const int g = h / group, hh = h % group;
      auto part = [&](int b) {
        return base + (static_cast<std::size_t>(r * s.kv_heads + g) * max_blocks + b) * item + hh * (hd + 2);
      };
      float mx = -INFINITY;
      for (int b = 0; b < max_blocks; ++b) mx = std::max(mx, part(b)[0]);
      float* o = out + static_cast<std::size_t>(r) * s.out_stride + h * hd;
      std::fill(o, o + hd, 0.0f);
      float sum = 0;
      for (int b = 0; b < max_blocks; ++b) {
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

// The three primitives of one block shape. Heads are batched as [kv_heads, group] so that the kv head
// of a query head is a broadcast batch dimension of K and V (grouped-query attention without copies).
struct BlockPrimitives {
  dnnl::matmul scores, values;
  dnnl::softmax_forward softmax;
  dnnl::memory::desc q_md, k_md, s_md, v_md, o_md;
};

using BlockKey = std::tuple<int, int, int, int, int, int, int, int, float>;

BlockPrimitives make_block(const AttentionShape& s, int rows, int keys, float scale) {
  const auto& eng = dnnl_engine();
  const dnnl::memory::dim G = s.heads / s.kv_heads, Hk = s.kv_heads, hd = s.head_dim, R = rows, K = keys;
  BlockPrimitives b;
  b.q_md = dnnl::memory::desc({Hk, G, R, hd}, dt::f32, dims{G * hd, hd, s.q_stride, 1});
  b.k_md = dnnl::memory::desc({Hk, 1, hd, K}, dt::f32, dims{hd, hd, 1, s.kv_stride});  // Kᵀ as a strided view
  b.s_md = dnnl::memory::desc({Hk, G, R, K}, dt::f32, dims{G * R * K, R * K, K, 1});
  b.v_md = dnnl::memory::desc({Hk, 1, K, hd}, dt::f32, dims{hd, hd, s.kv_stride, 1});
  b.o_md = dnnl::memory::desc({Hk, G, R, hd}, dt::f32, dims{G * hd, hd, s.out_stride, 1});
  dnnl::primitive_attr scaled;
  scaled.set_output_scales(0, {scale});
  b.scores = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(b.q_md, b.k_md, b.s_md), scaled, eng));
  b.softmax = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
      dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, b.s_md, 3), eng));
  b.values = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(b.s_md, b.v_md, b.o_md), eng));
  return b;
}

const BlockPrimitives& block_primitives(const AttentionShape& s, int rows, int keys, float scale) {
  // Per thread: the engine runs on one owner thread, tests may call from others; no locking needed.
  thread_local std::map<BlockKey, BlockPrimitives> cache;
  const BlockKey key{s.heads, s.kv_heads, s.head_dim, s.q_stride, s.kv_stride, s.out_stride, rows, keys, scale};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() > 64) cache.clear();  // prompt lengths vary; keep the few shapes in use
  return cache.emplace(key, make_block(s, rows, keys, scale)).first->second;
}

// Blocks of queries through oneDNN: S = Q Kᵀ·scale, causal mask, softmax, O = S V.
void attention_blocks(const float* q, const float* k, const float* v, const AttentionShape& s, float scale, float* out) {
  const auto& eng = dnnl_engine();
  dnnl::stream stream(eng);
  std::vector<float> scores;
  for (int i0 = 0; i0 < s.queries; i0 += kQueryBlock) {
    const int rows = std::min(kQueryBlock, s.queries - i0);
    const bool causal = s.first_query_position >= 0;
    // Keys any query of the block sees; later keys are never computed.
    const int keys = causal ? std::min(s.keys, s.first_query_position + i0 + rows) : s.keys;
    const auto& b = block_primitives(s, rows, keys, scale);
    scores.resize(static_cast<std::size_t>(s.heads) * rows * keys);
    dnnl::memory qm(b.q_md, eng, const_cast<float*>(q + static_cast<std::size_t>(i0) * s.q_stride));
    dnnl::memory km(b.k_md, eng, const_cast<float*>(k));
    dnnl::memory sm(b.s_md, eng, scores.data());
    dnnl::memory vm(b.v_md, eng, const_cast<float*>(v));
    dnnl::memory om(b.o_md, eng, out + static_cast<std::size_t>(i0) * s.out_stride);
    b.scores.execute(stream, {{DNNL_ARG_SRC, qm}, {DNNL_ARG_WEIGHTS, km}, {DNNL_ARG_DST, sm}});
    if (causal) {
      // Query i0 + r sees keys [0, first + i0 + r]; the rest of its row gets a score whose exp is 0.
#pragma omp parallel for schedule(static)
      for (int hr = 0; hr < s.heads * rows; ++hr) {
        const int r = hr % rows;
        const int visible = s.first_query_position + i0 + r + 1;
        float* row = scores.data() + static_cast<std::size_t>(hr) * keys;
        std::fill(row + std::min(visible, keys), row + keys, -1e30f);
      }
    }
    b.softmax.execute(stream, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_DST, sm}});
    b.values.execute(stream, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, vm}, {DNNL_ARG_DST, om}});
  }
  stream.wait();
}

}  // namespace

void attention(const float* q, const float* k, const float* v, const AttentionShape& s, float scale, float* out) {
  if (s.queries >= kMinQueriesForMatmul) return attention_blocks(q, k, v, s, scale, out);
  std::vector<KeyRanges> ranges(s.queries);
  for (int i = 0; i < s.queries; ++i)
    ranges[i].prefix = s.first_query_position < 0 ? s.keys : std::min(s.keys, s.first_query_position + i + 1);
  attention_rows(q, k, v, s, ranges.data(), scale, out);
}

void attention_ranges(const float* q, const float* k, const float* v, const AttentionShape& s, const KeyRanges* ranges,
                      float scale, float* out) {
  attention_rows(q, k, v, s, ranges, scale, out);
}

}  // namespace folio::engine::kernels
