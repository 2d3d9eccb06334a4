"""Float64 NumPy reference forward pass for GGUF models of architecture `llama` / `qwen2`.

Independent of the C++ engine; the engine's model tests run this script and compare.
All weights are dequantised to float64 and every operation is done in float64.

Command line (used by the C++ tests):

    /usr/bin/python3 tests/reference/llama_ref.py MODEL.gguf --tokens 1,5,9 \
        [--positions 0,1,2] [--hidden-layer K] --out OUT.bin

  writes raw little-endian float64, row-major:
    default          logits of every token, shape (n_tokens, vocab)
    --hidden-layer K the residual stream x after block K (0-based) has been applied,
                     shape (n_tokens, dim); no final norm
  --positions defaults to 0..n-1. One sequence per invocation.

Library:

    from llama_ref import LlamaRef
    m = LlamaRef.from_gguf("model.gguf")
    logits = m.forward([1, 5, 9])                 # (n, vocab) float64
    x1 = m.forward([1, 5, 9], hidden_layer=1)     # (n, dim)

Model (per the GGUF conventions llama.cpp uses):
  x = token_embd[token]
  per block:  h = rmsnorm(x) * attn_norm
              q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)      (biases: qwen2)
              RoPE on q and k, each head separately, first rot_dim dims of the head:
                theta_i = (pos / scaling_factor) * base^(-2i/rot_dim), i < rot_dim/2
                llama: "normal" mode, rotates adjacent pairs (x[2i], x[2i+1])
                qwen2: "NeoX" mode, rotates (x[i], x[i + rot_dim/2])
                (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)
              grouped-query attention (query head h reads kv head h // (n_head / n_kv)),
              scores / sqrt(head_dim), causal mask (key j visible to query i iff
              pos[j] <= pos[i]), softmax, weighted sum of v
              x += Wo attn
              h = rmsnorm(x) * ffn_norm
              x += W_down (silu(W_gate h) * (W_up h))
  logits = W_out (rmsnorm(x) * output_norm)     (W_out = token_embd when output.weight is absent)
  rmsnorm(x) = x / sqrt(mean(x^2) + eps)
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_read import GGUFFile  # noqa: E402

ROPE_NORMAL = "normal"   # adjacent pairs, llama
ROPE_NEOX = "neox"       # halves, qwen2

ARCH_ROPE_MODE = {"llama": ROPE_NORMAL, "qwen2": ROPE_NEOX}


class Hparams:
    """Hyper-parameters read from GGUF metadata (see module docstring for the keys)."""

    def __init__(self, arch, dim, n_layer, ffn, n_head, n_kv, eps, rope_base, rot_dim,
                 rope_scale, head_dim, rope_mode):
        self.arch = arch
        self.dim = dim
        self.n_layer = n_layer
        self.ffn = ffn
        self.n_head = n_head
        self.n_kv = n_kv
        self.eps = eps
        self.rope_base = rope_base
        self.rot_dim = rot_dim
        self.rope_scale = rope_scale      # positions are multiplied by this (= 1/factor)
        self.head_dim = head_dim
        self.rope_mode = rope_mode

    @staticmethod
    def from_metadata(md, path="model"):
        arch = md.get("general.architecture")
        if arch not in ARCH_ROPE_MODE:
            raise ValueError("%s: architecture %r not supported (llama, qwen2)" % (path, arch))

        def need(key):
            full = arch + "." + key
            if full not in md:
                raise ValueError("%s: missing metadata key %s" % (path, full))
            return md[full]

        def opt(key, default):
            return md.get(arch + "." + key, default)

        dim = int(need("embedding_length"))
        n_head = int(need("attention.head_count"))
        n_kv = int(opt("attention.head_count_kv", n_head))
        head_dim = int(opt("attention.key_length", dim // n_head))
        scaling_type = opt("rope.scaling.type", "none")
        if scaling_type in (None, "none", ""):
            rope_scale = 1.0
        elif scaling_type == "linear":
            rope_scale = 1.0 / float(opt("rope.scaling.factor", 1.0))
        else:
            raise ValueError("%s: rope scaling type %r not supported" % (path, scaling_type))
        if n_head % n_kv != 0:
            raise ValueError("%s: head_count %d not a multiple of head_count_kv %d" % (path, n_head, n_kv))
        return Hparams(
            arch=arch, dim=dim, n_layer=int(need("block_count")), ffn=int(need("feed_forward_length")),
            n_head=n_head, n_kv=n_kv, eps=float(need("attention.layer_norm_rms_epsilon")),
            rope_base=float(opt("rope.freq_base", 10000.0)), rot_dim=int(opt("rope.dimension_count", head_dim)),
            rope_scale=rope_scale, head_dim=head_dim, rope_mode=ARCH_ROPE_MODE[arch])


def rmsnorm(x, w, eps):
    """x: (n, dim); normalise each row over dim, then scale by w."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope(x, positions, hp):
    """Rotate x: (n, heads, head_dim) in place-free fashion; positions: (n,) float."""
    rot = hp.rot_dim
    half = rot // 2
    i = np.arange(half, dtype=np.float64)
    inv_freq = hp.rope_base ** (-2.0 * i / rot)                         # (half,)
    theta = (positions * hp.rope_scale)[:, None] * inv_freq[None, :]    # (n, half)
    cos = np.cos(theta)[:, None, :]                                     # (n, 1, half)
    sin = np.sin(theta)[:, None, :]
    out = x.copy()
    if hp.rope_mode == ROPE_NORMAL:
        x0 = x[..., 0:rot:2]          # x[2i]
        x1 = x[..., 1:rot:2]          # x[2i+1]
        out[..., 0:rot:2] = x0 * cos - x1 * sin
        out[..., 1:rot:2] = x0 * sin + x1 * cos
    elif hp.rope_mode == ROPE_NEOX:
        x0 = x[..., 0:half]           # x[i]
        x1 = x[..., half:rot]         # x[i + rot/2]
        out[..., 0:half] = x0 * cos - x1 * sin
        out[..., half:rot] = x0 * sin + x1 * cos
    else:
        raise ValueError("unknown rope mode %r" % hp.rope_mode)
    return out


class LlamaRef:
    """Weights as float64 NumPy arrays in (out_features, in_features) layout."""

    def __init__(self, hp, weights):
        self.hp = hp
        self.w = weights

    @staticmethod
    def from_gguf(path):
        g = GGUFFile(path)
        hp = Hparams.from_metadata(g.metadata, path)
        d, hd = hp.dim, hp.head_dim

        def get(name, shape, optional=False):
            if name not in g.tensors:
                if optional:
                    return None
                raise ValueError("%s: missing tensor %s" % (path, name))
            t = g.tensors[name]
            if tuple(t.shape) != tuple(shape):
                raise ValueError("%s: tensor %s has NumPy shape %s (GGUF dims %s), expected %s"
                                 % (path, name, t.shape, list(t.dims), tuple(shape)))
            return g.tensor(name)

        emb_info = g.tensors.get("token_embd.weight")
        if emb_info is None:
            raise ValueError("%s: missing tensor token_embd.weight" % path)
        vocab = emb_info.shape[0]
        w = {"token_embd": get("token_embd.weight", (vocab, d)),          # (vocab, dim)
             "output_norm": get("output_norm.weight", (d,))}
        out = get("output.weight", (vocab, d), optional=True)             # (vocab, dim)
        w["output"] = out if out is not None else w["token_embd"]
        for i in range(hp.n_layer):
            p = "blk.%d." % i
            w[p + "attn_norm"] = get(p + "attn_norm.weight", (d,))
            w[p + "attn_q"] = get(p + "attn_q.weight", (hp.n_head * hd, d))    # (n_head*hd, dim)
            w[p + "attn_k"] = get(p + "attn_k.weight", (hp.n_kv * hd, d))      # (n_kv*hd, dim)
            w[p + "attn_v"] = get(p + "attn_v.weight", (hp.n_kv * hd, d))      # (n_kv*hd, dim)
            w[p + "attn_output"] = get(p + "attn_output.weight", (d, hp.n_head * hd))  # (dim, n_head*hd)
            w[p + "attn_q_b"] = get(p + "attn_q.bias", (hp.n_head * hd,), optional=True)
            w[p + "attn_k_b"] = get(p + "attn_k.bias", (hp.n_kv * hd,), optional=True)
            w[p + "attn_v_b"] = get(p + "attn_v.bias", (hp.n_kv * hd,), optional=True)
            w[p + "ffn_norm"] = get(p + "ffn_norm.weight", (d,))
            w[p + "ffn_gate"] = get(p + "ffn_gate.weight", (hp.ffn, d))     # (ffn, dim)
            w[p + "ffn_up"] = get(p + "ffn_up.weight", (hp.ffn, d))         # (ffn, dim)
            w[p + "ffn_down"] = get(p + "ffn_down.weight", (d, hp.ffn))     # (dim, ffn)
        return LlamaRef(hp, w)

    @property
    def vocab(self):
        return self.w["token_embd"].shape[0]

    def _block(self, i, x, positions):
        hp, w, p = self.hp, self.w, "blk.%d." % i
        n, hd = x.shape[0], hp.head_dim

        h = rmsnorm(x, w[p + "attn_norm"], hp.eps)                      # (n, dim)
        q = h @ w[p + "attn_q"].T                                        # (n, n_head*hd)
        k = h @ w[p + "attn_k"].T                                        # (n, n_kv*hd)
        v = h @ w[p + "attn_v"].T                                        # (n, n_kv*hd)
        if w[p + "attn_q_b"] is not None:
            q = q + w[p + "attn_q_b"]
        if w[p + "attn_k_b"] is not None:
            k = k + w[p + "attn_k_b"]
        if w[p + "attn_v_b"] is not None:
            v = v + w[p + "attn_v_b"]
        q = rope(q.reshape(n, hp.n_head, hd), positions, hp)             # (n, n_head, hd)
        k = rope(k.reshape(n, hp.n_kv, hd), positions, hp)               # (n, n_kv, hd)
        v = v.reshape(n, hp.n_kv, hd)

        group = hp.n_head // hp.n_kv
        k = np.repeat(k, group, axis=1)                                  # (n, n_head, hd): head h -> kv h//group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd)          # (n_head, n_q, n_k)
        visible = positions[None, :] <= positions[:, None]              # (n_q, n_k)
        scores = np.where(visible[None], scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", probs, v).reshape(n, hp.n_head * hd)
        x = x + attn @ w[p + "attn_output"].T

        h = rmsnorm(x, w[p + "ffn_norm"], hp.eps)
        ff = silu(h @ w[p + "ffn_gate"].T) * (h @ w[p + "ffn_up"].T)      # (n, ffn)
        return x + ff @ w[p + "ffn_down"].T

    def forward(self, tokens, positions=None, hidden_layer=None):
        """tokens: ints; positions: ints (default 0..n-1).
        Returns logits (n, vocab), or with hidden_layer=K the residual x after block K (n, dim)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1 or tokens.size == 0:
            raise ValueError("tokens must be a non-empty 1-D list")
        if tokens.min() < 0 or tokens.max() >= self.vocab:
            raise ValueError("token id out of range [0, %d)" % self.vocab)
        if positions is None:
            positions = np.arange(tokens.size)
        positions = np.asarray(positions, dtype=np.float64)
        if positions.shape != tokens.shape:
            raise ValueError("%d positions for %d tokens" % (positions.size, tokens.size))
        if hidden_layer is not None and not 0 <= hidden_layer < self.hp.n_layer:
            raise ValueError("hidden layer %d out of range [0, %d)" % (hidden_layer, self.hp.n_layer))

        x = self.w["token_embd"][tokens]                                 # (n, dim)
        for i in range(self.hp.n_layer):
            x = self._block(i, x, positions)
            if hidden_layer == i:
                return x
        x = rmsnorm(x, self.w["output_norm"], self.hp.eps)
        return x @ self.w["output"].T                                    # (n, vocab)


def _ints(s):
    return [int(t) for t in s.split(",") if t.strip() != ""]


def main(argv=None):
    ap = argparse.ArgumentParser(description="float64 reference forward for llama/qwen2 GGUF models")
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--positions", help="comma-separated positions (default 0..n-1)")
    ap.add_argument("--hidden-layer", type=int, help="write x after block K (0-based) instead of logits")
    ap.add_argument("--out", required=True, help="output file: raw little-endian float64, row-major")
    a = ap.parse_args(argv)
    m = LlamaRef.from_gguf(a.model)
    out = m.forward(_ints(a.tokens), _ints(a.positions) if a.positions else None, a.hidden_layer)
    np.ascontiguousarray(out, dtype="<f8").tofile(a.out)


if __name__ == "__main__":
    main()
