#include "tandem/kernels/cpu/isa.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tandem/base/error.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace tandem::kernels {
namespace {

Isa detect() {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::kScalar;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28),
             f16c = c & (1u << 29);
  if (!osxsave || !avx) return Isa::kScalar;
  uint32_t xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0x6) != 0x6) return Isa::kScalar;  // XMM and YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::kScalar;
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31);
  if (!(avx2 && fma && f16c)) return Isa::kScalar;
  const bool zmm_state = (xcr0_lo & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  if (avx512f && avx512bw && avx512vl && zmm_state) return Isa::kAvx512;
  return Isa::kAvx2;
#else
  return Isa::kScalar;
#endif
}

Isa from_env(Isa best) {
  const char* e = std::getenv("TANDEM_ISA");
  if (e == nullptr || *e == '\0') return best;
  const std::string s(e);
  Isa want;
  if (s == "scalar")
    want = Isa::kScalar;
  else if (s == "avx2")
    want = Isa::kAvx2;
  else if (s == "avx512")
    want = Isa::kAvx512;
  else
    fail("TANDEM_ISA={}: expected scalar, avx2 or avx512", s);
  return want < best ? want : best;  // the env can only lower the ISA
}

// AVX-512 VNNI and GFNI (CPUID 7.0 ECX bits 11 and 8).
bool detect_vnni_gfni() {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 11)) && (c & (1u << 8));
#else
  return false;
#endif
}

std::atomic<int> g_active{-1};

}  // namespace

Isa best_isa() {
  static const Isa best = detect();
  return best;
}

bool has_avx512_vnni_gfni() {
  static const bool has = best_isa() == Isa::kAvx512 && detect_vnni_gfni();
  return has;
}

bool isa_supported(Isa isa) {
  return isa <= best_isa();
}

Isa active_isa() {
  int v = g_active.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(from_env(best_isa()));
    g_active.store(v, std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
  if (!isa_supported(isa))
    fail("set_isa({}): this CPU supports at most {}", isa_name(isa), isa_name(best_isa()));
  g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

}  // namespace tandem::kernels
