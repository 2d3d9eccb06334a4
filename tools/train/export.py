#!/usr/bin/python3
"""Turns the device run's output into tandem's demo GGUFs (no numpy/torch needed).

tools/train/export.py RUN_DIR [TANDEM]  (RUN_DIR holds weights.partNN + meta.tar.gz)
Writes models/work/{big,little,little-aligned}.bin (llama2.c checkpoints, f32),
models/work/tokenizer.bin, models/work/*-f32.gguf and models/*-q8_0.gguf.
"""
import glob, json, os, struct, subprocess, sys, tarfile
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
run = sys.argv[1]
tandem = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build/src/cli/tandem")
work = os.path.join(ROOT, "models", "work")
os.makedirs(work, exist_ok=True)
with tarfile.open(os.path.join(run, "meta.tar.gz")) as tf:
    tf.extractall(work)
blob = b"".join(open(p, "rb").read() for p in sorted(glob.glob(os.path.join(run, "weights.part*"))))
meta = json.load(open(os.path.join(work, "meta.json")))
for name, m in meta["models"].items():
    c = m["config"]
    hd = c["dim"] // c["n_heads"]
    path = os.path.join(work, f"{name}.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", c["dim"], c["hidden"], c["n_layers"], c["n_heads"], c["n_kv"],
                            c["vocab"], c["seq"]))  # positive vocab: tied classifier
        for tn, shape, off, nbytes in m["tensors"]:
            vals = struct.unpack(f"<{nbytes // 2}e", blob[off:off + nbytes])
            f.write(array("f", vals).tobytes())
        f.write(bytes(4 * c["seq"] * hd // 2 * 2))  # freq_cis_real, freq_cis_imag (unused)
    f32 = os.path.join(work, f"{name}-f32.gguf")
    q8 = os.path.join(ROOT, "models", f"{name}-q8_0.gguf")
    subprocess.run([tandem, "convert", "llama2c", path, os.path.join(work, "tokenizer.bin"), "-o", f32], check=True)
    subprocess.run([tandem, "quantize", f32, q8, "Q8_0"], check=True)
    print(name, "->", f32, q8, flush=True)
