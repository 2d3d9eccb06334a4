"""Minimal, self-contained GGUF (v2/v3) reader used by tandem's NumPy reference.

This is an *independent* reader: it exists so that the C++ engine's GGUF code can
be checked against something written separately from it. It depends only on
NumPy (use Debian's /usr/bin/python3).

Usage as a library:

    from gguf_read import GGUFFile
    g = GGUFFile("model.gguf")
    g.version                      # 2 or 3
    g.metadata["general.architecture"]
    info = g.tensors["blk.0.attn_q.weight"]   # TensorInfo
    info.dims                      # GGUF order: dims[0] is the fastest varying (row length)
    info.shape                     # NumPy order: reversed dims, e.g. (n_rows, row_len)
    g.tensor_bytes(name)           # raw bytes (np.uint8 memmap view, no copy)
    g.tensor(name)                 # dequantised float64 array with NumPy shape

Usage from the command line (prints header, metadata and tensor table):

    /usr/bin/python3 tests/reference/gguf_read.py FILE.gguf

File layout (all little-endian):
    "GGUF" | u32 version | u64 tensor_count | u64 kv_count
    kv_count x { string key; u32 value_type; value }
    tensor_count x { string name; u32 n_dims; u64 dims[n_dims]; u32 ggml_type; u64 offset }
    padding to a multiple of general.alignment (default 32)
    tensor data; each tensor starts at data_start + offset
A string is u64 length + bytes (no terminator). An array is u32 element type,
u64 count, then the elements (arrays may nest). Booleans are one byte.
Version 1 (u32 counts/lengths) is obsolete and rejected.
"""

import os
import struct
import sys

import numpy as np

# dequant.py lives beside this file; make it importable however we were loaded.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dequant import GGML_TYPES, dequantize, tensor_nbytes  # noqa: E402

# GGUF metadata value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

# Fixed-size scalar value types -> struct format (little-endian).
_SCALAR_FMT = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}
# Same, as NumPy dtypes, for reading long numeric arrays in one go.
_SCALAR_NP = {
    UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
    FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8",
}

DEFAULT_ALIGNMENT = 32


class GGUFError(Exception):
    """Raised for malformed or unsupported GGUF files."""


class TensorInfo:
    """One entry of the tensor table.

    dims   -- GGUF order (dims[0] = fastest varying = row length)
    shape  -- NumPy order (reversed dims)
    ggml_type -- integer ggml type id
    offset -- byte offset relative to the start of the data section
    """

    def __init__(self, name, dims, ggml_type, offset):
        self.name = name
        self.dims = tuple(dims)
        self.shape = tuple(reversed(self.dims))
        self.ggml_type = ggml_type
        self.offset = offset
        n = 1
        for d in self.dims:
            n *= d
        self.n_elements = n

    def __repr__(self):
        return "TensorInfo(%r, dims=%r, type=%d, offset=%d)" % (
            self.name, self.dims, self.ggml_type, self.offset)


class _Cursor:
    """Sequential little-endian reader over a bytes-like buffer."""

    def __init__(self, buf, path):
        self.buf = buf
        self.pos = 0
        self.path = path

    def _need(self, n):
        if self.pos + n > len(self.buf):
            raise GGUFError("%s: truncated at byte %d (need %d more bytes, file has %d)"
                            % (self.path, self.pos, n, len(self.buf)))

    def scalar(self, fmt):
        size = struct.calcsize(fmt)
        self._need(size)
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return v

    def u32(self):
        return self.scalar("<I")

    def u64(self):
        return self.scalar("<Q")

    def string(self):
        n = self.u64()
        self._need(n)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # Some vocabularies hold byte tokens that are not valid UTF-8; keep them lossless.
            return raw.decode("utf-8", errors="surrogateescape")

    def value(self, vtype, depth=0):
        if vtype in _SCALAR_FMT:
            v = self.scalar(_SCALAR_FMT[vtype])
            return bool(v) if vtype == BOOL else v
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            if depth > 8:
                raise GGUFError("%s: arrays nested too deeply" % self.path)
            etype = self.u32()
            count = self.u64()
            if etype in _SCALAR_NP:
                # Fast path: numeric arrays are read with NumPy and returned as lists.
                dt = np.dtype(_SCALAR_NP[etype])
                self._need(count * dt.itemsize)
                arr = np.frombuffer(self.buf, dtype=dt, count=count, offset=self.pos)
                self.pos += count * dt.itemsize
                out = arr.tolist()
                return [bool(x) for x in out] if etype == BOOL else out
            return [self.value(etype, depth + 1) for _ in range(count)]
        raise GGUFError("%s: unknown metadata value type %d at byte %d" % (self.path, vtype, self.pos))


class GGUFFile:
    """A parsed GGUF file. Tensor data stays in a read-only memmap."""

    def __init__(self, path):
        self.path = str(path)
        self.mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        cur = _Cursor(self.mm, self.path)

        magic = bytes(self.mm[:4]) if len(self.mm) >= 4 else b""
        if magic != b"GGUF":
            raise GGUFError("%s: bad magic %r (expected b'GGUF')" % (self.path, magic))
        cur.pos = 4
        self.version = cur.u32()
        if self.version not in (2, 3):
            raise GGUFError("%s: unsupported GGUF version %d (need 2 or 3)" % (self.path, self.version))
        n_tensors = cur.u64()
        n_kv = cur.u64()

        # Metadata: insertion order is preserved (dicts are ordered).
        self.metadata = {}
        self.metadata_types = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.u32()
            self.metadata[key] = cur.value(vtype)
            self.metadata_types[key] = vtype

        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        if self.alignment <= 0 or (self.alignment & (self.alignment - 1)) != 0:
            raise GGUFError("%s: general.alignment=%d is not a power of two" % (self.path, self.alignment))

        # Tensor table.
        self.tensors = {}
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.u32()
            if n_dims > 8:
                raise GGUFError("%s: tensor %s has %d dims" % (self.path, name, n_dims))
            dims = [cur.u64() for _ in range(n_dims)]
            ggml_type = cur.u32()
            offset = cur.u64()
            if name in self.tensors:
                raise GGUFError("%s: duplicate tensor name %s" % (self.path, name))
            self.tensors[name] = TensorInfo(name, dims, ggml_type, offset)

        # Data section starts at the next multiple of the alignment.
        a = self.alignment
        self.data_start = (cur.pos + a - 1) // a * a

        # Validate every tensor's byte range against the file size (types we know the size of).
        for t in self.tensors.values():
            if t.ggml_type in GGML_TYPES:
                end = self.data_start + t.offset + tensor_nbytes(t.ggml_type, t.dims)
                if end > len(self.mm):
                    raise GGUFError("%s: tensor %s data [%d, %d) runs past end of file (%d bytes)"
                                    % (self.path, t.name, self.data_start + t.offset, end, len(self.mm)))

    def tensor_bytes(self, name):
        """Raw bytes of a tensor as a uint8 memmap slice (no copy)."""
        t = self.tensors[name]
        start = self.data_start + t.offset
        return self.mm[start:start + tensor_nbytes(t.ggml_type, t.dims)]

    def tensor(self, name):
        """Tensor dequantised to float64, with NumPy shape (reversed GGUF dims)."""
        t = self.tensors[name]
        flat = dequantize(self.tensor_bytes(name), t.ggml_type, t.n_elements)
        return flat.reshape(t.shape)

    def get(self, key, default=None):
        return self.metadata.get(key, default)


def _summary(path):
    g = GGUFFile(path)
    print("%s: GGUF v%d, %d kv, %d tensors, alignment %d, data at %d"
          % (path, g.version, len(g.metadata), len(g.tensors), g.alignment, g.data_start))
    for k, v in g.metadata.items():
        if isinstance(v, list):
            head = v[:8]
            print("  %-50s [%d] %r%s" % (k, len(v), head, " ..." if len(v) > 8 else ""))
        else:
            print("  %-50s %r" % (k, v))
    for t in g.tensors.values():
        print("  tensor %-40s dims=%-20s type=%-3d offset=%d" % (t.name, list(t.dims), t.ggml_type, t.offset))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: %s FILE.gguf" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    _summary(sys.argv[1])
