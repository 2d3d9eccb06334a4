"""Trains tandem's demo model pair on the GPU machine (see models/MODEL_CARD.md).

One run: SentencePiece-BPE vocabulary -> big (~27M) -> little (~2.6M) ->
BiLD-style prediction alignment of a copy of little on big's greedy outputs ->
PyTorch evaluation (perplexity with tandem's protocol, greedy agreement).
Writes to --out: weights.partNN (fp16 tensors of the three models, one blob
split in 15 MiB parts; described by meta.json inside meta.tar.gz), meta.tar.gz
(tokenizer .model, llama2.c tokenizer.bin, metrics.json) and the log.

python3 tools/train/train.py --corpus tools/corpus/out --prompts bench/prompts --out DIR [--smoke]
"""
import argparse, glob, gzip, io, json, math, os, random, struct, sys, tarfile, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import sentencepiece as spm

BOS, EOS = 1, 2
BIG = dict(dim=512, n_layers=8, n_heads=8, n_kv=8, hidden=1344, vocab=4096, seq=512, dropout=0.15)
LITTLE = dict(dim=192, n_layers=4, n_heads=6, n_kv=6, hidden=512, vocab=4096, seq=512)


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- model
class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope_tables(hd, seq, device):
    i = torch.arange(hd // 2, device=device, dtype=torch.float32)
    inv = 10000.0 ** (-2.0 * i / hd)
    ang = torch.arange(seq, device=device, dtype=torch.float32)[:, None] * inv[None, :]
    return ang.cos(), ang.sin()


def apply_rope(x, cos, sin):
    # x: (B, H, T, hd); rotates adjacent pairs (x[2i], x[2i+1]) -- llama2.c / GGUF "normal"
    T = x.shape[2]
    c, s = cos[:T], sin[:T]
    xf = x.float()
    x1, x2 = xf[..., 0::2], xf[..., 1::2]
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2).to(x.dtype)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h, kv = c["dim"], c["n_heads"], c["n_kv"]
        hd = d // h
        self.h, self.kv, self.hd = h, kv, hd
        self.attn_norm = RMSNorm(d)
        self.wq = nn.Linear(d, h * hd, bias=False)
        self.wk = nn.Linear(d, kv * hd, bias=False)
        self.wv = nn.Linear(d, kv * hd, bias=False)
        self.wo = nn.Linear(h * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d)
        self.w1 = nn.Linear(d, c["hidden"], bias=False)
        self.w2 = nn.Linear(c["hidden"], d, bias=False)
        self.w3 = nn.Linear(d, c["hidden"], bias=False)
        self.drop = nn.Dropout(c.get("dropout", 0.0))

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        a = self.attn_norm(x)
        q = self.wq(a).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.wk(a).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.wv(a).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.kv != self.h:
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.drop(self.wo(o.transpose(1, 2).reshape(B, T, -1)))
        f = self.ffn_norm(x)
        return x + self.drop(self.w2(F.silu(self.w1(f)) * self.w3(f)))


class LM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.emb = nn.Embedding(c["vocab"], c["dim"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
        self.norm = RMSNorm(c["dim"])
        cos, sin = rope_tables(c["dim"] // c["n_heads"], c["seq"], "cpu")
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c["n_layers"]) if n.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        x = self.emb(idx)
        for l in self.layers:
            x = l(x, self.cos, self.sin)
        return self.norm(x) @ self.emb.weight.t()  # tied classifier

    def n_params(self):
        return sum(p.numel() for p in self.parameters())

    def export_tensors(self):
        """(name, tensor) in llama2.c checkpoint order (tied classifier)."""
        L = self.layers
        out = [("token_embedding", self.emb.weight)]
        out += [(f"rms_att.{i}", l.attn_norm.weight) for i, l in enumerate(L)]
        for w in ("wq", "wk", "wv", "wo"):
            out += [(f"{w}.{i}", getattr(l, w).weight) for i, l in enumerate(L)]
        out += [(f"rms_ffn.{i}", l.ffn_norm.weight) for i, l in enumerate(L)]
        for w in ("w1", "w2", "w3"):
            out += [(f"{w}.{i}", getattr(l, w).weight) for i, l in enumerate(L)]
        out.append(("rms_final", self.norm.weight))
        return out


# ---------------------------------------------------------------- data
def load_streams(sp, corpus, smoke):
    streams = {}
    for path in sorted(glob.glob(os.path.join(corpus, "*.train.txt.gz"))):
        dom = os.path.basename(path).split(".")[0]
        text = gzip.open(path, "rt", encoding="utf-8").read()
        if smoke:
            text = text[:200_000]
        chunks, i = [], 0
        while i < len(text):
            j = text.find("\n\n", i + 65536)
            j = len(text) if j < 0 else j + 2
            chunks.append(text[i:j])
            i = j
        ids = sp.encode(chunks, num_threads=16)
        streams[dom] = np.concatenate([np.asarray(x, dtype=np.int16) for x in ids])
        log(f"data {dom}: {len(text)} chars -> {len(streams[dom])} tokens")
    return streams


class Batcher:
    def __init__(self, stream, B, T, device, seed):
        self.s = torch.from_numpy(stream.astype(np.int64))
        self.B, self.T, self.dev = B, T, device
        self.g = torch.Generator().manual_seed(seed)

    def get(self):
        o = torch.randint(0, len(self.s) - self.T - 1, (self.B,), generator=self.g)
        seq = torch.stack([self.s[i:i + self.T] for i in o.tolist()])
        inp = torch.cat([torch.full((self.B, 1), BOS, dtype=torch.long), seq[:, :-1]], 1)
        return inp.to(self.dev, non_blocking=True), seq.to(self.dev, non_blocking=True)


@torch.no_grad()
def val_loss(model, val):
    if val is None:
        return float("nan")
    model.eval()
    tot = 0.0
    for inp, tgt in val:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(inp)
        tot += F.cross_entropy(logits.float().view(-1, logits.shape[-1]), tgt.reshape(-1)).item()
    model.train()
    return tot / len(val)


def train(model, batcher, budget_s, lr, tag, warmup=100, min_frac=0.1, val=None, every=250):
    best, best_state, best_step = float("inf"), None, 0
    opt = torch.optim.AdamW(
        [{"params": [p for p in model.parameters() if p.dim() == 2], "weight_decay": 0.1},
         {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.95), fused=True)
    model.train()
    t0, step, tokens, last = time.time(), 0, 0, time.time()
    while True:
        el = time.time() - t0
        if el >= budget_s:
            break
        frac = el / budget_s
        cur = lr * min(1.0, (step + 1) / warmup) * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = cur
        inp, tgt = batcher.get()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(inp)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), tgt.reshape(-1),
                               ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += tgt.numel()
        if val is not None and step % every == 0:
            vl = val_loss(model, val)
            log(f"[{tag}] step {step} validation loss {vl:.4f}")
            if vl < best:
                best, best_step = vl, step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if step % 100 == 0 or step == 1:
            torch.cuda.synchronize()
            now = time.time()
            log(f"[{tag}] step {step} loss {loss.item():.4f} lr {cur:.2e} "
                f"tokens {tokens/1e6:.1f}M elapsed {now - t0:.0f}s tok/s {tokens/(now - t0):.0f}")
    torch.cuda.synchronize()
    el = time.time() - t0
    log(f"[{tag}] done: {step} steps, {tokens} tokens, {el:.0f}s, final loss {loss.item():.4f}")
    r = dict(steps=step, tokens=tokens, seconds=round(el, 1), final_loss=round(loss.item(), 4))
    if val is not None:
        vl = val_loss(model, val)
        log(f"[{tag}] final validation loss {vl:.4f}; best {best:.4f} at step {best_step}")
        if best_state is not None and best < vl:
            model.load_state_dict(best_state)
            r.update(kept_step=best_step)
        else:
            r.update(kept_step=step)
        r.update(val_loss=round(min(best, vl), 4))
    model.eval()
    return r


class ListBatcher:
    def __init__(self, seqs, mask, B, device, seed):
        self.x, self.m, self.B, self.dev = seqs, mask, B, device
        self.g = torch.Generator().manual_seed(seed)

    def get(self):
        i = torch.randint(0, self.x.shape[0], (self.B,), generator=self.g)
        x, m = self.x[i], self.m[i]
        tgt = x[:, 1:].clone()
        tgt[~m[:, 1:]] = -100
        return x[:, :-1].to(self.dev), tgt.to(self.dev)


@torch.no_grad()
def greedy(model, prompts, n_new, device, fp32=False, bs=1024):
    """prompts: list of token lists (each starts with BOS). Returns generated lists."""
    model.eval()
    out = []
    for b in range(0, len(prompts), bs):
        ps = prompts[b:b + bs]
        lens = torch.tensor([len(p) for p in ps], device=device)
        buf = torch.zeros(len(ps), int(lens.max()) + n_new, dtype=torch.long, device=device)
        for i, p in enumerate(ps):
            buf[i, :len(p)] = torch.tensor(p)
        rows = torch.arange(len(ps), device=device)
        for t in range(n_new):
            L = int(lens.max())
            if fp32:
                logits = model(buf[:, :L])
            else:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = model(buf[:, :L])
            nxt = logits[rows, lens - 1].float().argmax(-1)
            buf[rows, lens] = nxt
            lens = lens + 1
        for i, p in enumerate(ps):
            out.append(buf[i, len(p):len(p) + n_new].tolist())
    return out


@torch.no_grad()
def perplexity(model, ids, ctx=512):
    """tandem's protocol: non-overlapping windows of ctx-1 tokens, each after BOS."""
    model.eval()
    span, nll, n = ctx - 1, 0.0, 0
    for b in range(0, len(ids), span):
        w = ids[b:b + span]
        inp = torch.tensor([[BOS] + w], device="cuda")
        if inp.shape[1] < 2:
            break
        lp = F.log_softmax(model(inp)[0, :-1].double(), -1)
        nll -= lp[torch.arange(len(w)), torch.tensor(w, device="cuda")].sum().item()
        n += len(w)
    return math.exp(nll / n), n


@torch.no_grad()
def agreement(little, prompts, big_gen, device):
    """teacher-forced top-1 agreement of little with big's greedy continuation."""
    little.eval()
    hit, tot = 0, 0
    for p, g in zip(prompts, big_gen):
        x = torch.tensor([p + g], device=device)
        pred = little(x)[0, len(p) - 1:len(p) - 1 + len(g)].argmax(-1)
        hit += int((pred == torch.tensor(g, device=device)).sum())
        tot += len(g)
    return hit / tot


def fp16_copy(model):
    m = LM(model.c).cuda()
    m.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return m.eval()


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="tools/corpus/out")
    ap.add_argument("--prompts", default="bench/prompts")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/tandem-train")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--big-s", type=float, default=150)
    ap.add_argument("--little-s", type=float, default=60)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.work, exist_ok=True)
    torch.manual_seed(0)
    random.seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda"
    T0 = time.time()
    metrics = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    big_c, little_c = dict(BIG), dict(LITTLE)
    if a.smoke:
        big_c.update(dim=64, n_layers=2, n_heads=4, n_kv=4, hidden=128)
        little_c.update(dim=32, n_layers=1, n_heads=2, n_kv=2, hidden=64)
        a.big_s, a.little_s = 8, 4

    # 1. tokenizer
    t = time.time()
    lines = []
    for path in sorted(glob.glob(os.path.join(a.corpus, "*.train.txt.gz"))):
        for ln in gzip.open(path, "rt", encoding="utf-8"):
            ln = ln.rstrip("\n")
            if ln.strip():
                lines.append(ln)
    random.shuffle(lines)
    if a.smoke:
        lines = lines[:30000]
    sp_in = os.path.join(a.work, "sp_input.txt")
    open(sp_in, "w", encoding="utf-8").write("\n".join(lines) + "\n")
    prefix = os.path.join(a.work, "tandem-demo")
    spm.SentencePieceTrainer.train(
        input=sp_in, model_prefix=prefix, model_type="bpe", vocab_size=big_c["vocab"],
        byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=0.9995, input_sentence_size=600_000, shuffle_input_sentence=True,
        max_sentence_length=8192, num_threads=16, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    assert sp.get_piece_size() == big_c["vocab"]
    metrics["tokenizer_s"] = round(time.time() - t, 1)
    log(f"tokenizer trained in {metrics['tokenizer_s']}s on {len(lines)} lines")
    # llama2.c tokenizer.bin
    pieces = []
    for i in range(sp.get_piece_size()):
        p = sp.id_to_piece(i).replace("\u2581", " ").encode("utf-8")
        pieces.append((sp.get_score(i), p))
    with open(os.path.join(a.work, "tokenizer.bin"), "wb") as f:
        f.write(struct.pack("<i", max(len(p) for _, p in pieces)))
        for s, p in pieces:
            f.write(struct.pack("<fi", s, len(p)) + p)

    # 2. data
    streams = load_streams(sp, a.corpus, a.smoke)
    vals, trains = [], []
    for k, v in streams.items():
        cut = int(len(v) * 0.98)
        trains.append(v[:cut])
        vals.append(v[cut:])
    allstream = np.concatenate(trains)
    vb = Batcher(np.concatenate(vals), 32, 512, dev, 99)
    val = [vb.get() for _ in range(4)]
    metrics["train_tokens_per_domain"] = {k: int(len(v)) for k, v in streams.items()}
    metrics["train_tokens_total"] = int(len(allstream))

    # 3. big, 4. little
    big = LM(big_c).to(dev)
    little = LM(little_c).to(dev)
    metrics["big"] = dict(config=big_c, params=big.n_params())
    metrics["little"] = dict(config=little_c, params=little.n_params())
    log(f"params: big {big.n_params()} little {little.n_params()}")
    metrics["big"]["train"] = train(big, Batcher(allstream, 64, 512, dev, 1), a.big_s, 1.5e-3, "big", val=val)
    metrics["little"]["train"] = train(little, Batcher(allstream, 64, 512, dev, 2), a.little_s, 3e-3, "little", val=val)

    # 5. alignment: big's greedy continuations of training prompts
    t = time.time()
    n_align, P, G = (256 if a.smoke else 16384), 64, 64
    rng = np.random.default_rng(3)
    offs = rng.integers(0, len(allstream) - P, n_align)
    prompts = [[BOS] + allstream[o:o + P - 1].astype(np.int64).tolist() for o in offs]
    gens = greedy(big, prompts, G, dev)
    seqs = torch.tensor([p + g for p, g in zip(prompts, gens)])
    mask = torch.ones_like(seqs, dtype=torch.bool)
    gen_s = time.time() - t
    log(f"alignment data: {n_align} prompts x {G} greedy tokens from big in {gen_s:.0f}s")
    aligned = LM(little_c).to(dev)
    big.eval()
    aligned.load_state_dict(little.state_dict())
    steps_s = 8 if a.smoke else 30
    metrics["aligned"] = dict(config=little_c, params=aligned.n_params(), n_prompts=n_align,
                              prompt_tokens=P, gen_tokens=G, gen_seconds=round(gen_s, 1))
    metrics["aligned"]["train"] = train(aligned, ListBatcher(seqs, mask, 256, dev, 4), steps_s,
                                        5e-4, "align", warmup=20, min_frac=0.05)

    # 6. weights out (fp16), before evaluation so a failing eval loses nothing
    models = {"big": big, "little": little, "little-aligned": aligned}
    blob, meta, off = io.BytesIO(), {"models": {}}, 0
    for name, m in models.items():
        ts = []
        for tn, w in m.export_tensors():
            b = w.detach().half().cpu().numpy().tobytes()
            blob.write(b)
            ts.append([tn, list(w.shape), off, len(b)])
            off += len(b)
        meta["models"][name] = dict(config=m.c, tensors=ts)
    data = blob.getvalue()
    part = 15 * 1024 * 1024
    for i in range(0, len(data), part):
        open(os.path.join(a.out, f"weights.part{i // part:02d}"), "wb").write(data[i:i + part])
    json.dump(meta, open(os.path.join(a.work, "meta.json"), "w"))
    log(f"weights: {len(data)} bytes in {math.ceil(len(data) / part)} parts")

    def pack():
        json.dump(metrics, open(os.path.join(a.work, "metrics.json"), "w"), indent=1)
        with tarfile.open(os.path.join(a.out, "meta.tar.gz"), "w:gz") as tf:
            for fn in ("meta.json", "metrics.json", "tandem-demo.model", "tandem-demo.vocab",
                       "tokenizer.bin", "eval_ids.json"):
                if os.path.exists(os.path.join(a.work, fn)):
                    tf.add(os.path.join(a.work, fn), arcname=fn)
    pack()

    # 7. evaluation (fp32, fp16-rounded weights)
    try:
        ev = {n: fp16_copy(m) for n, m in models.items()}
        ids_out = {}
        metrics["ppl"] = {}
        for path in sorted(glob.glob(os.path.join(a.corpus, "*.eval.txt"))):
            dom = os.path.basename(path).split(".")[0]
            text = open(path, encoding="utf-8").read()
            ids = sp.encode(text)
            line_ids = [[ln, sp.encode(ln)] for ln in text.split("\n") if ln]
            ids_out[dom] = dict(n_tokens=len(ids), lines=line_ids)
            metrics["ppl"][dom] = {}
            for n, m in ev.items():
                ppl, cnt = perplexity(m, ids)
                metrics["ppl"][dom][n] = round(ppl, 4)
            metrics["ppl"][dom]["tokens"] = cnt
            log(f"ppl {dom}: {metrics['ppl'][dom]}")
        json.dump(ids_out, open(os.path.join(a.work, "eval_ids.json"), "w"))
        metrics["agreement"] = {}
        metrics["samples"] = {}
        for path in sorted(glob.glob(os.path.join(a.prompts, "*.jsonl"))):
            dom = os.path.basename(path).split(".")[0]
            rows = [json.loads(l) for l in open(path, encoding="utf-8")]
            ps = [[BOS] + sp.encode(r["prompt"]) for r in rows]
            bg = greedy(ev["big"], ps, 64, dev, fp32=True, bs=128)
            r = {}
            for n in ("little", "little-aligned"):
                r[n + "_teacher_forced"] = round(agreement(ev[n], ps, bg, dev), 4)
                lg = greedy(ev[n], ps, 64, dev, fp32=True, bs=128)
                pos = sum(sum(int(x == y) for x, y in zip(a_, b_)) for a_, b_ in zip(lg, bg))
                pre = []
                for a_, b_ in zip(lg, bg):
                    k = 0
                    while k < len(a_) and a_[k] == b_[k]:
                        k += 1
                    pre.append(k)
                r[n + "_free_running_positional"] = round(pos / (64 * len(bg)), 4)
                r[n + "_free_running_mean_prefix"] = round(sum(pre) / len(pre), 2)
            metrics["agreement"][dom] = r
            metrics["samples"][dom] = [dict(prompt=rows[i]["prompt"], big=sp.decode(bg[i]),
                                            big_ids=bg[i]) for i in range(3)]
            log(f"agreement {dom}: {r}")
    except Exception as e:  # keep the weights even if evaluation breaks
        import traceback
        traceback.print_exc()
        metrics["eval_error"] = repr(e)
    metrics["total_s"] = round(time.time() - T0, 1)
    pack()
    log(f"total {metrics['total_s']}s; out files:", sorted(os.listdir(a.out)))
    if a.smoke and "eval_error" in metrics:
        sys.exit(1)


if __name__ == "__main__":
    main()
