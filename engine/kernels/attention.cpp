#include "engine/kernels/attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace folio::engine::kernels {

void attention(const float* q, const float* k, const float* v, const AttentionShape& s, float scale, float* out) {
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
          for (int t = 0; t < hd; ++t) acc[t] += p * vj[t];
        }
        float* oi = out + static_cast<std::size_t>(i) * s.out_stride + h * hd;
        const float inv = 1.0f / sum;
        for (int t = 0; t < hd; ++t) oi[t] = acc[t] * inv;
      }
  }
}

}  // namespace folio::engine::kernels
