#include <gtest/gtest.h>

#include "tandem/base/error.h"
#include "tandem/kernels/cpu/bandwidth.h"
#include "tandem/kernels/cpu/isa.h"

namespace tandem::kernels {
namespace {

TEST(Isa, SetIsaRejectsUnsupported) {
  const Isa saved = active_isa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(isa)) {
      set_isa(isa);
      EXPECT_EQ(active_isa(), isa);
    } else {
      EXPECT_THROW(set_isa(isa), Error) << isa_name(isa);
    }
  }
  set_isa(saved);
  std::printf("  best ISA here: %s\n", std::string(isa_name(best_isa())).c_str());
}

TEST(Bandwidth, MeasuresSomethingPlausible) {
  ThreadPool pool(2);
  const double bw = measure_read_bandwidth(pool, size_t{64} << 20);
  EXPECT_GT(bw, 1e8);
  EXPECT_LT(bw, 1e13);
}

}  // namespace
}  // namespace tandem::kernels
