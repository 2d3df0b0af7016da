#include "engine/kernels/attention.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "engine/kernels/dnnl_context.hpp"

namespace folio::engine::kernels {
namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;

// Below this many queries (decode steps), a direct loop beats setting up matmuls.
constexpr int kMinQueriesForMatmul = 8;
// Queries per block: bounds the score matrix (heads x block x keys floats) and keeps it in cache.
constexpr int kQueryBlock = 256;

// One decode-style query row per (head, query): plain loops, vectorised by the compiler.
void attention_rows(const float* q, const float* k, const float* v, const AttentionShape& s, float scale, float* out) {
  const int group = s.heads / s.kv_heads;
  const int hd = s.head_dim;
#pragma omp parallel
  {
    std::vector<float> scores(s.keys);
    std::vector<float> acc(hd);
#pragma omp for collapse(2) schedule(static)
    for (int h = 0; h < s.heads; ++h)
      for (int i = 0; i < s.queries; ++i) {
        const int g = h / group;
        const float* qi = q + static_cast<std::size_t>(i) * s.q_stride + h * hd;
        const int visible = s.first_query_position < 0 ? s.keys : std::min(s.keys, s.first_query_position + i + 1);
        float mx = -INFINITY;
        for (int j = 0; j < visible; ++j) {
          const float* kj = k + static_cast<std::size_t>(j) * s.kv_stride + g * hd;
          float d = 0;
#pragma omp simd reduction(+ : d)
          for (int t = 0; t < hd; ++t) d += qi[t] * kj[t];
          scores[j] = d * scale;
          mx = std::max(mx, scores[j]);
        }
        float sum = 0;
        for (int j = 0; j < visible; ++j) {
          scores[j] = std::exp(scores[j] - mx);
          sum += scores[j];
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int j = 0; j < visible; ++j) {
          const float* vj = v + static_cast<std::size_t>(j) * s.kv_stride + g * hd;
          const float p = scores[j];
#pragma omp simd
          for (int t = 0; t < hd; ++t) acc[t] += p * vj[t];
        }
        float* oi = out + static_cast<std::size_t>(i) * s.out_stride + h * hd;
        const float inv = 1.0f / sum;
        for (int t = 0; t < hd; ++t) oi[t] = acc[t] * inv;
      }
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
  if (s.queries < kMinQueriesForMatmul) attention_rows(q, k, v, s, scale, out);
  else attention_blocks(q, k, v, s, scale, out);
}

}  // namespace folio::engine::kernels
