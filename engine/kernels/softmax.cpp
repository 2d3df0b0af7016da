#include "engine/kernels/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "engine/kernels/parallel.hpp"
#include "engine/kernels/vector_math.hpp"

namespace folio::engine::kernels {
namespace {

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) ExpSum exp_minus_max_impl(float* x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = mx > x[i] ? mx : x[i];
  for (int i = 0; i < n; ++i) x[i] = exp_approx(x[i] - mx);
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += x[i];
  return {mx, sum};
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) float max_of(const float* x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = mx > x[i] ? mx : x[i];
  return mx;
}

// The lowest index holding `value` (as a min reduction, which vectorises where an early exit would not).
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) int first_index_of(const float* x, int n,
                                                                                   float value) {
  int first = n;
#pragma omp simd reduction(min : first)
  for (int i = 0; i < n; ++i) first = x[i] == value && i < first ? i : first;
  return first;
}

// Summed in double: a vocabulary's 49k terms in one float running sum (as an unvectorised build adds
// them) lose about 1e-4 of the log-probability.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) double sum_exp_minus(const float* x, int n,
                                                                                     float mx) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += static_cast<double>(exp_approx(x[i] - mx));
  return sum;
}

}  // namespace

ExpSum exp_minus_max(float* x, int n) { return exp_minus_max_impl(x, n); }

float log_softmax_at(const float* x, int n, int index) {
  const float mx = max_of(x, n);
  return x[index] - mx - static_cast<float>(std::log(sum_exp_minus(x, n, mx)));
}

void greedy_token(const float* x, int vocab, std::span<const int> excluded, int* token, float* logprob) {
  const float mx = max_of(x, vocab);
  int best = first_index_of(x, vocab, mx);
  const auto is_excluded = [&](int v) { return std::binary_search(excluded.begin(), excluded.end(), v); };
  if (is_excluded(best)) {  // rare: rescan without the excluded ids
    best = -1;
    for (int v = 0; v < vocab; ++v)
      if (!is_excluded(v) && (best < 0 || x[v] > x[best])) best = v;
  }
  *token = best;
  *logprob = best < 0 ? 0.0f : x[best] - mx - static_cast<float>(std::log(sum_exp_minus(x, vocab, mx)));
}

void greedy_tokens(const float* logits, int rows, int vocab, int* token, float* logprob,
                   std::span<const int> excluded) {
  for_each_row(rows, 8 * vocab, [&](int r) {
    greedy_token(logits + static_cast<std::size_t>(r) * vocab, vocab, excluded, token + r, logprob + r);
  });
}

}  // namespace folio::engine::kernels
