"""Vectorised NumPy dequantisation of ggml tensor types to float64.

Part of tandem's independent float64 reference (tests/reference/). Used by
gguf_read.GGUFFile.tensor() and llama_ref.py; checked by
test_dequant_selfcheck.py against blocks built by hand.

    from dequant import dequantize, tensor_nbytes, GGML_TYPES
    x = dequantize(raw_uint8_bytes, ggml_type, n_elements)   # 1-D float64

Supported types and their block layouts (all little-endian, blocks packed
back to back with no padding; a row of a 2-D tensor is a whole number of blocks):

  F32  (0)  4 B per element.
  F16  (1)  2 B per element, IEEE binary16.
  BF16 (30) 2 B per element, the top 16 bits of an IEEE binary32.
  Q4_0 (2)  32 elements, 18 B: { f16 d; u8 qs[16] }.
            element j (j < 16)  = (qs[j] & 0xF) - 8, times d
            element j + 16      = (qs[j] >> 4)  - 8, times d
  Q8_0 (8)  32 elements, 34 B: { f16 d; i8 qs[32] }; element j = qs[j] * d.
  Q4_K (12) 256 elements, 144 B: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }.
            8 sub-blocks of 32 elements, each with a 6-bit scale sc[s] and a
            6-bit min m[s] packed into scales[12] as:
              s < 4:  sc[s] = scales[s]   & 63          m[s] = scales[s+4] & 63
              s >= 4: sc[s] = (scales[s+4] & 0xF) | ((scales[s-4] >> 6) << 4)
                      m[s]  = (scales[s+4] >> 4)  | ((scales[s]   >> 6) << 4)
            (bytes 0..3: low 6 bits = sc[0..3], top 2 bits = high bits of sc[4..7];
             bytes 4..7: low 6 bits = m[0..3],  top 2 bits = high bits of m[4..7];
             bytes 8..11: low nibble = low 4 bits of sc[4..7], high nibble = low 4 bits of m[4..7].)
            qs is 4 chunks of 32 bytes; chunk c holds sub-block 2c in its low
            nibbles and sub-block 2c+1 in its high nibbles:
              element 64c + l      = q = qs[32c + l] & 0xF   (sub-block 2c)
              element 64c + 32 + l = q = qs[32c + l] >> 4    (sub-block 2c+1)
            value = d * sc[s] * q - dmin * m[s].
  Q6_K (14) 256 elements, 210 B: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }.
            Two halves of 128 elements (h = 0, 1) using ql[64h : 64h+64] and
            qh[32h : 32h+32]. Inside a half, for l < 32:
              element 128h +      l : low 4 = ql[l]      & 0xF, high 2 = (qh[l] >> 0) & 3
              element 128h + 32 + l : low 4 = ql[l + 32] & 0xF, high 2 = (qh[l] >> 2) & 3
              element 128h + 64 + l : low 4 = ql[l]      >> 4,  high 2 = (qh[l] >> 4) & 3
              element 128h + 96 + l : low 4 = ql[l + 32] >> 4,  high 2 = (qh[l] >> 6) & 3
            q = low | (high << 4) in 0..63; value = d * scales[i // 16] * (q - 32)
            where i is the element index within the 256-element block.
"""

import numpy as np

# ggml type id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    8: ("Q8_0", 32, 34),
    12: ("Q4_K", 256, 144),
    14: ("Q6_K", 256, 210),
    30: ("BF16", 1, 2),
}
TYPE_IDS = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}


def tensor_nbytes(ggml_type, dims):
    """Bytes occupied by a tensor of GGUF dims (dims[0] = row length)."""
    if ggml_type not in GGML_TYPES:
        raise ValueError("unsupported ggml type %d" % ggml_type)
    name, bs, ts = GGML_TYPES[ggml_type]
    n = 1
    for d in dims:
        n *= int(d)
    if len(dims) > 0 and int(dims[0]) % bs != 0:
        raise ValueError("%s: row length %d is not a multiple of the block size %d" % (name, dims[0], bs))
    return n // bs * ts


def _f16(u8_pairs):
    """(..., 2) uint8 little-endian halves -> float64."""
    return np.ascontiguousarray(u8_pairs).view("<f2")[..., 0].astype(np.float64)


def _blocks(raw, n_elements, block_elems, block_bytes, name):
    raw = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if n_elements % block_elems != 0:
        raise ValueError("%s: %d elements is not a multiple of the block size %d" % (name, n_elements, block_elems))
    nb = n_elements // block_elems
    if raw.size < nb * block_bytes:
        raise ValueError("%s: need %d bytes for %d elements, got %d" % (name, nb * block_bytes, n_elements, raw.size))
    return raw[:nb * block_bytes].reshape(nb, block_bytes), nb


def dequant_f32(raw, n):
    return np.ascontiguousarray(np.asarray(raw, np.uint8).reshape(-1)[:4 * n]).view("<f4").astype(np.float64)


def dequant_f16(raw, n):
    return np.ascontiguousarray(np.asarray(raw, np.uint8).reshape(-1)[:2 * n]).view("<f2").astype(np.float64)


def dequant_bf16(raw, n):
    u16 = np.ascontiguousarray(np.asarray(raw, np.uint8).reshape(-1)[:2 * n]).view("<u2")
    return (u16.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def dequant_q4_0(raw, n):
    b, nb = _blocks(raw, n, 32, 18, "Q4_0")
    d = _f16(b[:, 0:2])                       # (nb,)
    qs = b[:, 2:18]                           # (nb, 16)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64)  # (nb, 32): low nibbles first
    return ((q - 8.0) * d[:, None]).reshape(-1)


def dequant_q8_0(raw, n):
    b, nb = _blocks(raw, n, 32, 34, "Q8_0")
    d = _f16(b[:, 0:2])
    qs = np.ascontiguousarray(b[:, 2:34]).view(np.int8).astype(np.float64)
    return (qs * d[:, None]).reshape(-1)


def q4_k_scales_mins(scales12):
    """(nb, 12) uint8 packed scales -> (sc, m), each (nb, 8) int in 0..63."""
    s = scales12.astype(np.int64)
    sc = np.empty((s.shape[0], 8), np.int64)
    m = np.empty((s.shape[0], 8), np.int64)
    sc[:, 0:4] = s[:, 0:4] & 63
    m[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, m


def dequant_q4_k(raw, n):
    b, nb = _blocks(raw, n, 256, 144, "Q4_K")
    d = _f16(b[:, 0:2])
    dmin = _f16(b[:, 2:4])
    sc, m = q4_k_scales_mins(b[:, 4:16])
    qs = b[:, 16:144].reshape(nb, 4, 32)                     # 4 chunks of 32 bytes
    q = np.stack([qs & 0x0F, qs >> 4], axis=2)               # (nb, 4, 2, 32): chunk c -> sub-blocks 2c, 2c+1
    q = q.reshape(nb, 8, 32).astype(np.float64)              # (nb, sub-block, element)
    y = d[:, None, None] * sc[:, :, None] * q - dmin[:, None, None] * m[:, :, None]
    return y.reshape(-1)


def dequant_q6_k(raw, n):
    b, nb = _blocks(raw, n, 256, 210, "Q6_K")
    ql = b[:, 0:128].reshape(nb, 2, 2, 32).astype(np.int64)    # [half, which 32-byte row, l]
    qh = b[:, 128:192].reshape(nb, 2, 32).astype(np.int64)     # [half, l]
    scales = np.ascontiguousarray(b[:, 192:208]).view(np.int8).astype(np.float64)  # (nb, 16)
    d = _f16(b[:, 208:210])
    # Quarter k (0..3) of a half: low nibbles of rows 0,1 then high nibbles of rows 0,1.
    low = np.concatenate([ql & 0x0F, ql >> 4], axis=2)          # (nb, 2, 4, 32)
    shifts = (2 * np.arange(4)).reshape(1, 1, 4, 1)             # quarter k uses qh bits 2k, 2k+1
    high = (qh[:, :, None, :] >> shifts) & 3                    # (nb, 2, 4, 32)
    q = (low | (high << 4)) - 32                                # (nb, 2, 4, 32) -> element 128h + 32k + l
    q = q.reshape(nb, 16, 16).astype(np.float64)                # groups of 16 elements share a scale
    y = d[:, None, None] * scales[:, :, None] * q
    return y.reshape(-1)


_DEQUANT = {
    0: dequant_f32, 1: dequant_f16, 2: dequant_q4_0, 8: dequant_q8_0,
    12: dequant_q4_k, 14: dequant_q6_k, 30: dequant_bf16,
}


def dequantize(raw, ggml_type, n_elements):
    """Raw bytes of n_elements values of the given ggml type -> 1-D float64 array."""
    if ggml_type not in _DEQUANT:
        raise ValueError("dequantize: unsupported ggml type %d (supported: %s)"
                         % (ggml_type, ", ".join("%s=%d" % (v[0], k) for k, v in sorted(GGML_TYPES.items()))))
    return _DEQUANT[ggml_type](raw, int(n_elements))
