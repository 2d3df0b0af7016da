#include "engine/machine_limits.hpp"

#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/kernels/dnnl_context.hpp"

namespace folio::engine {
namespace {

using Clock = std::chrono::steady_clock;

double int8_peak_gops() {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const auto& eng = kernels::dnnl_engine();
  double best = 0;
  // A few large shapes; the best is the peak oneDNN reaches on this CPU. u8 activations, as the engine
  // uses them (VNNI's native operand; s8 needs a compensation pass and runs about 20% slower).
  for (auto [m, k, n] : {std::tuple{512, 2048, 2048}, std::tuple{1024, 1024, 3072}}) {
    const dnnl::memory::desc src({m, k}, dt::u8, tag::ab), wany({k, n}, dt::s8, tag::any), dst({m, n}, dt::s32, tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wany, dst), eng);
    dnnl::memory a(src, eng), w(pd.weights_desc(), eng), c(dst, eng);
    std::fill_n(static_cast<std::uint8_t*>(a.get_data_handle()), static_cast<std::size_t>(m) * k, std::uint8_t{3});
    dnnl::memory wu(dnnl::memory::desc({k, n}, dt::s8, tag::ab), eng);
    std::fill_n(static_cast<std::int8_t*>(wu.get_data_handle()), static_cast<std::size_t>(k) * n, std::int8_t{-2});
    dnnl::stream s(eng);
    dnnl::reorder(wu, w).execute(s, wu, w);
    const dnnl::matmul mm(pd);
    for (int rep = 0; rep < 30; ++rep) {  // best of many: a shared machine has bursts of noise
      const auto t0 = Clock::now();
      mm.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, c}});
      s.wait();
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      if (rep >= 2) best = std::max(best, 2.0 * m * k * n / sec / 1e9);
    }
  }
  return best;
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void triad(float* a, const float* b, const float* c,
                                                                         std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + 1.5f * c[i];
}

double triad_gbs() {
  const std::size_t n = std::size_t{24} << 20;  // 96 MB per array
  std::vector<float> a(n, 0.0f), b(n, 1.0f), c(n, 2.0f);
  double best = 0;
  for (int rep = 0; rep < 6; ++rep) {
    const auto t0 = Clock::now();
    triad(a.data(), b.data(), c.data(), n);
    const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
    if (rep >= 1) best = std::max(best, 3.0 * n * sizeof(float) / sec / 1e9);
  }
  return best;
}

}  // namespace

MachineLimits measure_machine_limits(int threads) {
  const int previous = omp_get_max_threads();
  if (threads > 0) omp_set_num_threads(threads);
  MachineLimits l;
  l.int8_gops = int8_peak_gops();
  l.bandwidth_gbs = triad_gbs();
  omp_set_num_threads(previous);
  return l;
}

}  // namespace folio::engine
