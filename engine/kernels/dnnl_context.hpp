// The oneDNN CPU engine every kernel uses. An engine is an immutable handle to the CPU; one for the
// process is enough (streams are made per call).
#pragma once

#include <dnnl.hpp>

namespace folio::engine::kernels {

const dnnl::engine& dnnl_engine();

}  // namespace folio::engine::kernels
