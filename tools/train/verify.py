#!/usr/bin/python3
"""Checks tandem against the PyTorch run: tokenizer ids (every line of every
held-out eval text, SentencePiece ids from the device run) and perplexity
(tandem perplexity -c 512 on F32 and Q8_0 GGUFs vs PyTorch's fp32 figure).

tools/train/verify.py [TANDEM]  -> prints tables, writes models/verify.json
"""
import json, os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
tandem = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/src/cli/tandem")
work = os.path.join(ROOT, "models", "work")
ids = json.load(open(os.path.join(work, "eval_ids.json")))
metrics = json.load(open(os.path.join(work, "metrics.json")))
# The shipped little-aligned comes from tools/train/distill.py (MODEL_CARD.md, Distillation):
# its PyTorch perplexities are in that run's metrics, not the first run's.
distilled = os.path.join(work, "distill-metrics.json")
if os.path.exists(distilled):
    for dom, v in json.load(open(distilled))["ppl"].items():
        metrics["ppl"][dom]["little-aligned"] = v["distilled"]
res = {"tokenizer": {}, "ppl": {}}
for dom, d in ids.items():
    lines = [l for l, _ in d["lines"]]
    out = subprocess.run([tandem, "tokenize", "-m", os.path.join(work, "little-f32.gguf")],
                         input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    got = [[int(x) for x in l.split()] for l in out.split("\n")[:len(lines)]]
    ok = sum(g == e for g, (_, e) in zip(got, d["lines"]))
    bad = [(l, e, g) for g, (l, e) in zip(got, d["lines"]) if g != e][:3]
    res["tokenizer"][dom] = dict(lines=len(lines), match=ok, rate=ok / len(lines), first_mismatches=bad)
    print(f"tokenizer {dom}: {ok}/{len(lines)} lines identical", flush=True)
for dom in ids:
    text = os.path.join(ROOT, "tools", "corpus", "out", f"{dom}.eval.txt")
    res["ppl"][dom] = {}
    for name in ("big", "little", "little-aligned"):
        r = {"pytorch_fp32": metrics["ppl"][dom][name]}
        for kind, path in (("tandem_f32", os.path.join(work, f"{name}-f32.gguf")),
                           ("tandem_q8_0", os.path.join(ROOT, "models", f"{name}-q8_0.gguf"))):
            out = subprocess.run([tandem, "perplexity", "-m", path, "-f", text, "-c", "512"],
                                 capture_output=True, text=True, check=True).stdout
            m = re.search(r"perplexity ([0-9.]+) over (\d+) tokens", out)
            r[kind], r[kind + "_tokens"] = float(m.group(1)), int(m.group(2))
        r["f32_vs_pytorch_rel"] = r["tandem_f32"] / r["pytorch_fp32"] - 1
        r["pytorch_tokens"] = metrics["ppl"][dom]["tokens"]
        res["ppl"][dom][name] = r
        print(f"ppl {dom} {name}: {r}", flush=True)
json.dump(res, open(os.path.join(ROOT, "models", "verify.json"), "w"), indent=1)
