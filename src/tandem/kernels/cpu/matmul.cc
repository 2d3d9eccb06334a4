// matmul dispatch: validation, one activation conversion per call, row chunks
// over the pool. The arithmetic lives in the per-ISA files.
#include "tandem/kernels/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "tandem/base/error.h"
#include "tandem/kernels/cpu/matmul_internal.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/kernels/cpu/prefetch.h"
#include "tandem/tensor/quantize.h"

namespace tandem::kernels {
namespace {

using detail::Activations;
using detail::kTokenTile;
using detail::MatmulTable;
using detail::RowsFn;

const MatmulTable& table_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return detail::avx512_matmul_table();
    case Isa::kAvx2:
      return detail::avx2_matmul_table();
    case Isa::kScalar:
      break;
  }
  return detail::scalar_matmul_table();
}

RowsFn rows_fn(const MatmulTable& t, const MatView& w) {
  if (w.layout == Layout::kQ4_0x8) return t.q4_0x8;
  if (w.layout == Layout::kQ8_0x8) return t.q8_0x8;
  if (w.layout == Layout::kHalfx4) return w.type == DType::F16 ? t.f16x4 : t.bf16x4;
  switch (w.type) {
    case DType::F32:
      return t.f32;
    case DType::F16:
      return t.f16;
    case DType::BF16:
      return t.bf16;
    case DType::Q8_0:
      return t.q8_0;
    case DType::Q4_0:
      return t.q4_0;
    case DType::Q4_K:
      return t.q4_k;
    case DType::Q6_K:
      return t.q6_k;
    default:
      return nullptr;
  }
}

// Grow-only scratch of the calling thread: converted activations live here for
// the duration of one call; steady state allocates nothing.
std::vector<unsigned char>& scratch() {
  thread_local std::vector<unsigned char> buf;
  return buf;
}

constexpr int64_t kInlineMacs = int64_t{1} << 17;

int64_t align64(int64_t n) {
  return (n + 63) & ~int64_t{63};
}

void validate(const MatView& w, int64_t cols) {
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(w.type));
  if (info == nullptr) fail("matmul: unknown weight type id {}", static_cast<uint32_t>(w.type));
  if (w.type == DType::Q8_K || !info->computable)
    fail("matmul: weight type {} is not supported (supported: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K)",
         info->name);
  if (w.cols != cols)
    fail("matmul_multi: weights have {} and {} columns; one input needs equal widths", cols,
         w.cols);
  if (w.cols <= 0 || w.cols % info->block_elems != 0)
    fail("matmul: {} weight has {} columns, not a positive multiple of its block size {}",
         info->name, w.cols, info->block_elems);
  if (w.rows < 0) fail("matmul: negative row count {}", w.rows);
  if (!fits_layout(w))
    fail("matmul: a {} x {} {} view does not fit its packed layout ({})", w.rows, w.cols,
         info->name, kPackedLayoutRules);
}

// Row pieces of ~128 KiB (whole 8-row groups; a multi-token piece stays in L2
// while every token group re-reads it), at least 8 per thread per matrix.
constexpr int64_t kPieceBytes = 128 << 10;

int64_t piece_rows(const MatView& w, int n_threads) {
  const int64_t rb = row_bytes(w.type, w.cols);
  const int64_t balance = (w.rows + n_threads * 8 - 1) / (n_threads * 8);
  const int64_t rows = std::min(balance, std::max<int64_t>(8, kPieceBytes / rb));
  return std::max<int64_t>(8, (rows + 7) / 8 * 8);
}

// Bytes of the next call's share that a finished thread prefetches: enough to
// cover the next call's start-up until its kernels' own prefetch runs ahead.
constexpr int64_t kNextLeadBytes = 64 << 10;

// Prefetches into L2 the first kNextLeadBytes of the run that `thread` will own
// in a matmul_multi over `next` (the same piece split as the call itself).
void prefetch_run_start(std::span<const MatView> next, int thread, int n_threads) {
  int64_t n_pieces = 0;
  for (const MatView& w : next) {
    const int64_t rows = piece_rows(w, n_threads);
    n_pieces += (w.rows + rows - 1) / rows;
  }
  int64_t first = n_pieces * thread / n_threads;
  for (const MatView& w : next) {
    const int64_t rows = piece_rows(w, n_threads), count = (w.rows + rows - 1) / rows;
    if (first >= count) {
      first -= count;
      continue;
    }
    // Every layout keeps rows' bytes in order of row groups: row r starts at r * row_bytes
    // (a packed matrix with a partial last record per group is a little longer: the
    // lead then lands up to 3 blocks per row early, which costs nothing).
    const int64_t rb = row_bytes(w.type, w.cols);
    const char* p = static_cast<const char*>(w.data) + first * rows * rb;
    const int64_t bytes = std::min(kNextLeadBytes, (w.rows - first * rows) * rb);
    for (int64_t off = 0; off < bytes; off += 64) prefetch_l2(p + off);
    return;
  }
}

}  // namespace

void matmul_multi(std::span<const MatView> ws, const float* x, int64_t n_tokens,
                  std::span<float* const> outs, ThreadPool& pool, std::span<const MatView> next) {
  TANDEM_CHECK(ws.size() == outs.size(), "{} weights but {} outputs", ws.size(), outs.size());
  if (ws.empty() || n_tokens <= 0) return;
  const int64_t cols = ws[0].cols;
  bool need_q8_0 = false, need_q8_k = false, row_major_q8_0 = false;
  for (const MatView& w : ws) {
    validate(w, cols);
    const bool q = w.type == DType::Q8_0 || w.type == DType::Q4_0;
    need_q8_0 |= q;
    row_major_q8_0 |= q && w.layout == Layout::kRows;
    need_q8_k |= w.type == DType::Q4_K || w.type == DType::Q6_K;
  }
  const MatmulTable& table = table_for(active_isa());

  // ---- activation conversion (once per call) ----
  Activations act{};
  act.cols = cols;
  act.f32 = x;
  const int64_t nb32 = cols / 32, nb256 = cols / 256;
  // Token groups of the interleaved copy, which only the row-major Q8_0 / Q4_0
  // tiles of multi-token calls read (the packed kernels read the blocks).
  const int64_t groups =
      n_tokens > 1 && row_major_q8_0 ? (n_tokens + kTokenTile - 1) / kTokenTile : 0;
  const int64_t q8_0_bytes = align64(n_tokens * nb32 * int64_t{sizeof(BlockQ8_0)});
  const int64_t f_bytes = align64(n_tokens * nb32 * int64_t{sizeof(float)});
  const int64_t f4_bytes = align64(groups * kTokenTile * nb32 * int64_t{sizeof(float)});
  const int64_t x4_bytes = align64(groups * kTokenTile * nb32 * kQK);
  const int64_t q8_k_bytes = align64(n_tokens * nb256 * int64_t{sizeof(BlockQ8_K)});
  const int64_t total = (need_q8_0 ? q8_0_bytes + 2 * f_bytes + 2 * f4_bytes + x4_bytes : 0) +
                        (need_q8_k ? q8_k_bytes : 0);
  auto& buf = scratch();
  if (static_cast<int64_t>(buf.size()) < total + 64) buf.resize(total + 64);
  unsigned char* p = buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64);
  BlockQ8_0* q8_0 = nullptr;
  float *d = nullptr, *s = nullptr, *d4 = nullptr, *s4 = nullptr;
  int8_t* x4 = nullptr;
  BlockQ8_K* q8_k = nullptr;
  if (need_q8_0) {
    q8_0 = reinterpret_cast<BlockQ8_0*>(p), p += q8_0_bytes;
    d = reinterpret_cast<float*>(p), p += f_bytes;
    s = reinterpret_cast<float*>(p), p += f_bytes;
    act.q8_0 = q8_0, act.q8_0_d = d, act.q8_0_s = s;
    if (groups > 0) {
      d4 = reinterpret_cast<float*>(p), p += f4_bytes;
      s4 = reinterpret_cast<float*>(p), p += f4_bytes;
      x4 = reinterpret_cast<int8_t*>(p), p += x4_bytes;
      act.q8_0_d4 = d4, act.q8_0_s4 = s4, act.q8_0_x4 = x4;
    }
  }
  if (need_q8_k) q8_k = reinterpret_cast<BlockQ8_K*>(p), act.q8_k = q8_k, p += q8_k_bytes;
  auto convert = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (need_q8_0) {
        table.quantize_q8_0(x + t * cols, cols, q8_0 + t * nb32, d + t * nb32, s + t * nb32);
        if (groups > 0) {  // interleave quants and scales by token group
          const int64_t g = t / kTokenTile, i = t % kTokenTile;
          for (int64_t b = 0; b < nb32; ++b) {
            const int64_t slot = (g * nb32 + b) * kTokenTile + i;
            std::memcpy(x4 + slot * kQK, q8_0[t * nb32 + b].qs, kQK);
            d4[slot] = d[t * nb32 + b];
            s4[slot] = s[t * nb32 + b];
          }
        }
      }
      if (need_q8_k) quantize_row(DType::Q8_K, x + t * cols, q8_k + t * nb256, cols);
    }
  };
  if (need_q8_0 || need_q8_k) {
    if (n_tokens >= 4 && n_tokens * cols >= (1 << 16) && pool.size() > 1)
      pool.parallel_for(n_tokens, 1, convert);
    else
      convert(0, n_tokens);
  }
  if (need_q8_0) {  // zero the padding tokens of the last group
    for (int64_t t = n_tokens; t < groups * kTokenTile; ++t) {
      const int64_t g = t / kTokenTile, i = t % kTokenTile;
      for (int64_t b = 0; b < nb32; ++b) {
        const int64_t slot = (g * nb32 + b) * kTokenTile + i;
        std::memset(x4 + slot * kQK, 0, kQK);
        d4[slot] = 0;
        s4[slot] = 0;
      }
    }
  }

  // ---- row pieces over the pool (one dispatch for all matrices) ----
  // Each thread owns a contiguous run of pieces (piece_rows) and takes them
  // front to back, so it reads one sequential stream whose prefetching runs on
  // across piece borders; a thread that runs out takes pieces from the back of
  // another's run, so a slow or descheduled thread delays the call by at most
  // one piece. Measured on the Xeon host, one-token passes over 16 layers'
  // matrices (matmul_gmacs --layers 16, 2 threads): Q8_0 25-26 GB/s, F16 28.7
  // GB/s against 23-23.6 and 27.2 GB/s when every piece went to whichever
  // thread asked next.
  const int n_threads = pool.size();
  struct Piece {
    int m;
    int64_t r0, r1;
  };
  thread_local std::vector<Piece> caller_pieces;
  std::vector<Piece>& pieces = caller_pieces;  // workers must see the caller's list
  pieces.clear();
  for (size_t i = 0; i < ws.size(); ++i) {
    const int64_t rows = piece_rows(ws[i], n_threads);
    for (int64_t r0 = 0; r0 < ws[i].rows; r0 += rows)
      pieces.push_back({static_cast<int>(i), r0, std::min(ws[i].rows, r0 + rows)});
  }
  const int64_t n_pieces = static_cast<int64_t>(pieces.size());
  // runs[t]: thread t's pieces [front, back), packed as back << 32 | front.
  thread_local std::vector<std::atomic<uint64_t>> caller_runs;
  if (static_cast<int>(caller_runs.size()) < n_threads)
    caller_runs = std::vector<std::atomic<uint64_t>>(n_threads);
  std::vector<std::atomic<uint64_t>>& runs = caller_runs;
  for (int t = 0; t < n_threads; ++t) {
    const uint64_t f = n_pieces * t / n_threads, b = n_pieces * (t + 1) / n_threads;
    runs[t].store(b << 32 | f, std::memory_order_relaxed);
  }
  // Takes the front (own run) or back (another's) piece of a run; -1 when empty.
  auto take = [&](std::atomic<uint64_t>& run, bool front) -> int64_t {
    uint64_t v = run.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = v & 0xffffffffu, b = v >> 32;
      if (f >= b) return -1;
      const uint64_t next = front ? (b << 32 | (f + 1)) : ((b - 1) << 32 | f);
      if (run.compare_exchange_weak(v, next, std::memory_order_relaxed))
        return static_cast<int64_t>(front ? f : b - 1);
    }
  };
  auto compute = [&](int64_t c) {
    const Piece& pc = pieces[c];
    const MatView& w = ws[pc.m];
    rows_fn(table, w)(w, act, n_tokens, pc.r0, pc.r1, outs[pc.m]);
  };
  auto work = [&](int thread, int) {
    for (int64_t c; (c = take(runs[thread], true)) >= 0;) compute(c);
    for (int k = 1; k < n_threads; ++k)
      for (int64_t c; (c = take(runs[(thread + k) % n_threads], false)) >= 0;) compute(c);
    if (!next.empty()) prefetch_run_start(next, thread, n_threads);
  };
  // Small products (tiny models, decode of narrow layers) finish in a few
  // microseconds: waking the workers would cost more than it saves.
  int64_t macs = 0;
  for (const MatView& w : ws) macs += w.rows * cols * n_tokens;
  if (n_pieces == 1 || n_threads == 1 || macs < kInlineMacs)
    work(0, 1);
  else
    pool.run(work);
}

void matmul(const MatView& w, const float* x, int64_t n_tokens, float* out, ThreadPool& pool,
            std::span<const MatView> next) {
  float* const outs[1] = {out};
  matmul_multi(std::span<const MatView>(&w, 1), x, n_tokens, outs, pool, next);
}

void matmul_reference(const MatView& w, const float* x, int64_t n_tokens, float* out) {
  validate(w, w.cols);
  std::vector<float> row(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_matrix_row(w, r, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      double acc = 0;
      for (int64_t c = 0; c < w.cols; ++c) acc += double(row[c]) * x[t * w.cols + c];
      out[t * w.rows + r] = static_cast<float>(acc);
    }
  }
}

}  // namespace tandem::kernels
