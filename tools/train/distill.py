"""Distils a better-aligned little model from the shipped big model (GPU machine).

BiLD's prediction alignment (models/MODEL_CARD.md), done with soft labels: the student
(initialised from the shipped plain little model) is trained to minimise
KL(p_big || p_little) at every position, on two kinds of sequences mixed in each step:
  * big's own greedy continuations of prompts cut at random offsets of the training
    streams (the contexts BiLD/spec meet while decoding: a real prompt, then big-like text);
  * plain windows of the training streams (keeps the student a language model).
The teacher is the shipped big-q8_0.gguf itself, dequantised (the model tandem runs),
so the student aligns with exactly the big model it will draft for. Nothing of the held-out
split is trained on; bench/prompts are only used to evaluate agreement at the end.

Writes to --out: weights.part00 (fp16 tensors of "little-aligned" in llama2.c order, as
train.py does), meta.tar.gz (meta.json, distill-metrics.json) and the log; turn them into
models/little-aligned-q8_0.gguf with tools/train/export.py RUN_DIR.

python3 tools/train/distill.py --out DIR [--smoke] [--gen-s 60] [--train-s 300]
"""
import argparse, io, json, math, os, random, struct, sys, tarfile, time
import numpy as np
import torch
import torch.nn.functional as F
import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import LM, BOS, LITTLE, BIG, load_streams, Batcher, greedy, perplexity, log  # noqa: E402


# ---------------------------------------------------------------- GGUF (F32 / F16 / Q8_0 only)
def read_gguf(path):
    d = open(path, "rb").read()
    o = 0

    def take(fmt):
        nonlocal o
        v = struct.unpack_from("<" + fmt, d, o)
        o += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal o
        n = take("Q")
        v = d[o:o + n].decode("utf-8", "replace")
        o += n
        return v

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(scalar[t])

    assert d[:4] == b"GGUF", path
    o = 4
    take("I")  # version
    n_tensors, n_kv = take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        infos.append((name, dims, take("I"), take("Q")))
    align = kv.get("general.alignment", 32)
    base = (o + align - 1) // align * align
    tensors = {}
    for name, dims, ty, off in infos:
        n = int(np.prod(dims))
        p = base + off
        if ty == 0:
            a = np.frombuffer(d, np.float32, n, p)
        elif ty == 1:
            a = np.frombuffer(d, np.float16, n, p).astype(np.float32)
        elif ty == 8:  # Q8_0: blocks of (f16 scale, 32 x int8)
            blk = np.frombuffer(d, np.uint8, n // 32 * 34, p).reshape(-1, 34)
            scale = blk[:, :2].copy().view(np.float16).astype(np.float32)
            a = (blk[:, 2:].copy().view(np.int8).astype(np.float32) * scale).reshape(-1)
        else:
            raise SystemExit(f"{path}: tensor {name} has type {ty}; only F32/F16/Q8_0 here")
        tensors[name] = a.reshape(list(reversed(dims))).copy()  # ggml ne0 is the fastest axis
    return kv, tensors


def lm_from_gguf(path, cfg, device):
    kv, t = read_gguf(path)
    assert kv["llama.embedding_length"] == cfg["dim"] and kv["llama.block_count"] == cfg["n_layers"], path
    m = LM(dict(cfg, dropout=0.0))
    sd = {"emb.weight": t["token_embd.weight"], "norm.weight": t["output_norm.weight"]}
    names = dict(attn_norm="attn_norm.weight", wq="attn_q.weight", wk="attn_k.weight",
                 wv="attn_v.weight", wo="attn_output.weight", ffn_norm="ffn_norm.weight",
                 w1="ffn_gate.weight", w2="ffn_down.weight", w3="ffn_up.weight")
    for i in range(cfg["n_layers"]):
        for ours, theirs in names.items():
            sd[f"layers.{i}.{ours}.weight"] = t[f"blk.{i}.{theirs}"]
    m.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    return m.to(device).eval()


# ---------------------------------------------------------------- distillation
def kl_loss(student_logits, teacher_logits, mask=None):
    """mean over positions of KL(p_teacher || p_student), temperature 1."""
    lt = F.log_softmax(teacher_logits.float(), -1)
    ls = F.log_softmax(student_logits.float(), -1)
    kl = (lt.exp() * (lt - ls)).sum(-1)
    if mask is not None:
        return (kl * mask).sum() / mask.sum()
    return kl.mean()


def generate_data(big, stream, budget_s, device, smoke):
    """big's greedy continuations of training-stream prompts, until budget_s has passed."""
    rng = np.random.default_rng(5)
    G = 8 if smoke else 64
    bs = 64 if smoke else 2048
    seqs = []
    t0 = time.time()
    while time.time() - t0 < budget_s or not seqs:
        P = int(rng.choice([40, 56, 72, 96, 120]))
        offs = rng.integers(0, len(stream) - P, bs)
        prompts = [[BOS] + stream[o:o + P - 1].astype(np.int64).tolist() for o in offs]
        gens = greedy(big, prompts, G, device, bs=bs)
        seqs += [p + g for p, g in zip(prompts, gens)]
    log(f"generated {len(seqs)} sequences ({G} greedy tokens each) in {time.time() - t0:.0f}s")
    return seqs


def distill(student, big, gen_seqs, stream, budget_s, device, lr, smoke):
    by_len = {}
    for s in gen_seqs:
        by_len.setdefault(len(s), []).append(s)
    pools = [torch.tensor(v) for v in by_len.values()]
    weights = np.array([len(v) for v in by_len.values()], dtype=np.float64)
    weights /= weights.sum()
    g = torch.Generator().manual_seed(6)
    rng = np.random.default_rng(6)
    corpus = Batcher(stream, 16 if smoke else 96, 256, device, 7)
    B = 32 if smoke else 384
    opt = torch.optim.AdamW(
        [{"params": [p for p in student.parameters() if p.dim() == 2], "weight_decay": 0.01},
         {"params": [p for p in student.parameters() if p.dim() < 2], "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.95), fused=True)
    student.train()
    t0, step, seen = time.time(), 0, 0
    hist = []
    while time.time() - t0 < budget_s:
        frac = (time.time() - t0) / budget_s
        cur = lr * min(1.0, (step + 1) / 50) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for grp in opt.param_groups:
            grp["lr"] = cur
        pool = pools[rng.choice(len(pools), p=weights)]
        x = pool[torch.randint(0, pool.shape[0], (B,), generator=g)].to(device)
        c, _ = corpus.get()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            tg, tc = big(x), big(c)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            sg, sc = student(x), student(c)
        loss = 0.6 * kl_loss(sg, tg) + 0.4 * kl_loss(sc, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        step += 1
        seen += x.numel() + c.numel()
        if step % 100 == 0 or step == 1:
            torch.cuda.synchronize()
            el = time.time() - t0
            log(f"[distill] step {step} KL {loss.item():.4f} lr {cur:.2e} positions {seen / 1e6:.1f}M "
                f"elapsed {el:.0f}s pos/s {seen / el:.0f}")
            hist.append([step, round(el, 1), round(loss.item(), 4)])
    torch.cuda.synchronize()
    student.eval()
    return dict(steps=step, positions=seen, seconds=round(time.time() - t0, 1), lr=lr,
                batch_generated=B, batch_corpus=corpus.B, final_kl=round(loss.item(), 4), curve=hist)


@torch.no_grad()
def evaluate(models, big, prompts_dir, device, smoke):
    """Teacher-forced top-1 agreement with big's greedy continuation of the held-out
    prompts, and confidence: share of positions with p_max >= a and agreement there."""
    out = {}
    for path in sorted(os.listdir(prompts_dir)):
        if not path.endswith(".jsonl"):
            continue
        dom = path[:-6]
        rows = [json.loads(l) for l in open(os.path.join(prompts_dir, path), encoding="utf-8")]
        if smoke:
            rows = rows[:4]
        ps = [[BOS] + SP.encode(r["prompt"]) for r in rows]
        bg = greedy(big, ps, 64, device, fp32=True, bs=128)
        out[dom] = {}
        for name, m in models.items():
            hit = tot = 0
            conf = {a: [0, 0] for a in (0.6, 0.8, 0.9)}
            for p, gtok in zip(ps, bg):
                x = torch.tensor([p + gtok], device=device)
                pr = F.softmax(m(x)[0, len(p) - 1:len(p) - 1 + len(gtok)].float(), -1)
                pmax, arg = pr.max(-1)
                ok = arg == torch.tensor(gtok, device=device)
                hit += int(ok.sum())
                tot += len(gtok)
                for a in conf:
                    sel = pmax >= a
                    conf[a][0] += int(sel.sum())
                    conf[a][1] += int((ok & sel).sum())
            out[dom][name] = dict(
                teacher_forced=round(hit / tot, 4),
                **{f"share_pmax_ge_{a}": round(v[0] / tot, 4) for a, v in conf.items()},
                **{f"agree_if_pmax_ge_{a}": round(v[1] / max(v[0], 1), 4) for a, v in conf.items()})
        log(f"agreement {dom}: {out[dom]}")
    return out


SP = None


def main():
    global SP
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="tools/corpus/out")
    ap.add_argument("--prompts", default="bench/prompts")
    ap.add_argument("--big", default="models/big-q8_0.gguf")
    ap.add_argument("--little", default="models/little-q8_0.gguf")
    ap.add_argument("--old-aligned", default="models/little-aligned-q8_0.gguf")
    ap.add_argument("--sp", default="models/work/tandem-demo.model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--gen-s", type=float, default=60)
    ap.add_argument("--train-s", type=float, default=300)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    random.seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda"
    T0 = time.time()
    if a.smoke:
        a.gen_s, a.train_s = 2, 4
    metrics = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__, args=vars(a))
    SP = spm.SentencePieceProcessor(model_file=a.sp)
    big = lm_from_gguf(a.big, BIG, dev)
    little = lm_from_gguf(a.little, LITTLE, dev)
    old = lm_from_gguf(a.old_aligned, LITTLE, dev)
    # The loader must reproduce tandem's Q8_0 perplexities (MODEL_CARD: bible 13.627 / 17.772).
    text = open(os.path.join(a.corpus, "bible.eval.txt"), encoding="utf-8").read()
    ids = SP.encode(text)[: 2000 if a.smoke else None]
    metrics["check_ppl_bible"] = {n: round(perplexity(m, ids)[0], 4) for n, m in
                                  (("big", big), ("little", little), ("old_aligned", old))}
    log(f"loaded GGUFs; bible perplexity {metrics['check_ppl_bible']}")
    if not a.smoke:
        assert abs(metrics["check_ppl_bible"]["big"] / 13.627 - 1) < 0.01, "GGUF loader disagrees with tandem"

    streams = load_streams(SP, a.corpus, a.smoke)
    stream = np.concatenate([v[: int(len(v) * 0.98)] for v in streams.values()])
    gen = generate_data(big, stream, a.gen_s, dev, a.smoke)
    metrics["generated_sequences"] = len(gen)
    student = lm_from_gguf(a.little, LITTLE, dev)
    metrics["distill"] = distill(student, big, gen, stream, a.train_s, dev, a.lr, a.smoke)

    # weights out (fp16, llama2.c order), before evaluation so a failing eval loses nothing
    blob, ts, off = io.BytesIO(), [], 0
    for tn, w in student.export_tensors():
        b = w.detach().half().cpu().numpy().tobytes()
        blob.write(b)
        ts.append([tn, list(w.shape), off, len(b)])
        off += len(b)
    open(os.path.join(a.out, "weights.part00"), "wb").write(blob.getvalue())
    meta = {"models": {"little-aligned": dict(config=LITTLE, tensors=ts)}}

    def pack():
        with tarfile.open(os.path.join(a.out, "meta.tar.gz"), "w:gz") as tf:
            for fn, obj in (("meta.json", meta), ("distill-metrics.json", metrics)):
                data = json.dumps(obj, indent=1).encode()
                info = tarfile.TarInfo(fn)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    pack()
    try:
        ev = {"little": little, "old_aligned": old, "distilled": student}
        metrics["agreement"] = evaluate(ev, big, a.prompts, dev, a.smoke)
        metrics["ppl"] = {}
        for dom in sorted(streams):
            t = open(os.path.join(a.corpus, f"{dom}.eval.txt"), encoding="utf-8").read()
            ids = SP.encode(t)[: 2000 if a.smoke else None]
            metrics["ppl"][dom] = {n: round(perplexity(m, ids)[0], 3) for n, m in
                                   (("big", big), ("little", little), ("old_aligned", old),
                                    ("distilled", student))}
            log(f"ppl {dom}: {metrics['ppl'][dom]}")
    except Exception as e:  # keep the weights even if evaluation breaks
        import traceback
        traceback.print_exc()
        metrics["eval_error"] = repr(e)
    metrics["total_s"] = round(time.time() - T0, 1)
    pack()
    log(f"total {metrics['total_s']}s")
    if a.smoke and "eval_error" in metrics:
        sys.exit(1)


if __name__ == "__main__":
    main()
