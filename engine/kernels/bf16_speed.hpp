// Whether the bf16 engine's matrix products are worth running in bf16 on this CPU. oneDNN 2.6's bf16
// brgemm is about twice as fast as f32 where the CPU's bf16 units are (AMD Zen 5: 800 against 435 GOPS),
// yet half as fast on an Intel Xeon with AVX-512 BF16 but no AMX (173 against 330 GOPS, 512x768x3072).
// There the bf16 engine would be slower than the fp32 reference it is meant to undercut, so it runs its
// products in f32 instead: more accurate, and faster.
#pragma once

#include "engine/kernels/linear.hpp"

namespace folio::engine::kernels {

// Measured once per process (a few milliseconds): one bf16 and one f32 oneDNN matmul of a fixed
// prefill-sized shape, best of a few runs each. True when bf16 is the faster.
bool bf16_products_pay_off();

// The precision the layers are built in for a requested one: bf16 becomes f32 where bf16 products do not
// pay off; int8 and fp32 stay as they are.
Precision effective_precision(Precision requested);

}  // namespace folio::engine::kernels
