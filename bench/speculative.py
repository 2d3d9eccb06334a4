#!/usr/bin/python3
"""Scores and plots the speculative-decoding benchmark.

Usage:
  build-dec/src/cli/tandem bench -m models/big-q8_0.gguf -d models/little-aligned-q8_0.gguf \
      --prompts bench/prompts --per-domain 10 -n 64 -t 2 --json bench/results/speculative.json
  /usr/bin/python3 bench/speculative.py bench/results/speculative.json

Reads the per-prompt runs `tandem bench -d` wrote, computes for every configuration
tokens/s (generated tokens over wall time, prompt included, summed over prompts),
speed-up over `ar-big` from the same run, ROUGE-L F1 (own implementation: LCS over
whitespace-separated words) of the generated text against the true continuation
cut to as many words as ar-big produced (the same reference for every configuration), and agreement with
ar-big's greedy tokens (fraction of positions with the same token), plus acceptance,
fallback and rollback rates. Writes <json>-summary.json and a speed-up vs quality PNG.
"""
import json
import sys


def lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate, reference):
    c, r = candidate.split(), reference.split()
    if not c or not r:
        return 0.0
    l = lcs(c, r)
    if l == 0:
        return 0.0
    p, rec = l / len(c), l / len(r)
    return 2 * p * rec / (p + rec)


def agreement(tokens, ref):
    n = max(len(ref), 1)
    return sum(1 for a, b in zip(tokens, ref) if a == b) / n


def summarise(doc):
    labels = [c["label"] for c in doc["configs"]]
    cfg = {c["label"]: c for c in doc["configs"]}
    rows = {}
    for label in labels:
        agg = dict(seconds=0.0, big_seconds=0.0, little_seconds=0.0, generated=0, drafted=0,
                   accepted=0, rounds=0, fallbacks=0, rollbacks=0, big_calls=0,
                   little_calls=0, rouge=[], agree=[], domains={})
        for p in doc["prompts"]:
            r = p["runs"][label]
            for k in ("seconds", "big_seconds", "little_seconds", "generated", "drafted",
                      "accepted", "rounds", "fallbacks", "rollbacks", "big_calls",
                      "little_calls"):
                agg[k] += r[k]
            # The reference is the continuation cut to the candidate's word count
            # of ar-big's output, so every configuration meets the same reference.
            ref_words = len(p["runs"]["ar-big"]["text"].split())
            ref = " ".join(p["continuation"].split()[:max(ref_words, 1)])
            rl = rouge_l(r["text"], ref)
            ag = agreement(r["tokens"], p["runs"]["ar-big"]["tokens"])
            agg["rouge"].append(rl)
            agg["agree"].append(ag)
            d = agg["domains"].setdefault(p["domain"], dict(seconds=0.0, generated=0, rouge=[]))
            d["seconds"] += r["seconds"]
            d["generated"] += r["generated"]
            d["rouge"].append(rl)
        rows[label] = agg
    base = rows["ar-big"]
    base_tps = base["generated"] / base["seconds"]
    base_rouge = sum(base["rouge"]) / len(base["rouge"])
    out = []
    for label in labels:
        a = rows[label]
        tps = a["generated"] / a["seconds"]
        rouge = sum(a["rouge"]) / len(a["rouge"])
        doms = {}
        for dname, d in a["domains"].items():
            bd = base["domains"][dname]
            doms[dname] = dict(
                tok_per_s=d["generated"] / d["seconds"],
                speedup=(d["generated"] / d["seconds"]) / (bd["generated"] / bd["seconds"]),
                rouge_l=sum(d["rouge"]) / len(d["rouge"]))
        out.append(dict(
            label=label, mode=cfg[label]["mode"], alpha_fb=cfg[label]["alpha_fb"],
            alpha_rb=cfg[label]["alpha_rb"], draft_max=cfg[label]["draft_max"],
            tok_per_s=tps, speedup=tps / base_tps, rouge_l=rouge,
            rouge_l_rel_loss=(base_rouge - rouge) / base_rouge if base_rouge else 0.0,
            agreement=sum(a["agree"]) / len(a["agree"]),
            acceptance=a["accepted"] / a["drafted"] if a["drafted"] else None,
            fallback_rate=a["fallbacks"] / a["rounds"] if a["rounds"] else None,
            rollback_rate=a["rollbacks"] / a["rounds"] if a["rounds"] else None,
            mean_accepted_length=a["accepted"] / a["rounds"] if a["rounds"] else None,
            big_calls_per_token=a["big_calls"] / a["generated"],
            little_calls_per_token=a["little_calls"] / a["generated"],
            big_seconds=a["big_seconds"], little_seconds=a["little_seconds"],
            generated=a["generated"], domains=doms))
    return out


def plot(summary, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available; no PNG", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in summary:
        color = {"ar": "black", "spec": "tab:blue", "bild": "tab:red"}[s["mode"]]
        ax.scatter(s["speedup"], s["rouge_l"], color=color)
        ax.annotate(s["label"], (s["speedup"], s["rouge_l"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("speed-up over ar big (tokens/s ratio, same run)")
    ax.set_ylabel("ROUGE-L F vs true continuation")
    ax.set_title("demo pair: speed-up vs quality (greedy)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main():
    path = sys.argv[1]
    doc = json.load(open(path))
    summary = summarise(doc)
    stem = path[:-5] if path.endswith(".json") else path
    json.dump(dict(command=doc.get("command"), source=path, prompts=len(doc["prompts"]),
                   gen_tokens=doc["gen_tokens"], threads=doc.get("threads"),
                   results=summary), open(stem + "-summary.json", "w"), indent=1)
    print(f"{'config':<16}{'tok/s':>8}{'speedup':>9}{'ROUGE-L':>9}{'loss%':>7}{'agree':>7}"
          f"{'accept':>8}{'fb/rnd':>8}{'rb/rnd':>8}{'big/tok':>8}")
    for s in summary:
        f = lambda v: f"{v:8.3f}" if v is not None else f"{'-':>8}"
        print(f"{s['label']:<16}{s['tok_per_s']:8.1f}{s['speedup']:9.2f}{s['rouge_l']:9.4f}"
              f"{100 * s['rouge_l_rel_loss']:7.2f}{s['agreement']:7.3f}{f(s['acceptance'])}"
              f"{f(s['fallback_rate'])}{f(s['rollback_rate'])}{s['big_calls_per_token']:8.3f}")
    plot(summary, stem + ".png")


if __name__ == "__main__":
    main()
