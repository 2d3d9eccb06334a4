"""Self-check of dequant.py against ggml blocks built by hand from first principles.

Run:  /usr/bin/python3 tests/reference/test_dequant_selfcheck.py
Exit code 0 = all checks passed; an AssertionError (non-zero exit) otherwise.

Two kinds of checks:
  1. Hand-made bit patterns whose meaning is worked out in the comments
     (e.g. Q6_K qh byte 0b11_10_01_00 gives the four quarters high bits 0,1,2,3).
  2. Random round trips: per-element *scalar* encoders, written from the layout
     description (which byte and which bits hold element i), pack known integer
     quants; dequant.py's vectorised decoders must give back d*scale*q exactly.
The encoders here deliberately walk element by element so that their structure
is unlike the decoders' reshape/stack tricks.
"""

import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dequant import GGML_TYPES, dequantize, q4_k_scales_mins, tensor_nbytes  # noqa: E402

F32, F16, Q4_0, Q8_0, Q4_K, Q6_K, BF16 = 0, 1, 2, 8, 12, 14, 30


def h(bits):
    """Two little-endian bytes of a 16-bit pattern."""
    return bytes([bits & 0xFF, bits >> 8])


def f16_bits(x):
    return int(np.array([x], dtype="<f2").view("<u2")[0])


def f16_value(bits):
    return float(np.array([bits], dtype="<u2").view("<f2")[0])


def deq(raw, t, n):
    return dequantize(np.frombuffer(bytes(raw), dtype=np.uint8), t, n)


def check_close(got, want, what):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, "%s: shape %s != %s" % (what, got.shape, want.shape)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, "%s: %d mismatches, first at %d: got %r want %r" % (
        what, bad.size, bad[0], got[bad[0]], want[bad[0]])


# ----------------------------------------------------------------------------- floats
def test_floats():
    # F16 patterns: sign|5-bit exponent (bias 15)|10-bit mantissa.
    pats = {0x3C00: 1.0, 0xC000: -2.0, 0x3800: 0.5, 0x7BFF: 65504.0,
            0x0001: 2.0 ** -24,            # smallest subnormal
            0x0400: 2.0 ** -14,            # smallest normal
            0x3555: 0.333251953125,         # 1/3 rounded: (1 + 341/1024) * 2^-2
            0x8000: -0.0}
    raw = b"".join(h(p) for p in pats)
    check_close(deq(raw, F16, len(pats)), list(pats.values()), "F16")

    # BF16 = top half of binary32: 0x3F80 -> 0x3F800000 = 1.0, 0xC0A0 -> -5.0, 0x4049 -> 3.140625
    pats = {0x3F80: 1.0, 0xC0A0: -5.0, 0x4049: 3.140625, 0x0000: 0.0, 0x3E80: 0.25}
    raw = b"".join(h(p) for p in pats)
    check_close(deq(raw, BF16, len(pats)), list(pats.values()), "BF16")

    vals = [1.5, -2.25, 1e-30, 3.0e38]
    raw = struct.pack("<4f", *vals)
    check_close(deq(raw, F32, 4), np.array(vals, np.float32).astype(np.float64), "F32")


# ----------------------------------------------------------------------------- Q8_0
def test_q8_0():
    # Block 0: d = 0.5 (0x3800), qs = -16..15 ; block 1: d = -3 (0xC200), qs = [127, -128, 0, ...]
    qs0 = list(range(-16, 16))
    qs1 = [127, -128] + [0] * 29 + [1]
    raw = h(0x3800) + bytes(q & 0xFF for q in qs0) + h(0xC200) + bytes(q & 0xFF for q in qs1)
    assert len(raw) == 2 * 34
    want = [0.5 * q for q in qs0] + [-3.0 * q for q in qs1]
    check_close(deq(raw, Q8_0, 64), want, "Q8_0 hand")


# ----------------------------------------------------------------------------- Q4_0
def test_q4_0():
    # d = 2.0 (0x4000). qs[j] = lo | hi<<4. Element j <- lo of byte j, element j+16 <- hi of byte j.
    qs = [0x00, 0xF0, 0x0F, 0x81] + [0x88] * 12   # byte 3: lo = 1, hi = 8
    raw = h(0x4000) + bytes(qs)
    want = [0.0] * 32
    for j, b in enumerate(qs):
        want[j] = 2.0 * ((b & 0xF) - 8)
        want[j + 16] = 2.0 * ((b >> 4) - 8)
    got = deq(raw, Q4_0, 32)
    check_close(got, want, "Q4_0 hand")
    # Spelled out: element 0 = (0-8)*2 = -16; element 16 = -16; element 1 = -16; element 17 = (15-8)*2 = 14;
    # element 2 = 14; element 18 = -16; element 3 = (1-8)*2 = -14; element 19 = 0.
    assert list(got[[0, 16, 1, 17, 2, 18, 3, 19]]) == [-16, -16, -16, 14, 14, -16, -14, 0]


# ----------------------------------------------------------------------------- Q4_K
def pack_q4_k_scales(sc, m):
    """Scalar bit placement of 8 six-bit scales and mins into 12 bytes."""
    out = [0] * 12
    for s in range(8):
        assert 0 <= sc[s] < 64 and 0 <= m[s] < 64
        if s < 4:
            out[s] |= sc[s]              # bits 0..5 of byte s
            out[s + 4] |= m[s]           # bits 0..5 of byte s+4
        else:
            out[s + 4] |= sc[s] & 0xF            # low nibble of byte s+4 (bytes 8..11)
            out[s + 4] |= (m[s] & 0xF) << 4      # high nibble of byte s+4
            out[s - 4] |= (sc[s] >> 4) << 6      # bits 6..7 of byte s-4 (bytes 0..3)
            out[s] |= (m[s] >> 4) << 6           # bits 6..7 of byte s (bytes 4..7)
    return bytes(out)


def encode_q4_k_block(d_bits, dmin_bits, sc, m, q):
    """q: 256 ints in 0..15. Element i is in sub-block i//32; chunk c = i//64;
    first half of a chunk -> low nibbles of qs[32c + l], second half -> high nibbles."""
    qs = [0] * 128
    for i in range(256):
        c, r = divmod(i, 64)
        if r < 32:
            qs[32 * c + r] |= q[i]
        else:
            qs[32 * c + r - 32] |= q[i] << 4
    return h(d_bits) + h(dmin_bits) + pack_q4_k_scales(sc, m) + bytes(qs)


def test_q4_k_hand():
    # Scales by hand. byte 0 = 0b11_000101: sc[0] = 5, top bits 3 -> high bits of sc[4].
    # byte 8 = 0x21: low nibble 1 -> low bits of sc[4]; high nibble 2 -> low bits of m[4].
    # byte 4 = 0b01_000011: m[0] = 3, top bits 1 -> high bits of m[4].
    # So sc[4] = 1 | 3<<4 = 49, m[4] = 2 | 1<<4 = 18.
    scales = [0] * 12
    scales[0] = 0b11000101
    scales[4] = 0b01000011
    scales[8] = 0x21
    sc, m = q4_k_scales_mins(np.array([scales], dtype=np.uint8))
    assert list(sc[0]) == [5, 0, 0, 0, 49, 0, 0, 0], sc
    assert list(m[0]) == [3, 0, 0, 0, 18, 0, 0, 0], m

    # Nibble order: qs[0] = 0x5A -> element 0 gets 0xA (sub-block 0), element 32 gets 0x5 (sub-block 1).
    # qs[32] = 0x3C -> element 64 gets 0xC (sub-block 2), element 96 gets 3 (sub-block 3).
    # qs[64] = 0x07 -> element 128 gets 7 (sub-block 4), element 160 gets 0 (sub-block 5).
    sc_l = [1, 2, 3, 4, 5, 6, 7, 8]
    m_l = [0, 1, 0, 1, 2, 0, 0, 63]
    qs = [0] * 128
    qs[0], qs[32], qs[64] = 0x5A, 0x3C, 0x07
    raw = h(0x3C00) + h(0x3800) + pack_q4_k_scales(sc_l, m_l) + bytes(qs)   # d = 1, dmin = 0.5
    y = deq(raw, Q4_K, 256)
    assert y[0] == 1 * 10 - 0.5 * 0
    assert y[32] == 2 * 5 - 0.5 * 1
    assert y[64] == 3 * 12 - 0
    assert y[96] == 4 * 3 - 0.5
    assert y[128] == 5 * 7 - 0.5 * 2
    assert y[160] == 0 - 0
    assert y[255] == 0 - 0.5 * 63
    assert y[1] == 0 and y[33] == -0.5


def test_q4_k_random(rng):
    blocks, want = [], []
    for _ in range(6):
        d_bits = f16_bits(rng.uniform(-0.1, 0.1))
        dmin_bits = f16_bits(rng.uniform(-0.1, 0.1))
        sc = [int(v) for v in rng.integers(0, 64, 8)]
        m = [int(v) for v in rng.integers(0, 64, 8)]
        q = [int(v) for v in rng.integers(0, 16, 256)]
        blocks.append(encode_q4_k_block(d_bits, dmin_bits, sc, m, q))
        d, dmin = f16_value(d_bits), f16_value(dmin_bits)
        want += [d * sc[i // 32] * q[i] - dmin * m[i // 32] for i in range(256)]
    check_close(deq(b"".join(blocks), Q4_K, 256 * 6), want, "Q4_K random")


# ----------------------------------------------------------------------------- Q6_K
def encode_q6_k_block(d_bits, scales, q):
    """q: 256 ints in 0..63 (stored value; the weight is q - 32).
    Element i: half hh = i//128, quarter k = (i%128)//32, l = i%32.
    low 4 bits: ql[64hh + l + 32*(k&1)], nibble (k>>1) (0 = low nibble).
    high 2 bits: qh[32hh + l], bits 2k..2k+1."""
    ql = [0] * 128
    qh = [0] * 64
    for i in range(256):
        hh, r = divmod(i, 128)
        k, l = divmod(r, 32)
        lo, hi = q[i] & 0xF, q[i] >> 4
        ql[64 * hh + l + 32 * (k & 1)] |= lo << (4 * (k >> 1))
        qh[32 * hh + l] |= hi << (2 * k)
    return bytes(ql) + bytes(qh) + bytes(s & 0xFF for s in scales) + h(d_bits)


def test_q6_k_hand():
    # ql[0] = 0x21: element 0 low = 1, element 64 low = 2.  ql[32] = 0: elements 32, 96 low = 0.
    # qh[0] = 0b11_10_01_00: element 0 high 0, element 32 high 1, element 64 high 2, element 96 high 3.
    # => q0 = 1 -> -31, q32 = 16 -> -16, q64 = 2 | 32 = 34 -> 2, q96 = 48 -> 16.
    ql = [0] * 128
    qh = [0] * 64
    ql[0] = 0x21
    qh[0] = 0b11100100
    # Second half: ql[64] = 0xF0 -> element 128 low 0, element 192 low 15; qh[32] = 0b00_11_00_11
    # -> element 128 high 3 (q = 48 -> 16), element 160 high 0 (q = 0 -> -32 with ql[96] = 0),
    #    element 192 high 3 (q = 63 -> 31), element 224 high 0 (-32).
    ql[64] = 0xF0
    qh[32] = 0b00110011
    scales = list(range(-8, 8))          # scale of element i is scales[i // 16]
    raw = bytes(ql) + bytes(qh) + bytes(s & 0xFF for s in scales) + h(0x4000)   # d = 2
    assert len(raw) == 210
    y = deq(raw, Q6_K, 256)
    sc = lambda i: scales[i // 16]
    assert y[0] == 2 * sc(0) * -31
    assert y[32] == 2 * sc(32) * -16
    assert y[64] == 2 * sc(64) * 2
    assert y[96] == 2 * sc(96) * 16
    assert y[128] == 2 * sc(128) * 16       # sc(128) = scales[8] = 0 -> 0
    assert y[160] == 2 * sc(160) * -32
    assert y[192] == 2 * sc(192) * 31
    assert y[224] == 2 * sc(224) * -32
    assert y[1] == 2 * sc(1) * -32          # all-zero bits -> q = 0 -> weight -32


def test_q6_k_random(rng):
    blocks, want = [], []
    for _ in range(6):
        d_bits = f16_bits(rng.uniform(-0.05, 0.05))
        scales = [int(v) for v in rng.integers(-128, 128, 16)]
        q = [int(v) for v in rng.integers(0, 64, 256)]
        blocks.append(encode_q6_k_block(d_bits, scales, q))
        d = f16_value(d_bits)
        want += [d * scales[i // 16] * (q[i] - 32) for i in range(256)]
    check_close(deq(b"".join(blocks), Q6_K, 256 * 6), want, "Q6_K random")


def test_q4_0_q8_0_random(rng):
    raw, want = b"", []
    for _ in range(5):
        d_bits = f16_bits(rng.uniform(-1, 1))
        q = [int(v) for v in rng.integers(0, 16, 32)]
        qs = [q[j] | (q[j + 16] << 4) for j in range(16)]
        raw += h(d_bits) + bytes(qs)
        want += [f16_value(d_bits) * (v - 8) for v in q]
    check_close(deq(raw, Q4_0, 160), want, "Q4_0 random")

    raw, want = b"", []
    for _ in range(5):
        d_bits = f16_bits(rng.uniform(-1, 1))
        q = [int(v) for v in rng.integers(-128, 128, 32)]
        raw += h(d_bits) + bytes(v & 0xFF for v in q)
        want += [f16_value(d_bits) * v for v in q]
    check_close(deq(raw, Q8_0, 160), want, "Q8_0 random")


def test_sizes():
    assert GGML_TYPES[Q4_0][1:] == (32, 18)
    assert GGML_TYPES[Q8_0][1:] == (32, 34)
    assert GGML_TYPES[Q4_K][1:] == (256, 144)
    assert GGML_TYPES[Q6_K][1:] == (256, 210)
    assert tensor_nbytes(Q4_K, [512, 3]) == 2 * 3 * 144
    assert tensor_nbytes(F16, [7, 5]) == 70
    try:
        tensor_nbytes(Q8_0, [48, 2])
    except ValueError:
        pass
    else:
        raise AssertionError("row length 48 must be rejected for Q8_0")


def main():
    rng = np.random.default_rng(1234)
    tests = [test_floats, test_q8_0, test_q4_0, test_q4_k_hand, test_q6_k_hand, test_sizes,
             lambda: test_q4_0_q8_0_random(rng), lambda: test_q4_k_random(rng), lambda: test_q6_k_random(rng)]
    for t in tests:
        t()
    print("test_dequant_selfcheck: all %d checks passed" % len(tests))


if __name__ == "__main__":
    main()
