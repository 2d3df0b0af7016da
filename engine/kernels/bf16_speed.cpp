#include "engine/kernels/bf16_speed.hpp"

#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/kernels/dnnl_context.hpp"

namespace folio::engine::kernels {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Best time of one matmul of activations [m, k] by weights [k, n] in `type` (f32 output).
double best_matmul_seconds(dt type, int m, int k, int n, int runs) {
  const auto& eng = dnnl_engine();
  const dnnl::memory::desc src({m, k}, type, tag::ab), dst({m, n}, dt::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, dnnl::memory::desc({k, n}, type, tag::any), dst), eng);
  dnnl::memory a(src, eng), w(pd.weights_desc(), eng), c(dst, eng);
  std::memset(a.get_data_handle(), 0, src.get_size());
  std::memset(w.get_data_handle(), 0, pd.weights_desc().get_size());
  const dnnl::matmul mm(pd);
  dnnl::stream stream(eng);
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    mm.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, c}});
    stream.wait();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

bool bf16_products_pay_off() {
  static const bool pays = [] {
    // 256 x 512 x 1024: 0.27 G multiply-adds, 1-3 ms a run; the first run of each is a warm-up.
    const double f32 = best_matmul_seconds(dt::f32, 256, 512, 1024, 4);
    const double bf16 = best_matmul_seconds(dt::bf16, 256, 512, 1024, 4);
    return bf16 < f32;
  }();
  return pays;
}

Precision effective_precision(Precision requested) {
  return requested == Precision::BF16 && !bf16_products_pay_off() ? Precision::F32 : requested;
}

}  // namespace folio::engine::kernels
