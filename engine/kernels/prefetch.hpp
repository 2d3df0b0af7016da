// Software prefetch for lines about to be written.
#pragma once

namespace folio::engine::kernels {

// PREFETCHW: the line comes into this core's cache exclusive, so a store to it later need not wait for
// it. Without -march, GCC's __builtin_prefetch(p, 1) is a plain read prefetch. A no-op on x86 CPUs
// without the instruction (it decodes as a NOP there); nothing on other architectures.
inline void prefetch_for_writing(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  (void)p;
#endif
}

}  // namespace folio::engine::kernels
