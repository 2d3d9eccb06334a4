// Every matmul kernel against references, for every ISA this CPU supports.
//
// Tolerances:
//  * SIMD vs the scalar table (same activation quantisation, exact integer dots):
//    differences are only float summation order, bounded by ~n * 2^-24 * sum|w x|;
//    we allow 2e-5 * sum_c |W_rc x_c| (+1e-6).
//  * vs matmul_reference (f32 activations): Q8_0/Q8_K rounding moves each x_c by at
//    most amax(block)/254 (+ amax * 2^-11 for Q8_0's f16 scale), so the exact error
//    bound is sum_c |W_rc| * err_c; we allow 1.05x that bound + 2e-5 * sum|w x|.
//    Float weight types use no activation quantisation: 2e-5 * sum|w x|.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "tandem/base/error.h"
#include "tandem/kernels/cpu/isa.h"
#include "tandem/kernels/cpu/matmul.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/tensor/quantize.h"

namespace tandem::kernels {
namespace {

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                        DType::Q4_0, DType::Q4_K, DType::Q6_K};

struct Weights {
  DType type;
  int64_t rows, cols;
  std::vector<unsigned char> bytes;
  std::vector<float> deq;  // dequantised, (rows, cols)
  MatView view() const { return {type, bytes.data(), rows, cols}; }
};

Weights make_weights(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  Weights w{t, rows, cols, std::vector<unsigned char>(rows * row_bytes(t, cols)),
            std::vector<float>(rows * cols)};
  std::vector<float> src(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : src) v = nd(rng) * 0.1f;
    unsigned char* dst = w.bytes.data() + r * row_bytes(t, cols);
    quantize_row(t, src.data(), dst, cols);
    dequantize_row(t, dst, w.deq.data() + r * cols, cols);
  }
  return w;
}

std::vector<float> make_input(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  for (int64_t i = 0; i < n; i += 97) x[i] *= 20.f;  // activation outliers
  return x;
}

int64_t act_block(DType t) {
  if (t == DType::Q8_0 || t == DType::Q4_0) return 32;
  if (t == DType::Q4_K || t == DType::Q6_K) return 256;
  return 0;
}

std::vector<float> run(Isa isa, const MatView& w, const std::vector<float>& x, int64_t nt,
                       ThreadPool& pool) {
  set_isa(isa);
  std::vector<float> out(nt * w.rows, NAN);
  matmul(w, x.data(), nt, out.data(), pool);
  return out;
}

class MatmulIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam()))
      GTEST_SKIP() << "CPU lacks " << isa_name(GetParam())
                   << " (best here: " << isa_name(best_isa()) << ")";
    saved_ = active_isa();
  }
  void TearDown() override {
    if (isa_supported(GetParam())) set_isa(saved_);
  }
  Isa saved_ = Isa::kScalar;
};

// Checks one product against the scalar table (tight) and matmul_reference
// (activation-quantisation bound); see the tolerances at the top. `tested` is the
// view under test: w's own, or a packed copy of it (the references use w's).
void check_product(Isa isa, const Weights& w, int64_t nt, std::mt19937& rng, ThreadPool& pool,
                   const MatView* tested = nullptr) {
  const DType t = w.type;
  const int64_t rows = w.rows, cols = w.cols;
  const std::vector<float> x = make_input(nt * cols, rng);
  const std::vector<float> simd = run(isa, tested ? *tested : w.view(), x, nt, pool);
  const std::vector<float> scalar = run(Isa::kScalar, w.view(), x, nt, pool);
  std::vector<float> ref(nt * rows);
  matmul_reference(w.view(), x.data(), nt, ref.data());
  const int64_t ab = act_block(t);
  std::vector<double> err(cols);  // per-column activation rounding bound of one token
  for (int64_t tok = 0; tok < nt; ++tok) {
    const float* xt = x.data() + tok * cols;
    if (ab > 0) {
      for (int64_t b0 = 0; b0 < cols; b0 += ab) {
        float amax = 0;
        for (int64_t k = b0; k < b0 + ab; ++k) amax = std::max(amax, std::fabs(xt[k]));
        for (int64_t k = b0; k < b0 + ab; ++k)
          err[k] = amax * (1.0 / 254 + (ab == 32 ? 1.0 / 2048 : 0));
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      double mag = 0, bound = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double wv = w.deq[r * cols + c];
        mag += std::fabs(wv * xt[c]);
        if (ab > 0) bound += std::fabs(wv) * err[c];
      }
      const int64_t i = tok * rows + r;
      const double tight = 2e-5 * mag + 1e-6;
      ASSERT_NEAR(simd[i], scalar[i], tight)
          << dtype_name(t) << " rows=" << rows << " cols=" << cols << " nt=" << nt << " r=" << r
          << " t=" << tok;
      ASSERT_NEAR(simd[i], ref[i], 1.05 * bound + tight)
          << dtype_name(t) << " vs reference, rows=" << rows << " cols=" << cols << " nt=" << nt;
    }
  }
}

int64_t block_of(DType t) {
  return dtype_info(t).block_elems == 1 ? 32 : dtype_info(t).block_elems;
}

TEST_P(MatmulIsa, MatchesScalarAndReference) {
  std::mt19937 rng(1234);
  ThreadPool pool(2);
  const int64_t token_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17};
  for (DType t : kTypes) {
    const int64_t blk = block_of(t);
    for (int trial = 0; trial < 12; ++trial) {
      const int64_t rows = std::uniform_int_distribution<int64_t>(1, 70)(rng);
      int64_t cols = blk * std::uniform_int_distribution<int64_t>(1, 9)(rng);
      if (dtype_info(t).block_elems == 1 && trial % 3 == 0) cols += trial % 7 + 1;  // ragged
      const Weights w = make_weights(t, rows, cols, rng);
      check_product(GetParam(), w, token_counts[trial % 10], rng, pool);
    }
  }
}

// Every token count 1..70 (all remainders of the token groups, several groups)
// with odd row counts (all remainders of the row tiles).
TEST_P(MatmulIsa, EveryTokenCount) {
  std::mt19937 rng(99);
  ThreadPool pool(2);
  for (DType t : kTypes) {
    const int64_t blk = block_of(t);
    const int64_t cols = blk == 256 ? 512 : 96 + (t == DType::F32 ? 3 : 0);
    for (int64_t nt = 1; nt <= 70; ++nt) {
      const int64_t rows = 1 + (nt * 7) % 23;
      const Weights w = make_weights(t, rows, cols, rng);
      check_product(GetParam(), w, nt, rng, pool);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(MatmulIsa, ThreadCountsAgreeForManyTokens) {
  std::mt19937 rng(5);
  for (DType t : kTypes) {
    const int64_t cols = block_of(t) == 256 ? 512 : 256, rows = 203, nt = 37;
    const Weights w = make_weights(t, rows, cols, rng);
    const std::vector<float> x = make_input(nt * cols, rng);
    set_isa(GetParam());
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> out(nt * rows, NAN);
      matmul(w.view(), x.data(), nt, out.data(), pool);
      if (first.empty()) first = out;
      EXPECT_EQ(out, first) << dtype_name(t) << " " << threads << " threads";
    }
  }
}

// Also: results do not depend on the `next` matrices a call is told about.
TEST_P(MatmulIsa, MultiEqualsSeparateAndThreadCountsAgree) {
  std::mt19937 rng(7);
  const int64_t cols = 512, nt = 6;
  const std::vector<float> x = make_input(nt * cols, rng);
  const Weights a = make_weights(DType::Q4_0, 37, cols, rng);
  const Weights b = make_weights(DType::Q4_K, 64, cols, rng);
  const Weights c = make_weights(DType::F16, 9, cols, rng);
  set_isa(GetParam());
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> oa(nt * 37), ob(nt * 64), oc(nt * 9);
    const MatView ws[] = {a.view(), b.view(), c.view()};
    float* const outs[] = {oa.data(), ob.data(), oc.data()};
    matmul_multi(ws, x.data(), nt, outs, pool);
    std::vector<float> sa(nt * 37), sb(nt * 64), sc(nt * 9);
    // Naming the next call's matrices (prefetched by finished threads) changes nothing.
    matmul(a.view(), x.data(), nt, sa.data(), pool, std::span(ws).subspan(1));
    matmul(b.view(), x.data(), nt, sb.data(), pool, std::span(ws).subspan(2));
    matmul(c.view(), x.data(), nt, sc.data(), pool, std::span(ws).subspan(0, 1));
    EXPECT_EQ(oa, sa);
    EXPECT_EQ(ob, sb);
    EXPECT_EQ(oc, sc);
    std::vector<float> all = oa;
    all.insert(all.end(), ob.begin(), ob.end());
    all.insert(all.end(), oc.begin(), oc.end());
    if (first.empty()) first = all;
    EXPECT_EQ(all, first) << threads << " threads";
  }
}

// The packed layouts against the row-major scalar kernel and the reference: row
// groups (1 to 17 of them), full and partial records, every token-group remainder.
// The tested view is the packed one, the references use the row-major original.
TEST_P(MatmulIsa, PackedMatchesRowMajor) {
  std::mt19937 rng(4242);
  ThreadPool pool(2);
  for (auto [type, layout, row_step, col_step] : {std::tuple{DType::Q4_0, Layout::kQ4_0x8, 8, 32},
                                                  {DType::Q8_0, Layout::kQ8_0x8, 8, 32},
                                                  {DType::F16, Layout::kHalfx4, 4, 16},
                                                  {DType::BF16, Layout::kHalfx4, 4, 16}}) {
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t rows = row_step * std::uniform_int_distribution<int64_t>(1, 17)(rng);
      const int64_t cols = col_step * std::uniform_int_distribution<int64_t>(1, 28)(rng);
      const int64_t nt = trial < 20 ? 1 + trial % 10 : 1 + trial;
      const Weights w = make_weights(type, rows, cols, rng);
      ASSERT_TRUE(packable(w.view()));
      const PackedMatrix pk = pack_matrix(w.view());
      ASSERT_EQ(pk.view.layout, layout);
      check_product(GetParam(), w, nt, rng, pool, &pk.view);
      if (HasFatalFailure()) return;
    }
  }
}

// Packed and row-major inputs in one matmul_multi call; results independent of threads.
TEST_P(MatmulIsa, PackedInMultiAndThreadCountsAgree) {
  std::mt19937 rng(8);
  const int64_t cols = 256, nt = 7;
  const std::vector<float> x = make_input(nt * cols, rng);
  const Weights a = make_weights(DType::Q4_0, 40, cols, rng);
  const Weights b = make_weights(DType::Q8_0, 10, cols, rng);  // 10 rows: stays row-major
  const Weights c = make_weights(DType::Q8_0, 24, cols, rng);
  const PackedMatrix pa = pack_matrix(a.view()), pc = pack_matrix(c.view());
  set_isa(GetParam());
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> oa(nt * 40), ob(nt * 10), oc(nt * 24), sa(nt * 40), sb(nt * 10), sc(nt * 24);
    const MatView ws[] = {pa.view, b.view(), pc.view};
    float* const outs[] = {oa.data(), ob.data(), oc.data()};
    matmul_multi(ws, x.data(), nt, outs, pool);
    matmul(pa.view, x.data(), nt, sa.data(), pool, std::span(ws).subspan(1));
    matmul(b.view(), x.data(), nt, sb.data(), pool, std::span(ws).subspan(2));
    matmul(pc.view, x.data(), nt, sc.data(), pool, std::span(ws));
    EXPECT_EQ(oa, sa);
    EXPECT_EQ(ob, sb);
    EXPECT_EQ(oc, sc);
    oa.insert(oa.end(), oc.begin(), oc.end());
    if (first.empty()) first = oa;
    EXPECT_EQ(oa, first) << threads << " threads";
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, MatmulIsa,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

TEST(Matmul, RejectsBadShapesAndTypes) {
  ThreadPool pool(1);
  std::vector<unsigned char> buf(4096);
  std::vector<float> x(256), out(16);
  EXPECT_THROW(matmul({DType::Q8_0, buf.data(), 2, 40}, x.data(), 1, out.data(), pool), Error);
  EXPECT_THROW(matmul({DType::Q5_K, buf.data(), 2, 256}, x.data(), 1, out.data(), pool), Error);
  EXPECT_THROW(matmul({DType::Q8_K, buf.data(), 2, 256}, x.data(), 1, out.data(), pool), Error);
  const MatView ws[] = {{DType::F32, buf.data(), 1, 32}, {DType::F32, buf.data(), 1, 64}};
  float* const outs[] = {out.data(), out.data()};
  EXPECT_THROW(matmul_multi(ws, x.data(), 1, outs, pool), Error);
  // The packed layouts need their type and their row (and for kHalfx4 column) multiples.
  MatView bad{DType::Q4_0, buf.data(), 12, 64, Layout::kQ4_0x8};
  EXPECT_THROW(matmul(bad, x.data(), 1, out.data(), pool), Error);
  bad = {DType::Q8_0, buf.data(), 8, 64, Layout::kQ4_0x8};
  EXPECT_THROW(matmul(bad, x.data(), 1, out.data(), pool), Error);
  bad = {DType::Q8_0, buf.data(), 12, 64, Layout::kQ8_0x8};
  EXPECT_THROW(matmul(bad, x.data(), 1, out.data(), pool), Error);
  bad = {DType::Q4_0, buf.data(), 8, 64, Layout::kQ8_0x8};
  EXPECT_THROW(matmul(bad, x.data(), 1, out.data(), pool), Error);
  bad = {DType::F16, buf.data(), 6, 64, Layout::kHalfx4};
  EXPECT_THROW(matmul(bad, x.data(), 1, out.data(), pool), Error);
  bad = {DType::BF16, buf.data(), 4, 24, Layout::kHalfx4};
  EXPECT_THROW(matmul(bad, x.data(), 1, out.data(), pool), Error);
  bad = {DType::F32, buf.data(), 4, 64, Layout::kHalfx4};
  EXPECT_THROW(matmul(bad, x.data(), 1, out.data(), pool), Error);
}

// Every row of the packed copy dequantises to the original's values; with a
// block getter, every block also comes back byte for byte.
template <class Block = BlockQ8_0, Block (*Get)(const MatView&, int64_t, int64_t) = nullptr>
void expect_round_trip(const Weights& w) {
  const PackedMatrix pk = pack_matrix(w.view());
  const int64_t rb = row_bytes(w.type, w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t b = 0; Get != nullptr && b < w.cols / 32; ++b) {
      const Block got = Get(pk.view, r, b);
      const auto& want = reinterpret_cast<const Block*>(w.bytes.data() + r * rb)[b];
      ASSERT_EQ(0, std::memcmp(&got, &want, sizeof(Block))) << r << " " << b;
    }
    std::vector<float> row(w.cols);
    dequantize_matrix_row(pk.view, r, row.data());
    EXPECT_EQ(row,
              std::vector<float>(w.deq.begin() + r * w.cols, w.deq.begin() + (r + 1) * w.cols));
  }
  EXPECT_FALSE(packable(pk.view));  // already packed
}

TEST(Packed, RoundTripsEveryBlockAndRefusesWhatItCannotPack) {
  std::mt19937 rng(3);
  expect_round_trip<BlockQ4_0, packed_block_q4_0>(make_weights(DType::Q4_0, 16, 768, rng));
  expect_round_trip<BlockQ4_0, packed_block_q4_0>(make_weights(DType::Q4_0, 8, 416, rng));
  expect_round_trip<BlockQ8_0, packed_block_q8_0>(make_weights(DType::Q8_0, 24, 768, rng));
  expect_round_trip<BlockQ8_0, packed_block_q8_0>(make_weights(DType::Q8_0, 8, 96, rng));
  expect_round_trip(make_weights(DType::F16, 12, 48, rng));
  expect_round_trip(make_weights(DType::F16, 4, 2048, rng));
  expect_round_trip(make_weights(DType::BF16, 8, 80, rng));
  const Weights f32 = make_weights(DType::F32, 8, 64, rng);
  const Weights f16_odd_rows = make_weights(DType::F16, 6, 64, rng);
  const Weights f16_odd_cols = make_weights(DType::F16, 8, 40, rng);
  const Weights odd_rows = make_weights(DType::Q4_0, 12, 256, rng);
  const Weights q8_odd_rows = make_weights(DType::Q8_0, 4, 256, rng);
  Weights q8_min = make_weights(DType::Q8_0, 8, 512, rng);  // one quant -128: sign step overflows
  ASSERT_TRUE(packable(q8_min.view()));
  q8_min.bytes[5 * row_bytes(DType::Q8_0, 512) + 7 * sizeof(BlockQ8_0) + 2 + 31] = 0x80;
  for (const Weights* bad : {&f32, &f16_odd_rows, &f16_odd_cols, &odd_rows, &q8_odd_rows,
                             static_cast<const Weights*>(&q8_min)}) {
    EXPECT_FALSE(packable(bad->view()));
    EXPECT_THROW(pack_matrix(bad->view()), Error);
  }
}

// A loader keeps packed copies where a layout applies; with huge pages enabled,
// other matrices of 2 MiB and more become row-major copies in huge pages (same
// bytes, same products); smaller ones stay in the file, and so does everything
// row-major with huge pages off (the default).
TEST(Packed, LoadingCopiesLargeRowMajorMatricesIntoHugePages) {
  std::mt19937 rng(5);
  const Weights small = make_weights(DType::F32, 64, 256, rng);
  const Weights big = make_weights(DType::F32, 2050, 256, rng);  // 2 MiB + 2 KiB
  ASSERT_GE(big.bytes.size(), kHugePageCopyMinBytes);
  BigBuffer::enable_huge_pages(false);
  EXPECT_FALSE(pack_for_loading(big.view()).has_value());
  BigBuffer::enable_huge_pages(true);
  struct Restore {
    ~Restore() { BigBuffer::enable_huge_pages(false); }
  } restore;
  EXPECT_FALSE(pack_for_loading(small.view()).has_value());
  std::optional<PackedMatrix> copy = pack_for_loading(big.view());
  if (!copy) {  // only when the kernel refuses huge pages
    EXPECT_FALSE(BigBuffer::allocate(kHugePageCopyMinBytes).huge_pages_advised());
    GTEST_SKIP() << "transparent huge pages unavailable here: no copy is made";
  }
  EXPECT_EQ(copy->view.layout, Layout::kRows);
  EXPECT_NE(copy->view.data, big.view().data);
  ASSERT_EQ(copy->bytes.size(), big.bytes.size());
  EXPECT_EQ(0, std::memcmp(copy->view.data, big.bytes.data(), big.bytes.size()));
  ThreadPool pool(2);
  const std::vector<float> x = make_input(256, rng);
  std::vector<float> a(2050), b(2050);
  matmul(big.view(), x.data(), 1, a.data(), pool);
  matmul(copy->view, x.data(), 1, b.data(), pool);
  EXPECT_EQ(a, b);
  // A Q8_0 matrix of the same size is repacked, not copied row-major.
  const Weights q8 = make_weights(DType::Q8_0, 8192, 256, rng);
  if (packing_enabled(DType::Q8_0)) {
    std::optional<PackedMatrix> pk = pack_for_loading(q8.view());
    ASSERT_TRUE(pk.has_value());
    EXPECT_EQ(pk->view.layout, Layout::kQ8_0x8);
  }
}

}  // namespace
}  // namespace tandem::kernels
