#include "engine/kernels/dnnl_context.hpp"

namespace folio::engine::kernels {

const dnnl::engine& dnnl_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

}  // namespace folio::engine::kernels
