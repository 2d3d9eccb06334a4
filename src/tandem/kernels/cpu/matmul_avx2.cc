// AVX2 + FMA + F16C row kernels. Decode (n_tokens = 1) is a memory-bound stream:
// one token against one or four rows. Several tokens (speculative verification,
// batched decode, prompts) go by token groups of up to 4, so every token count
// costs at most its count rounded up to 4 (no remainder path): Q8_0 / Q4_0 use a
// register-blocked tile of R rows x T tokens (the weight block is loaded and
// unpacked once per tile, the activation blocks once per R rows, from the
// aligned group-interleaved layout); the other types run one row against T.
//   float types: FMA on f32, F16 widened by F16C, BF16 by a 16-bit shift.
//   Q8_0 x Q8_0: sign trick — maddubs(|w|, sign(x, w)) then madd with ones.
//   Q4_0 x Q8_0: unsigned nibbles q straight into maddubs(q, x); the -8 offset
//                is applied once per block as -8 * dw * (dx * sum(x)).
//   Q4_K / Q6_K x Q8_K: maddubs per 32 quants, madd with the sub-block scales,
//                integer accumulation over the 256-block, mins (Q4_K) and the -32
//                offset (Q6_K) from the Q8_K group sums.
// For T > 1 the tokens' int32 partial sums are folded with hadd into one
// vector (lanes = tokens), so a block costs one convert and one FMA per row.
#include <immintrin.h>

#include "tandem/kernels/cpu/avx2_util.h"
#include "tandem/kernels/cpu/matmul_internal.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/kernels/cpu/prefetch.h"
#include "tandem/tensor/half.h"

#include <algorithm>
#include <cstring>

namespace tandem::kernels::detail {
namespace {

// Decode prefetch distances, tuned on Zen 3 (measured ratios to DRAM read bandwidth).
constexpr int64_t kPrefetchBytes = 4096;        // single-row kernels: bytes ahead
constexpr int64_t kGroupPrefetchBytes = 16384;  // 4-row kernels: at least 2 groups ahead

// First byte of the 4-row group that a 4-row kernel prefetches while it runs.
inline int64_t group_prefetch_offset(int64_t rb) {
  return std::max<int64_t>(2, kGroupPrefetchBytes / (4 * rb)) * 4 * rb;
}

TANDEM_AVX2 inline float f16(uint16_t h) {
  return _cvtsh_ss(h);
}

// Sums of T token vectors folded into lanes: lane t of each 128-bit half holds a
// partial sum of token t (lanes >= T are unused); adding the halves gives the totals.
// A transpose by 32- and 64-bit unpacks plus adds, not vphaddd: on Zen 3 the
// multiply pipe (maddubs + madd) is the bottleneck and the unpacks run beside it,
// where hadd's extra uops cost ~10 % (measured, 4-token tiles, data in L1).
template <int T>
TANDEM_AVX2 inline __m256i fold(const __m256i* p) {
  const __m256i z = _mm256_setzero_si256();
  const __m256i p1 = T > 1 ? p[1] : z, p2 = T > 2 ? p[2] : z, p3 = T > 3 ? p[3] : z;
  const __m256i a =
      _mm256_add_epi32(_mm256_unpacklo_epi32(p[0], p1), _mm256_unpackhi_epi32(p[0], p1));
  if constexpr (T <= 2) return _mm256_add_epi32(a, _mm256_unpackhi_epi64(a, z));
  const __m256i b = _mm256_add_epi32(_mm256_unpacklo_epi32(p2, p3), _mm256_unpackhi_epi32(p2, p3));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

// Writes the T token sums of a folded accumulator (minus `sub`) to out[t * stride].
template <int T>
TANDEM_AVX2 inline void store_tokens(__m256 acc, __m128 sub, float* out, int64_t stride) {
  float res[4];
  store4(acc, sub, res);
  for (int t = 0; t < T; ++t) out[t * stride] = res[t];
}

// Kernels with a register tile provide tile<R, T>(first row, row bytes, acts,
// first token, out at (t0, r), out stride, prefetch); the others row<T>.
template <class K>
concept HasTile = requires(const unsigned char* w, const Activations& a, float* o) {
  K::template tile<1, 1>(w, int64_t{}, a, int64_t{}, o, int64_t{}, false);
};

// Rows [r0, r1) against tokens [t0, t0 + T), T <= 4.
template <class K, int T>
TANDEM_AVX2 void token_group(const unsigned char* base, int64_t rb, const Activations& a,
                             int64_t t0, int64_t r0, int64_t r1, float* out, int64_t n_rows,
                             bool prefetch) {
  float* o = out + t0 * n_rows;
  if constexpr (HasTile<K>) {
    constexpr int R = K::kTileRows;
    int64_t r = r0;
    if constexpr (T == 1 && requires { K::rows4(base, rb, a, t0, o); }) {
      // A lone token (the last of a group): the decode kernel folds four rows
      // into one vector, cheaper than four single-token folds; same arithmetic
      // per row as tile<R, 1>.
      for (; r + 4 <= r1; r += 4) {
        float res[4];
        K::rows4(base + r * rb, rb, a, t0, res);
        for (int i = 0; i < 4; ++i) o[r + i] = res[i];
      }
    }
    for (; r + R <= r1; r += R)
      K::template tile<R, T>(base + r * rb, rb, a, t0, o + r, n_rows, prefetch);
    for (; r < r1; ++r) K::template tile<1, T>(base + r * rb, rb, a, t0, o + r, n_rows, false);
  } else {
    for (int64_t r = r0; r < r1; ++r) {
      float res[T];
      K::template row<T>(base + r * rb, a, t0, res);
      for (int i = 0; i < T; ++i) o[i * n_rows + r] = res[i];
    }
  }
}

template <class K>
TANDEM_AVX2 void rows_tiled(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0,
                            int64_t r1, float* out) {
  const int64_t rb = row_bytes(w.type, w.cols);
  const auto* base = static_cast<const unsigned char*>(w.data);
  if (n_tokens > 1) {
    // Token groups of 4 (the last one partial); the first group brings the chunk
    // in from memory, later groups find it in L2.
    for (int64_t t = 0; t < n_tokens; t += kTokenTile) {
      const bool first = t == 0;
      switch (std::min<int64_t>(kTokenTile, n_tokens - t)) {
        case 1:
          token_group<K, 1>(base, rb, a, t, r0, r1, out, w.rows, first);
          break;
        case 2:
          token_group<K, 2>(base, rb, a, t, r0, r1, out, w.rows, first);
          break;
        case 3:
          token_group<K, 3>(base, rb, a, t, r0, r1, out, w.rows, first);
          break;
        default:
          token_group<K, 4>(base, rb, a, t, r0, r1, out, w.rows, first);
          break;
      }
    }
    return;
  }
  // Decode streams the rows from DRAM once: software prefetch a few KiB ahead
  // keeps enough cache-line misses in flight to saturate the memory bus, which
  // the out-of-order window alone does not when each line costs ~20 uops.
  const int64_t ahead = std::max<int64_t>(4, kPrefetchBytes / rb);
  auto prefetch = [&](int64_t r, int64_t n_rows) {
    if (r + ahead >= r1) return;
    const unsigned char* p = base + (r + ahead) * rb;
    const int64_t bytes = std::min(n_rows, r1 - r - ahead) * rb;
    for (int64_t off = 0; off < bytes; off += 64) prefetch_l2(p + off);
  };
  const int64_t t = 0;
  int64_t r = r0;
  if constexpr (requires { K::rows4(base, rb, a, t, static_cast<float*>(nullptr)); }) {
    // Four rows against one token: the activation block is loaded once and
    // the four rows' integer sums share one convert and one FMA.
    for (; r + 4 <= r1; r += 4) {
      float res[4];
      K::rows4(base + r * rb, rb, a, t, res);
      for (int i = 0; i < 4; ++i) out[r + i] = res[i];
    }
  }
  for (; r < r1; ++r) {
    prefetch(r, 1);
    K::template row<1>(base + r * rb, a, t, &out[r]);
  }
}

// ---- float weights -----------------------------------------------------------

struct LoadF32 {
  static constexpr int64_t kBytes = 4;  // per weight
  static TANDEM_AVX2 __m256 load8(const unsigned char* w, int64_t c) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + c);
  }
  static float load1(const unsigned char* w, int64_t c) {
    return reinterpret_cast<const float*>(w)[c];
  }
};
struct LoadF16 {
  static constexpr int64_t kBytes = 2;  // per weight
  static TANDEM_AVX2 __m256 load8(const unsigned char* w, int64_t c) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2 * c)));
  }
  static float load1(const unsigned char* w, int64_t c) {
    return f16_to_f32(reinterpret_cast<const uint16_t*>(w)[c]);
  }
};
struct LoadBF16 {
  static constexpr int64_t kBytes = 2;  // per weight
  static TANDEM_AVX2 __m256 load8(const unsigned char* w, int64_t c) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2 * c));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float load1(const unsigned char* w, int64_t c) {
    return bf16_to_f32(reinterpret_cast<const uint16_t*>(w)[c]);
  }
};

template <class L>
struct FloatRow {
  template <int T>
  static TANDEM_AVX2 void row(const unsigned char* w, const Activations& a, int64_t t0,
                              float* res) {
    constexpr int U = T == 1 ? 4 : 2;  // independent accumulators per token (FMA latency)
    const int64_t n = a.cols;
    const float* x[T];
    for (int i = 0; i < T; ++i) x[i] = a.f32 + (t0 + i) * n;
    __m256 acc[U][T];
#pragma GCC unroll 16
    for (int u = 0; u < U; ++u)
#pragma GCC unroll 16
      for (int i = 0; i < T; ++i) acc[u][i] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 * U <= n; c += 8 * U) {
#pragma GCC unroll 16
      for (int u = 0; u < U; ++u) {
        const __m256 wv = L::load8(w, c + 8 * u);
#pragma GCC unroll 16
        for (int i = 0; i < T; ++i)
          acc[u][i] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[i] + c + 8 * u), acc[u][i]);
      }
    }
    for (; c + 8 <= n; c += 8) {
      const __m256 wv = L::load8(w, c);
      for (int i = 0; i < T; ++i)
        acc[0][i] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[i] + c), acc[0][i]);
    }
    for (int i = 0; i < T; ++i) {
      __m256 s = acc[0][i];
      for (int u = 1; u < U; ++u) s = _mm256_add_ps(s, acc[u][i]);
      float r = hsum(s);
      for (int64_t cc = c; cc < n; ++cc) r += L::load1(w, cc) * x[i][cc];
      res[i] = r;
    }
  }

  // Decode: four consecutive rows (stride rb bytes) against token t. The
  // activation vector is loaded once for the four rows, and a later group's rows
  // are prefetched into L2 spread over this group's loop (as for Q8_0: four short
  // streams are too short for the hardware prefetcher to ramp up).
  static TANDEM_AVX2 void rows4(const unsigned char* wr, int64_t rb, const Activations& a,
                                int64_t t, float* res) {
    const int64_t n = a.cols;
    const float* x = a.f32 + t * n;
    const unsigned char* next = wr + group_prefetch_offset(rb);
    __m256 acc[4][2];
    for (int i = 0; i < 4; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
      for (int i = 0; i < 4; ++i) prefetch_l2(next + i * rb + c * L::kBytes);
      const __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        acc[i][0] = _mm256_fmadd_ps(L::load8(wr + i * rb, c), x0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(L::load8(wr + i * rb, c + 8), x1, acc[i][1]);
      }
    }
    for (int i = 0; i < 4; ++i) {
      float r = hsum(_mm256_add_ps(acc[i][0], acc[i][1]));
      for (int64_t cc = c; cc < n; ++cc) r += L::load1(wr + i * rb, cc) * x[cc];
      res[i] = r;
    }
  }

  // R rows x T tokens of FMAs: per 8 columns R weight loads (and F16/BF16
  // widenings) and T activation loads feed R * T FMAs; U independent chains per
  // pair cover the FMA latency when R * T is small. R = 1: with 2 rows x 4 tokens
  // the 4 tokens' f32 rows (32 KiB at 2048 columns) no longer stay in L1 and come
  // from L2 — measured 1.15x faster at 16 tokens but 0.85x at 64 (F16, 2048
  // columns); a bigger tile needs column blocking first.
  static constexpr int kTileRows = 1;
  template <int R, int T>
  static TANDEM_AVX2 void tile(const unsigned char* wr, int64_t rb, const Activations& a,
                               int64_t t0, float* out, int64_t stride, bool) {
    constexpr int U = R * T >= 6 ? 1 : 2;
    const int64_t n = a.cols;
    const float* x[T];
    for (int t = 0; t < T; ++t) x[t] = a.f32 + (t0 + t) * n;
    __m256 acc[U][R][T] = {};  // zeroed
    int64_t c = 0;
    for (; c + 8 * U <= n; c += 8 * U) {
#pragma GCC unroll 16
      for (int u = 0; u < U; ++u) {
        __m256 xv[T];
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x[t] + c + 8 * u);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256 wv = L::load8(wr + r * rb, c + 8 * u);
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) acc[u][r][t] = _mm256_fmadd_ps(wv, xv[t], acc[u][r][t]);
        }
      }
    }
    for (; c + 8 <= n; c += 8) {
      for (int r = 0; r < R; ++r) {
        const __m256 wv = L::load8(wr + r * rb, c);
        for (int t = 0; t < T; ++t)
          acc[0][r][t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[t] + c), acc[0][r][t]);
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) {
        __m256 s = acc[0][r][t];
        for (int u = 1; u < U; ++u) s = _mm256_add_ps(s, acc[u][r][t]);
        float v = hsum(s);
        for (int64_t cc = c; cc < n; ++cc) v += L::load1(wr + r * rb, cc) * x[t][cc];
        out[t * stride + r] = v;
      }
    }
  }
};

// ---- F16 / BF16 in the packed kHalfx4 layout (cpu/packed.h) -------------------
// Rows i0..i0+R-1 of a 4-row group against tokens t0..t0+T-1: per 128-byte chunk
// (16 columns of the 4 rows), R x 2 widened loads (L: LoadF16 or LoadBF16) and R x 2 x T FMAs; U
// chains per (row, token) cover the FMA latency. Decode (T = 1) takes all 4 rows, the four-row
// kernel of FloatRow over one sequential stream, prefetching 16 KiB ahead; token groups take the
// rows in pairs (4 rows x 4 tokens of accumulators would not fit 16 registers), the second pair
// from L1/L2.
template <class L, int R, int T>
TANDEM_AVX2 void halfx4_rows(const uint16_t* g, int i0, int64_t n, const Activations& a, int64_t t0,
                             float* out, int64_t stride, bool prefetch) {
  constexpr int U = T == 1 ? 2 : 1;
  __m256 acc[U][R][T] = {};  // zeroed
  for (int64_t c = 0; c < n; c += 16) {
    const uint16_t* chunk = g + 4 * c;  // 64 f16 per 16 columns
    if (prefetch) {
      prefetch_l2(reinterpret_cast<const char*>(chunk) + kGroupPrefetchBytes);
      prefetch_l2(reinterpret_cast<const char*>(chunk) + kGroupPrefetchBytes + 64);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256 xv[T];
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(a.f32 + (t0 + t) * n + c + 8 * h);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256 wv =
            L::load8(reinterpret_cast<const unsigned char*>(chunk + 16 * (i0 + r) + 8 * h), 0);
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) acc[h % U][r][t] = _mm256_fmadd_ps(wv, xv[t], acc[h % U][r][t]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t)
      out[t * stride + i0 + r] =
          hsum(U == 2 ? _mm256_add_ps(acc[0][r][t], acc[U - 1][r][t]) : acc[0][r][t]);
}

template <class L, int T>
TANDEM_AVX2 void halfx4_group(const uint16_t* g, int64_t n, const Activations& a, int64_t t0,
                              float* out, int64_t stride, bool prefetch) {
  if constexpr (T == 1) {
    halfx4_rows<L, 4, 1>(g, 0, n, a, t0, out, stride, prefetch);
  } else {
    halfx4_rows<L, 2, T>(g, 0, n, a, t0, out, stride, prefetch);
    halfx4_rows<L, 2, T>(g, 2, n, a, t0, out, stride, false);
  }
}

template <class L>
TANDEM_AVX2 void rows_halfx4(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0,
                             int64_t r1, float* out) {
  const auto* base = static_cast<const uint16_t*>(w.data);
  const int64_t n = w.cols;
  for (int64_t t = 0; t < n_tokens; t += kTokenTile) {
    const bool first = t == 0;  // later token groups find the chunk in L2
    for (int64_t r = r0; r < r1; r += 4) {
      const uint16_t* g = base + r * n;
      float* o = out + t * w.rows + r;
      switch (std::min<int64_t>(kTokenTile, n_tokens - t)) {
        case 1:
          halfx4_group<L, 1>(g, n, a, t, o, w.rows, first);
          break;
        case 2:
          halfx4_group<L, 2>(g, n, a, t, o, w.rows, first);
          break;
        case 3:
          halfx4_group<L, 3>(g, n, a, t, o, w.rows, first);
          break;
        default:
          halfx4_group<L, 4>(g, n, a, t, o, w.rows, first);
          break;
      }
    }
  }
}

// ---- Q8_0 / Q4_0 weights x Q8_0 activations ---------------------------------

// Elements 0..15 are the low nibbles, 16..31 the high nibbles of qs[0..15]:
// broadcast the 16 bytes to both lanes (a pure load), shift the upper lane's
// qwords right by 4 (the bits that cross into a byte's top are masked off).
TANDEM_AVX2 inline __m256i unpack_q4_0(const BlockQ4_0& b) {
  const __m256i v =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
  return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)),
                          _mm256_set1_epi8(15));
}

// One decode block: acc += d_w d_x * dot(w, x).
TANDEM_AVX2 inline __m256 q8_0_step(const BlockQ8_0& w, const BlockQ8_0& x, float dx, __m256i ones,
                                    __m256 acc) {
  const __m256i wv = load32(w.qs);
  const __m256i p = _mm256_madd_epi16(
      _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(load32(x.qs), wv)), ones);
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w.d) * dx), acc);
}

TANDEM_AVX2 inline __m256 q4_0_step(const BlockQ4_0& w, const BlockQ8_0& x, float dx, float sx,
                                    __m256i ones, __m256 acc, float& corr) {
  const float dw = f16(w.d);
  corr += dw * sx;
  const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(unpack_q4_0(w), load32(x.qs)), ones);
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * dx), acc);
}

// The f16 scales of block b of four rows, as floats (one lane per row).
template <class Block>
TANDEM_AVX2 inline __m128 scales4(const Block* const* w, int64_t b) {
  return _mm_cvtph_ps(
      _mm_setr_epi16(static_cast<int16_t>(w[0][b].d), static_cast<int16_t>(w[1][b].d),
                     static_cast<int16_t>(w[2][b].d), static_cast<int16_t>(w[3][b].d), 0, 0, 0, 0));
}

struct Q8_0Row {
  template <int T>
  static TANDEM_AVX2 void row(const unsigned char* wr, const Activations& a, int64_t t0,
                              float* res) {
    const auto* w = reinterpret_cast<const BlockQ8_0*>(wr);
    const int64_t nb = a.cols / kQK;
    const __m256i ones = _mm256_set1_epi16(1);
    if constexpr (T == 1) {
      const BlockQ8_0* x = a.q8_0 + t0 * nb;
      const float* xd = a.q8_0_d + t0 * nb;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      int64_t b = 0;
      for (; b + 2 <= nb; b += 2) {  // two independent chains hide the FMA latency
        acc0 = q8_0_step(w[b], x[b], xd[b], ones, acc0);
        acc1 = q8_0_step(w[b + 1], x[b + 1], xd[b + 1], ones, acc1);
      }
      if (b < nb) acc0 = q8_0_step(w[b], x[b], xd[b], ones, acc0);
      res[0] = hsum(_mm256_add_ps(acc0, acc1));
    } else {
      static_assert(T == 1, "multi-token Q8_0 goes through tile<R, T>");
    }
  }

  // R rows x T tokens (T <= 4, tokens t0.. of one group). Per block: T aligned
  // activation loads shared by the R rows; per row one weight load and |w| shared
  // by the T tokens, T sign/maddubs/madd, one fold, one convert, one FMA.
  static constexpr int kTileRows = 4;
  template <int R, int T>
  static TANDEM_AVX2 void tile(const unsigned char* wr, int64_t rb, const Activations& a,
                               int64_t t0, float* out, int64_t stride, bool prefetch) {
    const int64_t nb = a.cols / kQK;
    const BlockQ8_0* w[R];
    for (int r = 0; r < R; ++r) w[r] = reinterpret_cast<const BlockQ8_0*>(wr + r * rb);
    const int8_t* xq = a.q8_0_x4 + (t0 / kTokenTile) * nb * kTokenTile * kQK;
    const float* d4 = a.q8_0_d4 + (t0 / kTokenTile) * nb * kTokenTile;
    const unsigned char* next = wr + group_prefetch_offset(rb);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      if (prefetch)
        for (int r = 0; r < R; ++r) prefetch_l2(next + r * rb + b * sizeof(BlockQ8_0));
      __m256i xv[T];
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t)
        xv[t] =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + (b * kTokenTile + t) * kQK));
      const __m256 dx = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(d4 + b * kTokenTile));
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i wv = load32(w[r][b].qs);
        const __m256i aw = _mm256_abs_epi8(wv);
        __m256i p[T];
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t)
          p[t] = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv[t], wv)), ones);
        const __m256 sc = _mm256_mul_ps(_mm256_set1_ps(f16(w[r][b].d)), dx);
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fold<T>(p)), sc, acc[r]);
      }
    }
    for (int r = 0; r < R; ++r) store_tokens<T>(acc[r], _mm_setzero_ps(), out + r, stride);
  }

  // Four consecutive rows (stride rb bytes) against token t.
  static TANDEM_AVX2 void rows4(const unsigned char* wr, int64_t rb, const Activations& a,
                                int64_t t, float* res) {
    const int64_t nb = a.cols / kQK;
    const BlockQ8_0* w[4];
    for (int i = 0; i < 4; ++i) w[i] = reinterpret_cast<const BlockQ8_0*>(wr + i * rb);
    // Four short interleaved streams defeat the hardware prefetcher's ramp-up:
    // fetch a later group's rows into L2, evenly spread over this group's loop.
    const unsigned char* next = wr + group_prefetch_offset(rb);
    const BlockQ8_0* x = a.q8_0 + t * nb;
    const float* xd = a.q8_0_d + t * nb;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      for (int i = 0; i < 4; ++i) prefetch_l2(next + i * rb + b * sizeof(w[0][0]));
      const __m256i xv = load32(x[b].qs);
      __m256i p[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        const __m256i wv = load32(w[i][b].qs);
        p[i] = _mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv)), ones);
      }
      const __m128 dw = scales4(w, b);
      const __m128 sc = _mm_mul_ps(dw, _mm_set1_ps(xd[b]));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fold4(p[0], p[1], p[2], p[3])),
                            _mm256_set_m128(sc, sc), acc);
    }
    store4(acc, _mm_setzero_ps(), res);
  }
};

struct Q4_0Row {
  template <int T>
  static TANDEM_AVX2 void row(const unsigned char* wr, const Activations& a, int64_t t0,
                              float* res) {
    const auto* w = reinterpret_cast<const BlockQ4_0*>(wr);
    const int64_t nb = a.cols / kQK;
    const __m256i ones = _mm256_set1_epi16(1);
    if constexpr (T == 1) {
      const BlockQ8_0* x = a.q8_0 + t0 * nb;
      const float* xd = a.q8_0_d + t0 * nb;
      const float* xs = a.q8_0_s + t0 * nb;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      float corr0 = 0, corr1 = 0;
      int64_t b = 0;
      for (; b + 2 <= nb; b += 2) {
        acc0 = q4_0_step(w[b], x[b], xd[b], xs[b], ones, acc0, corr0);
        acc1 = q4_0_step(w[b + 1], x[b + 1], xd[b + 1], xs[b + 1], ones, acc1, corr1);
      }
      if (b < nb) acc0 = q4_0_step(w[b], x[b], xd[b], xs[b], ones, acc0, corr0);
      res[0] = hsum(_mm256_add_ps(acc0, acc1)) - 8.f * (corr0 + corr1);
    } else {
      static_assert(T == 1, "multi-token Q4_0 goes through tile<R, T>");
    }
  }

  // R rows x T tokens, as Q8_0's tile; the unsigned nibbles need no sign step and
  // the -8 offset is one FMA per row and block on the tokens' d * sum(q).
  static constexpr int kTileRows = 4;
  template <int R, int T>
  static TANDEM_AVX2 void tile(const unsigned char* wr, int64_t rb, const Activations& a,
                               int64_t t0, float* out, int64_t stride, bool prefetch) {
    const int64_t nb = a.cols / kQK;
    const BlockQ4_0* w[R];
    for (int r = 0; r < R; ++r) w[r] = reinterpret_cast<const BlockQ4_0*>(wr + r * rb);
    const int8_t* xq = a.q8_0_x4 + (t0 / kTokenTile) * nb * kTokenTile * kQK;
    const float* d4 = a.q8_0_d4 + (t0 / kTokenTile) * nb * kTokenTile;
    const float* s4 = a.q8_0_s4 + (t0 / kTokenTile) * nb * kTokenTile;
    const unsigned char* next = wr + group_prefetch_offset(rb);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[R];
    __m128 corr[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps(), corr[r] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      if (prefetch)
        for (int r = 0; r < R; ++r) prefetch_l2(next + r * rb + b * sizeof(BlockQ4_0));
      __m256i xv[T];
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t)
        xv[t] =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + (b * kTokenTile + t) * kQK));
      const __m128 dx4 = _mm_load_ps(d4 + b * kTokenTile);
      const __m256 dx = _mm256_set_m128(dx4, dx4);
      const __m128 sx = _mm_load_ps(s4 + b * kTokenTile);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i q = unpack_q4_0(w[r][b]);
        __m256i p[T];
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) p[t] = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv[t]), ones);
        const __m256 dw = _mm256_set1_ps(f16(w[r][b].d));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fold<T>(p)), _mm256_mul_ps(dw, dx), acc[r]);
        corr[r] = _mm_fmadd_ps(_mm256_castps256_ps128(dw), sx, corr[r]);
      }
    }
    for (int r = 0; r < R; ++r)
      store_tokens<T>(acc[r], _mm_mul_ps(_mm_set1_ps(8.f), corr[r]), out + r, stride);
  }

  // Four consecutive rows (stride rb bytes) against token t.
  static TANDEM_AVX2 void rows4(const unsigned char* wr, int64_t rb, const Activations& a,
                                int64_t t, float* res) {
    const int64_t nb = a.cols / kQK;
    const BlockQ4_0* w[4];
    for (int i = 0; i < 4; ++i) w[i] = reinterpret_cast<const BlockQ4_0*>(wr + i * rb);
    // Four short interleaved streams defeat the hardware prefetcher's ramp-up:
    // fetch a later group's rows into L2, evenly spread over this group's loop.
    const unsigned char* next = wr + group_prefetch_offset(rb);
    const BlockQ8_0* x = a.q8_0 + t * nb;
    const float* xd = a.q8_0_d + t * nb;
    const float* xs = a.q8_0_s + t * nb;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 corr = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      for (int i = 0; i < 4; ++i) prefetch_l2(next + i * rb + b * sizeof(w[0][0]));
      const __m256i xv = load32(x[b].qs);
      __m256i p[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i)
        p[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(unpack_q4_0(w[i][b]), xv), ones);
      const __m128 dw = scales4(w, b);
      const __m128 sc = _mm_mul_ps(dw, _mm_set1_ps(xd[b]));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fold4(p[0], p[1], p[2], p[3])),
                            _mm256_set_m128(sc, sc), acc);
      corr = _mm_fmadd_ps(dw, _mm_set1_ps(xs[b]), corr);
    }
    store4(acc, _mm_mul_ps(_mm_set1_ps(8.f), corr), res);
  }
};

// ---- Q4_0 / Q8_0 in the packed layouts (cpu/packed.h) x Q8_0 ---------------
// Integer dot products of unsigned x signed bytes, summed per 32-bit lane: AVX2
// has maddubs (pairs into saturating int16) then madd with ones (pairs into
// int32). The Q4_0 sums stay in int16 until q4_sum: each maddubs lane is at most
// 2 * 15 * 127 = 3810, and a block adds 8 of them (30480 < 32767).
TANDEM_AVX2 inline __m256i dot_add(__m256i acc, __m256i u, __m256i s) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
using Q4Sum = __m256i;  // int16 lanes
TANDEM_AVX2 inline Q4Sum q4_add(Q4Sum acc, __m256i lo, __m256i xl, __m256i hi, __m256i xh) {
  return _mm256_add_epi16(
      acc, _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh)));
}
TANDEM_AVX2 inline __m256i q4_sum(Q4Sum acc0, Q4Sum acc1) {
  return _mm256_madd_epi16(_mm256_add_epi16(acc0, acc1), _mm256_set1_epi16(1));
}
TANDEM_AVX2 inline __m256i hi_nibbles(__m256i x) {
  return _mm256_and_si256(_mm256_srli_epi16(x, 4), _mm256_set1_epi8(15));
}
#define TANDEM_PACKED TANDEM_AVX2
#include "tandem/kernels/cpu/matmul_packed.inc"
#undef TANDEM_PACKED

// ---- K-quants x Q8_K --------------------------------------------------------

// Shuffle control putting byte s in the low byte of every 16-bit lane (high byte 0).
TANDEM_AVX2 inline __m256i scale_lane(int s) {
  return _mm256_set1_epi16(static_cast<int16_t>(0x8000 | s));
}

struct Q4_KRow {
  template <int T>
  static TANDEM_AVX2 void row(const unsigned char* wr, const Activations& a, int64_t t0,
                              float* res) {
    const auto* w = reinterpret_cast<const BlockQ4_K*>(wr);
    const int64_t nb = a.cols / kQKK;
    const BlockQ8_K* x = a.q8_k + t0 * nb;
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc[T];
    for (int i = 0; i < T; ++i) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ4_K& blk = w[b];
      // All 8 scales and 8 mins at once (the q4k_scale_min packing, 4 lanes per word).
      uint32_t u[3];
      std::memcpy(u, blk.scales, sizeof(u));
      const uint64_t sc =
          (u[0] & 0x3f3f3f3fu) | uint64_t((u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u)) << 32;
      const uint64_t mn = (u[1] & 0x3f3f3f3fu) |
                          uint64_t(((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)) << 32;
      const __m128i mv = _mm_cvtsi64_si128(static_cast<long long>(mn));
      const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv));  // m0 m0 m1 m1 ..
      // Sub-block scale s widened to every 16-bit lane by one byte shuffle.
      const __m256i sc_bytes = _mm256_set1_epi64x(static_cast<long long>(sc));
      __m256i isum[T];
      for (int i = 0; i < T; ++i) isum[i] = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c));
        const __m256i lo = _mm256_and_si256(v, m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        const __m256i slo = _mm256_shuffle_epi8(sc_bytes, scale_lane(2 * c));
        const __m256i shi = _mm256_shuffle_epi8(sc_bytes, scale_lane(2 * c + 1));
#pragma GCC unroll 4
        for (int i = 0; i < T; ++i) {
          const int8_t* xq = x[i * nb + b].qs + 64 * c;
          const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load32(xq)), slo);
          const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load32(xq + 32)), shi);
          isum[i] = _mm256_add_epi32(isum[i], _mm256_add_epi32(plo, phi));
        }
      }
      const float d = f16(blk.d), dmin = f16(blk.dmin);
#pragma GCC unroll 4
      for (int i = 0; i < T; ++i) {
        const BlockQ8_K& xb = x[i * nb + b];
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums));
        const __m256 mins = _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mins16));
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), _mm256_set1_ps(d * xb.d), acc[i]);
        acc[i] = _mm256_fnmadd_ps(mins, _mm256_set1_ps(dmin * xb.d), acc[i]);
      }
    }
    for (int i = 0; i < T; ++i) res[i] = hsum(acc[i]);
  }
};

struct Q6_KRow {
  template <int T>
  static TANDEM_AVX2 void row(const unsigned char* wr, const Activations& a, int64_t t0,
                              float* res) {
    const auto* w = reinterpret_cast<const BlockQ6_K*>(wr);
    const int64_t nb = a.cols / kQKK;
    const BlockQ8_K* x = a.q8_k + t0 * nb;
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i m2 = _mm256_set1_epi8(3);
    __m256 acc[T];
    for (int i = 0; i < T; ++i) acc[i] = _mm256_setzero_ps();
    // Low lane: bytes 0-1 of each dword (scale s); high lane: bytes 2-3 (scale s + 1).
    const __m256i spread = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,  //
                                            2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_K& blk = w[b];
      const __m256i sc16 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
      __m256i isum[T];
      for (int i = 0; i < T; ++i) isum[i] = _mm256_setzero_si256();
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * h));
        const __m256i l1 =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                               _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
        q[1] =
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
        q[2] =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
        q[3] =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
          // Scales s = 8h + 2g and s + 1 cover elements [16s, 16s + 32): bring their
          // int16 pair (dword 4h + g of sc16) to every dword, then spread scale s over
          // the low lane and scale s + 1 over the high lane.
          const __m256i pair = _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(4 * h + g));
          const __m256i sv = _mm256_shuffle_epi8(pair, spread);
#pragma GCC unroll 4
          for (int i = 0; i < T; ++i) {
            const int8_t* xq = x[i * nb + b].qs + 128 * h + 32 * g;
            isum[i] = _mm256_add_epi32(
                isum[i], _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], load32(xq)), sv));
          }
        }
      }
      const float d = f16(blk.d);
#pragma GCC unroll 4
      for (int i = 0; i < T; ++i) {
        const BlockQ8_K& xb = x[i * nb + b];
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums));
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5);  // 32*sum sc*bsum
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum[i], off)),
                                 _mm256_set1_ps(d * xb.d), acc[i]);
      }
    }
    for (int i = 0; i < T; ++i) res[i] = hsum(acc[i]);
  }
};

// ---- activation quantisation (bit-identical to quantize_q8_0_scalar) ------------

TANDEM_AVX2 void quantize_q8_0_avx2(const float* x, int64_t n, BlockQ8_0* y, float* d, float* s) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    __m256 v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                      _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float id = amax != 0 ? 127.f / amax : 0.f;
    y[b].d = f32_to_f16(amax / 127.f);
    __m256i q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], _mm256_set1_ps(id)),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i sum32 =
        _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    const __m256i packed =
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs),
                        _mm256_permutevar8x32_epi32(packed, perm));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    d[b] = f16_to_f32(y[b].d);
    s[b] = d[b] * static_cast<float>(_mm_cvtsi128_si32(s4));
  }
}

}  // namespace

const MatmulTable& avx2_matmul_table() {
  static const MatmulTable t{rows_tiled<FloatRow<LoadF32>>,
                             rows_tiled<FloatRow<LoadF16>>,
                             rows_tiled<FloatRow<LoadBF16>>,
                             rows_tiled<Q8_0Row>,
                             rows_tiled<Q4_0Row>,
                             rows_tiled<Q4_KRow>,
                             rows_tiled<Q6_KRow>,
                             rows_packed<RecQ4_0x8, Q4_0x8Block>,
                             rows_packed<RecQ8_0x8, Q8_0x8Block>,
                             rows_halfx4<LoadF16>,
                             rows_halfx4<LoadBF16>,
                             quantize_q8_0_avx2};
  return t;
}

}  // namespace tandem::kernels::detail
