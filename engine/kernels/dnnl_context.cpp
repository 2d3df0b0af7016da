#include "engine/kernels/dnnl_context.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernels/scratch.hpp"

namespace folio::engine::kernels {

const dnnl::engine& dnnl_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::primitive_attr with_user_scratchpad(dnnl::primitive_attr attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::memory thread_scratchpad(const dnnl::memory::desc& desc) {
  thread_local std::vector<std::byte> buffer;
  // 64-byte aligned: oneDNN's own scratchpads are, and its kernels may assume it.
  std::byte* raw = grown(buffer, desc.get_size() + 64);
  void* aligned = reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(raw) + 63) & ~std::uintptr_t{63});
  return dnnl::memory(desc, dnnl_engine(), aligned);
}

}  // namespace folio::engine::kernels
