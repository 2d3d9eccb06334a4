// AVX-512 machines run the AVX2 matmul kernels. One-row AVX-512 kernels for
// F16, Q8_0 and Q4_0 decode existed and were measured against the AVX2 ones on
// an AVX-512 host (Intel Xeon, 2 threads, Llama-3.2-1B shape): the AVX2 four-row
// tiles with L2 prefetch of a later group reached 104 % / 92 % / 68 % of the
// measured read bandwidth for F16 / Q8_0 / Q4_0 against 72 % / 49 % / 38 % for
// the AVX-512 kernels (bench/results/decode_roofline_avx512_host.json,
// decode_roofline_xeon.json): decode is bound by memory-level parallelism, not
// vector width. So the table is the AVX2 one until an AVX-512 kernel beats it.
#include "tandem/kernels/cpu/matmul_internal.h"

namespace tandem::kernels::detail {

const MatmulTable& avx512_matmul_table() {
  return avx2_matmul_table();
}

}  // namespace tandem::kernels::detail
