// The oneDNN CPU engine every kernel uses, and the scratchpad its primitives run with. An engine is an
// immutable handle to the CPU; one for the process is enough (streams are made per call).
#pragma once

#include <dnnl.hpp>

namespace folio::engine::kernels {

const dnnl::engine& dnnl_engine();

// oneDNN's library-managed scratchpad is allocated and freed around every execute (the attention block
// products: 10-67 KB each, thousands per tile; freeing them ran malloc_consolidate each time, about 3% of
// the vision encoder). Every engine primitive is made with a user scratchpad instead, and executes with
// the calling thread's buffer, which only grows.
dnnl::primitive_attr with_user_scratchpad(dnnl::primitive_attr attr = {});
// The calling thread's scratchpad for a primitive made so (its pd's scratchpad_desc()).
dnnl::memory thread_scratchpad(const dnnl::memory::desc& desc);

}  // namespace folio::engine::kernels
