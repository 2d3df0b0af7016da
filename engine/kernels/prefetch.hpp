// Software prefetch: lines about to be read, or written.
#pragma once

#include <cstddef>

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

// The n values from x (floats, bf16, ...) into the cache, a line at a time: into L1 (Locality 3,
// prefetcht0) or into L2 alone (2, prefetcht1).
template <int Locality = 3, typename T>
inline void prefetch_values(const T* x, int n) {
  const char* p = reinterpret_cast<const char*>(x);
  for (std::size_t i = 0; i < n * sizeof(T); i += 64) __builtin_prefetch(p + i, 0, Locality);
}

// The 64-byte lines [first, last) from p into L2: a loop's slice of what it reads next, spread over the
// work before it.
inline void prefetch_lines_to_l2(const void* p, long first, long last) {
  for (long l = first; l < last; ++l) __builtin_prefetch(static_cast<const char*>(p) + l * 64, 0, 2);
}

}  // namespace folio::engine::kernels
