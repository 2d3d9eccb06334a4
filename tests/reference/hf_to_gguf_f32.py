"""Convert a small Hugging Face LlamaForCausalLM folder to an F32 (or F16) GGUF file.

Part of tandem's NumPy reference tooling; written from the public format
descriptions (safetensors, GGUF), not derived from llama.cpp's converter.

    /usr/bin/python3 tests/reference/hf_to_gguf_f32.py HF_DIR OUT.gguf [--dtype f32|f16]

HF_DIR must hold config.json and model.safetensors (fp32/fp16/bf16). Default
HF_DIR when run without arguments: $TANDEM_SHARED/models/tinystories-656k
(TANDEM_SHARED defaults to ../shared from the repository root); exits 0 with a
message when that folder is absent. Only weights and hyper-parameters are
written (no tokenizer metadata).

The one non-obvious step: HF Llama applies RoPE to (x[i], x[i + hd/2]) pairs
("rotate_half", NeoX style) while GGUF `llama` models use ggml's "normal" mode on
adjacent pairs (x[2i], x[2i+1]). Converters therefore permute the rows of
q_proj and k_proj inside every head so that HF row i goes to row 2i and HF row
i + hd/2 goes to row 2i + 1:

    W (n_heads*hd, dim) -> reshape (n_heads, 2, hd/2, dim) -> swap axes 1,2 -> reshape back

with n_heads = num_attention_heads for q and num_key_value_heads for k.
test_llama_ref_golden.py checks that this makes the two formulations agree.

safetensors layout: u64 little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
then the data; offsets are relative to the end of the header.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_write import KV, f16_tensor, f32_tensor, write_gguf  # noqa: E402

_ST_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def default_shared_dir():
    env = os.environ.get("TANDEM_SHARED")
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared")


def read_safetensors(path):
    """name -> float32 ndarray (copies, the file is small)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        dt = info["dtype"]
        if dt == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt in _ST_DTYPES:
            a = np.frombuffer(raw, _ST_DTYPES[dt])
        else:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        out[name] = a.astype(np.float32).reshape(info["shape"])
    return out


def permute_for_normal_rope(w, n_heads):
    """HF (rotate_half) row order -> ggml normal-mode row order, per head."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def convert(hf_dir, out_path, dtype="f32"):
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "llama":
        raise ValueError("%s: model_type %r, only llama is supported" % (hf_dir, cfg.get("model_type")))
    st = read_safetensors(os.path.join(hf_dir, "model.safetensors"))

    dim = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    n_layer = cfg["num_hidden_layers"]
    head_dim = cfg.get("head_dim", dim // n_head)
    tied = cfg.get("tie_word_embeddings", False)

    kvs = [
        KV.string("general.architecture", "llama"),
        KV.string("general.name", os.path.basename(os.path.normpath(hf_dir))),
        KV.u32("general.file_type", 0 if dtype == "f32" else 1),
        KV.u32("llama.context_length", cfg.get("max_position_embeddings", 2048)),
        KV.u32("llama.embedding_length", dim),
        KV.u32("llama.block_count", n_layer),
        KV.u32("llama.feed_forward_length", cfg["intermediate_size"]),
        KV.u32("llama.attention.head_count", n_head),
        KV.u32("llama.attention.head_count_kv", n_kv),
        KV.f32("llama.attention.layer_norm_rms_epsilon", cfg.get("rms_norm_eps", 1e-6)),
        KV.f32("llama.rope.freq_base", cfg.get("rope_theta", 10000.0)),
        KV.u32("llama.rope.dimension_count", head_dim),
        KV.u32("llama.vocab_size", cfg["vocab_size"]),
    ]
    rs = cfg.get("rope_scaling")
    if rs:
        if rs.get("type", rs.get("rope_type")) != "linear":
            raise ValueError("rope_scaling %r not supported" % (rs,))
        kvs += [KV.string("llama.rope.scaling.type", "linear"),
                KV.f32("llama.rope.scaling.factor", rs["factor"])]

    # Tied models may store the shared matrix under either name.
    emb = st.get("model.embed_tokens.weight", st.get("lm_head.weight"))
    mk = f32_tensor if dtype == "f32" else f16_tensor
    norm_mk = f32_tensor      # norms stay F32, as llama.cpp converters do
    tensors = [mk("token_embd.weight", emb),                          # (vocab, dim)
               norm_mk("output_norm.weight", st["model.norm.weight"])]
    if not tied:
        tensors.append(mk("output.weight", st["lm_head.weight"]))     # (vocab, dim)
    for i in range(n_layer):
        p = "model.layers.%d." % i
        b = "blk.%d." % i
        tensors += [
            norm_mk(b + "attn_norm.weight", st[p + "input_layernorm.weight"]),
            mk(b + "attn_q.weight", permute_for_normal_rope(st[p + "self_attn.q_proj.weight"], n_head)),
            mk(b + "attn_k.weight", permute_for_normal_rope(st[p + "self_attn.k_proj.weight"], n_kv)),
            mk(b + "attn_v.weight", st[p + "self_attn.v_proj.weight"]),
            mk(b + "attn_output.weight", st[p + "self_attn.o_proj.weight"]),
            norm_mk(b + "ffn_norm.weight", st[p + "post_attention_layernorm.weight"]),
            mk(b + "ffn_gate.weight", st[p + "mlp.gate_proj.weight"]),
            mk(b + "ffn_up.weight", st[p + "mlp.up_proj.weight"]),
            mk(b + "ffn_down.weight", st[p + "mlp.down_proj.weight"]),
        ]
    write_gguf(out_path, kvs, tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hf_dir", nargs="?")
    ap.add_argument("out", nargs="?", default="tinystories-656k-f32.gguf")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    a = ap.parse_args()
    hf_dir = a.hf_dir or os.path.join(default_shared_dir(), "models", "tinystories-656k")
    if not os.path.isfile(os.path.join(hf_dir, "model.safetensors")):
        print("hf_to_gguf_f32: %s not found; skipping" % hf_dir)
        return 0
    convert(hf_dir, a.out, a.dtype)
    print("wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
