// Instruction-set selection for the CPU kernels.
//
// Contract: the project is compiled for baseline x86-64; SIMD kernels are
// functions carrying __attribute__((target(...))) and are chosen at run time
// through per-ISA function tables. best_isa() is what the CPU (and OS, for
// AVX-512 register state) supports; active_isa() is what kernels use: best_isa()
// lowered by env TANDEM_ISA=scalar|avx2|avx512, or whatever set_isa() chose.
//   kAvx2   needs avx2 + fma + f16c
//   kAvx512 needs avx512f + avx512bw + avx512vl and OS-enabled zmm state (xgetbv);
//           its table also uses avx512_vnni + gfni where the CPU has them
//           (has_avx512_vnni_gfni(), matmul_avx512.cc)
// Thread safety: best_isa() is cached; set_isa() is meant for tests and benches
// and must not race with running kernels.
#pragma once

#include <ostream>
#include <string_view>

namespace tandem::kernels {

enum class Isa { kScalar, kAvx2, kAvx512 };

Isa best_isa();
Isa active_isa();
// Throws tandem::Error if the CPU lacks `isa`.
void set_isa(Isa isa);
std::string_view isa_name(Isa isa);
bool isa_supported(Isa isa);
// kAvx512 is available and the CPU also has AVX-512 VNNI and GFNI (Ice Lake and
// later Xeons, Zen 4 and later): the kAvx512 table's packed Q4_0/Q8_0 kernels.
bool has_avx512_vnni_gfni();
inline std::ostream& operator<<(std::ostream& os, Isa isa) {
  return os << isa_name(isa);
}

}  // namespace tandem::kernels
