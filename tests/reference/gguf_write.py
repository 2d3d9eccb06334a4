"""Minimal GGUF v3 writer for tandem's NumPy reference tooling (tests/reference/).

Used by hf_to_gguf_f32.py, and handy for building small test fixtures.

    from gguf_write import write_gguf, KV
    write_gguf("out.gguf",
               kvs=[KV.string("general.architecture", "llama"),
                    KV.u32("llama.block_count", 2),
                    KV.f32("llama.attention.layer_norm_rms_epsilon", 1e-6),
                    KV.array_string("tokenizer.ggml.tokens", ["a", "b"])],
               tensors=[("token_embd.weight", 0, [dim, vocab], raw_bytes)])

A tensor entry is (name, ggml_type, dims in GGUF order (dims[0] = row length),
raw bytes). For F32 a C-contiguous float32 array of NumPy shape (vocab, dim)
has GGUF dims [dim, vocab]; `f32_tensor(name, array)` builds the entry.
Every tensor's data starts at a multiple of the alignment (32 by default) from
the start of the data section, which itself starts at a multiple of the alignment
in the file.
"""

import struct

import numpy as np

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
        FLOAT32: "<f", BOOL: "<B", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}


def _string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == STRING:
        return _string(v)
    if vtype in _FMT:
        return struct.pack(_FMT[vtype], int(v) if vtype == BOOL else v)
    raise ValueError("use KV.array_* for arrays (type %d)" % vtype)


class KV:
    """One metadata pair, already serialised (key, type, value bytes)."""

    def __init__(self, key, payload):
        self.key = key
        self.payload = payload      # u32 type + value bytes

    @staticmethod
    def scalar(key, vtype, v):
        return KV(key, struct.pack("<I", vtype) + _value(vtype, v))

    @staticmethod
    def u32(key, v):
        return KV.scalar(key, UINT32, v)

    @staticmethod
    def i32(key, v):
        return KV.scalar(key, INT32, v)

    @staticmethod
    def f32(key, v):
        return KV.scalar(key, FLOAT32, v)

    @staticmethod
    def boolean(key, v):
        return KV.scalar(key, BOOL, v)

    @staticmethod
    def string(key, v):
        return KV.scalar(key, STRING, v)

    @staticmethod
    def array(key, elem_type, values):
        body = b"".join(_value(elem_type, v) for v in values)
        return KV(key, struct.pack("<IIQ", ARRAY, elem_type, len(values)) + body)

    @staticmethod
    def array_string(key, values):
        return KV.array(key, STRING, values)


def f32_tensor(name, array):
    """(name, F32, GGUF dims, bytes) for a NumPy array (shape reversed into GGUF dims)."""
    a = np.ascontiguousarray(array, dtype="<f4")
    return (name, 0, list(reversed(a.shape)), a.tobytes())


def f16_tensor(name, array):
    a = np.ascontiguousarray(array, dtype="<f2")
    return (name, 1, list(reversed(a.shape)), a.tobytes())


def write_gguf(path, kvs, tensors, alignment=32):
    def pad(n):
        return (alignment - n % alignment) % alignment

    kvs = list(kvs)
    if alignment != 32:
        kvs.append(KV.u32("general.alignment", alignment))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    head += b"".join(_string(kv.key) + kv.payload for kv in kvs)

    offset = 0
    infos, blobs = [], []
    for name, ggml_type, dims, raw in tensors:
        infos.append(_string(name) + struct.pack("<I", len(dims)) +
                     b"".join(struct.pack("<Q", int(d)) for d in dims) +
                     struct.pack("<IQ", ggml_type, offset))
        blobs.append(raw + b"\0" * pad(len(raw)))
        offset += len(blobs[-1])
    head += b"".join(infos)
    with open(path, "wb") as f:
        f.write(head + b"\0" * pad(len(head)))
        for b in blobs:
            f.write(b)
