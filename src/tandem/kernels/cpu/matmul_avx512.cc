// AVX-512 machines run the AVX2 matmul table, except the packed Q4_0 / Q8_0
// kernels on CPUs with AVX-512 VNNI and GFNI, which compute their integer dot products
// with vpdpbusd (u8 x s8, four products summed into each int32 lane, no int16
// step) on 256-bit vectors: one instruction where AVX2 needs maddubs + madd
// (and an add for Q4_0's two nibble halves). On the Xeon host, packed Q4_0
// decode streamed weights at 74 % of the read bandwidth against 88 % for a
// load-only loop over the same records, i.e. it was bound by instructions, not
// memory. With vpdpbusd, in one process alternating the two: Q4_0 83 % against
// 79 %, Q8_0 96 % against 93 %; with GFNI for the high nibbles too, Q4_0 85 %
// against 78 %; in `tandem bench` prompt processing 1.2x (Q4_0) and 1.1x (Q8_0)
// faster (bench/results/q4_0_vnni_xeon.json). Those figures are of the earlier
// 4-row packed layouts; packed.h gives the 8-row layouts' (packed_x8_xeon.json).
//
// One-row AVX-512 kernels (512-bit vectors) for F16, Q8_0 and Q4_0 decode
// existed and were measured against the AVX2 ones on the same host (2 threads,
// Llama-3.2-1B shape): the AVX2 four-row tiles with L2 prefetch of a later
// group reached 104 % / 92 % / 68 % of the measured read bandwidth for F16 /
// Q8_0 / Q4_0 against 72 % / 49 % / 38 % for the AVX-512 kernels
// (decode_roofline_avx512_host.json, decode_roofline_xeon.json): one-row decode is
// bound by memory-level parallelism, not vector width.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "tandem/kernels/cpu/avx2_util.h"
#include "tandem/kernels/cpu/isa.h"
#include "tandem/kernels/cpu/matmul_internal.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/kernels/cpu/prefetch.h"

#define TANDEM_VNNI \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni,gfni")))

namespace tandem::kernels::detail {
namespace {

TANDEM_VNNI inline __m256i dot_add(__m256i acc, __m256i u, __m256i s) {
  return _mm256_dpbusd_epi32(acc, u, s);
}
using Q4Sum = __m256i;  // int32 lanes
TANDEM_VNNI inline Q4Sum q4_add(Q4Sum acc, __m256i lo, __m256i xl, __m256i hi, __m256i xh) {
  return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, lo, xl), hi, xh);
}
TANDEM_VNNI inline __m256i q4_sum(Q4Sum acc0, Q4Sum acc1) {
  return _mm256_add_epi32(acc0, acc1);
}

// One GF(2) affine transform per byte (GFNI) moves bits 4..7 to 0..3 and clears
// the rest: the shift and the mask of AVX2 in one instruction. Row i of the
// matrix (byte 7 - i of the qword) selects the input bit that becomes bit i.
TANDEM_VNNI inline __m256i hi_nibbles(__m256i x) {
  return _mm256_gf2p8affine_epi64_epi8(x, _mm256_set1_epi64x(0x1020408000000000LL), 0);
}

#define TANDEM_PACKED TANDEM_VNNI
#include "tandem/kernels/cpu/matmul_packed.inc"
#undef TANDEM_PACKED

}  // namespace

const MatmulTable& avx512_matmul_table() {
  static const MatmulTable t = [] {
    MatmulTable m = avx2_matmul_table();
    if (has_avx512_vnni_gfni()) {  // Cascade Lake (VNNI, no GFNI) keeps AVX2
      m.q4_0x8 = rows_packed<RecQ4_0x8, Q4_0x8Block>;
      m.q8_0x8 = rows_packed<RecQ8_0x8, Q8_0x8Block>;
    }
    return m;
  }();
  return t;
}

}  // namespace tandem::kernels::detail
