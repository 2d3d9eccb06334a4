"""Validate llama_ref.py (and gguf_read / gguf_write / hf_to_gguf_f32) against a real model.

Run:  /usr/bin/python3 tests/reference/test_llama_ref_golden.py
Needs $TANDEM_SHARED (default ../shared from the repository root) with
models/tinystories-656k/; prints a message and exits 0 when it is absent.
Exit code non-zero on failure.

Checks:
  1. hf_to_gguf_f32 -> GGUF -> gguf_read round trip gives back the safetensors
     weights bit-exactly (q/k after the documented row permutation).
  2. Greedy decoding with LlamaRef.forward (full recompute each step) reproduces
     golden_greedy_once_upon_a_time.json's 60 generated ids exactly
     (those were computed in float64 by HF transformers).
  3. The Q/K permutation fact: HF weights with NeoX ("rotate_half") RoPE give the
     same logits as permuted weights with ggml "normal" RoPE; unpermuted weights
     with normal RoPE do not. The same model written as a `qwen2` GGUF (NeoX mode,
     unpermuted, zero q/k/v biases) gives the same logits too.
  4. RoPE is relative: shifting all positions by a constant leaves logits unchanged.
  5. The command line writes exactly what the library computes (logits and
     --hidden-layer), as little-endian float64.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gguf_read import GGUFFile  # noqa: E402
from gguf_write import KV, f32_tensor, write_gguf  # noqa: E402
from hf_to_gguf_f32 import convert, default_shared_dir, permute_for_normal_rope, read_safetensors  # noqa: E402
from llama_ref import ROPE_NEOX, LlamaRef  # noqa: E402


def greedy(model, prompt, n_new):
    ids = list(prompt)
    for _ in range(n_new):
        logits = model.forward(ids)
        ids.append(int(np.argmax(logits[-1])))
    return ids[len(prompt):]


def main():
    hf_dir = os.path.join(default_shared_dir(), "models", "tinystories-656k")
    golden_path = os.path.join(hf_dir, "golden_greedy_once_upon_a_time.json")
    if not os.path.isfile(golden_path):
        print("test_llama_ref_golden: %s not found (set TANDEM_SHARED); skipping" % hf_dir)
        return 0
    with open(golden_path) as f:
        golden = json.load(f)
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]

    tmp = tempfile.mkdtemp(prefix="tandem_ref_")
    gguf_path = os.path.join(tmp, "tinystories-656k-f32.gguf")
    convert(hf_dir, gguf_path)

    # 1. Round trip of the weights through our writer and reader.
    st = read_safetensors(os.path.join(hf_dir, "model.safetensors"))
    g = GGUFFile(gguf_path)
    assert g.version == 3 and g.metadata["general.architecture"] == "llama"
    assert "output.weight" not in g.tensors          # tied embeddings
    assert np.array_equal(g.tensor("token_embd.weight"), st["lm_head.weight"])
    assert g.tensors["token_embd.weight"].dims == (cfg["hidden_size"], cfg["vocab_size"])
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        assert np.array_equal(g.tensor("blk.%d.attn_q.weight" % i),
                              permute_for_normal_rope(st[p + "self_attn.q_proj.weight"], n_head))
        assert np.array_equal(g.tensor("blk.%d.attn_k.weight" % i),
                              permute_for_normal_rope(st[p + "self_attn.k_proj.weight"], n_kv))
        assert np.array_equal(g.tensor("blk.%d.ffn_down.weight" % i), st[p + "mlp.down_proj.weight"])
    # The permutation sends HF row i to row 2i and row i + hd/2 to row 2i + 1 inside each head.
    hd = cfg["hidden_size"] // n_head
    w = np.arange(n_head * hd, dtype=np.float64)[:, None]
    pw = permute_for_normal_rope(w, n_head)[:, 0]
    for h in range(n_head):
        for i in range(hd // 2):
            assert pw[h * hd + 2 * i] == h * hd + i and pw[h * hd + 2 * i + 1] == h * hd + i + hd // 2
    print("ok: GGUF round trip and permutation layout")

    # 2. Greedy decoding reproduces the golden ids.
    model = LlamaRef.from_gguf(gguf_path)
    prompt, want = golden["prompt_ids"], golden["generated_ids"]
    got = greedy(model, prompt, len(want))
    if got != want:
        first = next(i for i in range(len(want)) if got[i] != want[i])
        raise AssertionError("greedy ids differ from golden at step %d:\n got  %s\n want %s" % (first, got, want))
    print("ok: greedy decoding reproduces %d golden tokens" % len(want))

    # 3. Permutation fact: HF layout + NeoX rope == permuted + normal rope.
    seq = prompt + want[:20]
    ref_logits = model.forward(seq)
    hf_w = dict(model.w)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        hf_w["blk.%d.attn_q" % i] = st[p + "self_attn.q_proj.weight"].astype(np.float64)
        hf_w["blk.%d.attn_k" % i] = st[p + "self_attn.k_proj.weight"].astype(np.float64)
    hp_neox = LlamaRef.from_gguf(gguf_path).hp
    hp_neox.rope_mode = ROPE_NEOX
    neox_logits = LlamaRef(hp_neox, hf_w).forward(seq)
    diff = np.max(np.abs(neox_logits - ref_logits))
    assert diff < 1e-10, "HF/NeoX vs permuted/normal logits differ by %g" % diff
    wrong = LlamaRef(model.hp, hf_w).forward(seq)
    assert np.max(np.abs(wrong - ref_logits)) > 1e-2, "unpermuted weights with normal rope should differ"
    print("ok: permuted+normal RoPE == HF+NeoX RoPE (max diff %.2e)" % diff)

    # Same model as a qwen2 GGUF: NeoX mode, unpermuted q/k, zero biases.
    qwen_path = os.path.join(tmp, "as-qwen2.gguf")
    kvs = []
    for k, v in g.metadata.items():
        if not k.startswith("llama."):
            if k == "general.architecture":
                v = "qwen2"
            kvs.append(KV.scalar(k, g.metadata_types[k], v))
        else:
            kvs.append(KV.scalar("qwen2." + k[len("llama."):], g.metadata_types[k], v))
    tensors = []
    for name in g.tensors:
        a = g.tensor(name)
        for i in range(cfg["num_hidden_layers"]):
            p = "model.layers.%d." % i
            if name == "blk.%d.attn_q.weight" % i:
                a = st[p + "self_attn.q_proj.weight"]
            elif name == "blk.%d.attn_k.weight" % i:
                a = st[p + "self_attn.k_proj.weight"]
        tensors.append(f32_tensor(name, a))
    for i in range(cfg["num_hidden_layers"]):
        for t, rows in (("q", n_head * hd), ("k", n_kv * hd), ("v", n_kv * hd)):
            tensors.append(f32_tensor("blk.%d.attn_%s.bias" % (i, t), np.zeros(rows, np.float32)))
    write_gguf(qwen_path, kvs, tensors)
    qwen = LlamaRef.from_gguf(qwen_path)
    assert qwen.hp.rope_mode == ROPE_NEOX and qwen.w["blk.0.attn_v_b"] is not None
    diff = np.max(np.abs(qwen.forward(seq) - ref_logits))
    assert diff < 1e-10, "qwen2-as-llama logits differ by %g" % diff
    print("ok: qwen2 GGUF (NeoX, zero biases) matches (max diff %.2e)" % diff)

    # 4. Shifting positions does not change logits (RoPE only sees differences).
    shifted = model.forward(seq, positions=np.arange(len(seq)) + 37)
    diff = np.max(np.abs(shifted - ref_logits))
    assert diff < 1e-9, "position shift changed logits by %g" % diff
    print("ok: logits invariant under a position shift (max diff %.2e)" % diff)

    # 5. The command line.
    script = os.path.join(HERE, "llama_ref.py")
    toks = ",".join(str(t) for t in seq[:9])
    out = os.path.join(tmp, "logits.bin")
    subprocess.run([sys.executable, script, gguf_path, "--tokens", toks, "--out", out], check=True)
    cli = np.fromfile(out, dtype="<f8").reshape(9, cfg["vocab_size"])
    assert np.array_equal(cli, model.forward(seq[:9]))
    subprocess.run([sys.executable, script, gguf_path, "--tokens", toks, "--positions",
                    ",".join(str(p) for p in range(3, 12)), "--hidden-layer", "0", "--out", out], check=True)
    cli = np.fromfile(out, dtype="<f8").reshape(9, cfg["hidden_size"])
    assert np.array_equal(cli, model.forward(seq[:9], positions=range(3, 12), hidden_layer=0))
    print("ok: command line output matches the library")

    for name in os.listdir(tmp):
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    print("test_llama_ref_golden: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
