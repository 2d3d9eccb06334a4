#!/usr/bin/python3
"""Scores and plots the speculative-decoding benchmark, and projects it to real sizes.

Usage (the exact commands of a recorded run are in its JSON and summary):
  B=build-b/src/cli/tandem
  $B bench -m models/big-q8_0.gguf -d models/little-aligned-q8_0.gguf --prompts bench/prompts \
      --per-domain 60 -n 64 -t 2 [--grid ...] [--temperature 0.8 --sampling-grid ...] \
      --json bench/results/speculative.json
  (or in shards over slices of the prompt files, each run with its own --prompts DIR, then
   bench/speculative.py merge bench/results/speculative.json SHARD1.json SHARD2.json ...
   where shard s holds lines 15(s-1)+1..15s of every domain's file -- --shard-size)
  $B bench -m models/big-q8_0.gguf -d models/little-aligned-q8_0.gguf --costs 11 -t 2 \
      --json bench/results/speculative-costs-demo.json
  $B bench -m bench/models/synth-llama-3.2-1b-q8_0.gguf -d bench/models/synth-llama-110m-q8_0.gguf \
      --costs 11 -t 2 --json bench/results/speculative-costs-1b.json
  /usr/bin/python3 bench/speculative.py bench/results/speculative.json \
      --demo-costs bench/results/speculative-costs-demo.json \
      --costs bench/results/speculative-costs-1b.json

Reads the per-prompt runs `tandem bench -d` wrote. For every configuration:
  * tokens/s of the generation phase (generated tokens over the time after the prefill
    phase, summed over prompts) -- the speed-ups use this -- and end-to-end tokens/s
    (prefill included) next to it, each over the configuration's baseline (ar big,
    greedy or sampling at the same temperature) measured in the same run;
  * ROUGE-L F1 (own implementation: LCS over whitespace-separated words) of the generated
    text against the true continuation cut to as many words as the baseline produced (the
    same reference for every configuration of a prompt), and its loss relative to the
    baseline's, with a 95 % paired bootstrap interval over prompts;
  * agreement with the baseline's tokens (share of positions with the same token);
  * acceptance, fallback and rollback rates, big/little calls per token.
Projection (--costs): a forward-cost table of another model pair (tandem bench --costs)
priced with this run's own generation-phase forwards (how many big/little forwards of each
size every configuration made): projected time = sum over forwards of cost(size). With
--demo-costs (the demo pair's own table) the same arithmetic is checked against the speed-ups
measured here. Writes <json>-summary.json and a speed-up vs quality PNG.
"""
import argparse
import json
import random
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


def cost_of(table, k):
    """ms of a forward of k tokens; linear beyond the measured range."""
    ks = sorted(int(x) for x in table)
    if str(k) in table:
        return table[str(k)]
    hi, lo = ks[-1], ks[-2]
    return table[str(hi)] + (k - hi) * (table[str(hi)] - table[str(lo)]) / (hi - lo)


def priced_ms(runs, costs):
    """Generation-phase ms of these runs if every forward cost what `costs` says."""
    ms = 0.0
    for r in runs:
        for role in ("big", "little"):
            for k, n in r[f"{role}_call_sizes"].items():
                ms += n * cost_of(costs[role]["ms_median"], int(k))
    return ms


def bootstrap(values_a, values_b, n=2000, seed=1):
    """95 % interval of the relative loss (mean b - mean a) / mean b over resampled prompts."""
    rng = random.Random(seed)
    m = len(values_a)
    out = []
    for _ in range(n):
        idx = [rng.randrange(m) for _ in range(m)]
        sa = sum(values_a[i] for i in idx)
        sb = sum(values_b[i] for i in idx)
        out.append((sb - sa) / sb if sb else 0.0)
    out.sort()
    return out[int(0.025 * n)], out[int(0.975 * n)]


def summarise(doc):
    labels = [c["label"] for c in doc["configs"]]
    cfg = {c["label"]: c for c in doc["configs"]}
    prompts = doc["prompts"]
    per = {}  # label -> per-prompt rouge list
    rows = {}
    for label in labels:
        base = cfg[label].get("baseline", "ar-big")
        agg = dict(seconds=0.0, gen_seconds=0.0, prefill_seconds=0.0, big_seconds=0.0,
                   little_seconds=0.0, generated=0, drafted=0, accepted=0, rounds=0, fallbacks=0,
                   rollbacks=0, big_calls=0, little_calls=0, big_gen_calls=0, little_gen_calls=0,
                   big_gen_tokens=0, rouge=[], agree=[], domains={})
        for p in prompts:
            r = p["runs"][label]
            for k in ("seconds", "gen_seconds", "prefill_seconds", "big_seconds",
                      "little_seconds", "generated", "drafted", "accepted", "rounds",
                      "fallbacks", "rollbacks", "big_calls", "little_calls"):
                agg[k] += r[k]
            agg["big_gen_calls"] += sum(r["big_call_sizes"].values())
            agg["little_gen_calls"] += sum(r["little_call_sizes"].values())
            agg["big_gen_tokens"] += sum(int(k) * n for k, n in r["big_call_sizes"].items())
            # The reference: the continuation cut to as many words as the baseline wrote.
            ref_words = len(p["runs"][base]["text"].split())
            ref = " ".join(p["continuation"].split()[:max(ref_words, 1)])
            rl = rouge_l(r["text"], ref)
            agg["rouge"].append(rl)
            agg["agree"].append(agreement(r["tokens"], p["runs"][base]["tokens"]))
            d = agg["domains"].setdefault(p["domain"], dict(gen_seconds=0.0, generated=0, rouge=[]))
            d["gen_seconds"] += r["gen_seconds"]
            d["generated"] += r["generated"]
            d["rouge"].append(rl)
        rows[label] = agg
        per[label] = agg["rouge"]
    out = []
    for label in labels:
        a = rows[label]
        base = cfg[label].get("baseline", "ar-big")
        b = rows[base]
        tps = a["generated"] / a["gen_seconds"]
        e2e = a["generated"] / a["seconds"]
        btps = b["generated"] / b["gen_seconds"]
        be2e = b["generated"] / b["seconds"]
        rouge = sum(a["rouge"]) / len(a["rouge"])
        brouge = sum(b["rouge"]) / len(b["rouge"])
        lo, hi = bootstrap(per[label], per[base]) if label != base else (0.0, 0.0)
        doms = {}
        for dname, d in a["domains"].items():
            bd = b["domains"][dname]
            br = sum(bd["rouge"]) / len(bd["rouge"])
            dr = sum(d["rouge"]) / len(d["rouge"])
            doms[dname] = dict(
                tok_per_s=d["generated"] / d["gen_seconds"],
                speedup=(d["generated"] / d["gen_seconds"]) / (bd["generated"] / bd["gen_seconds"]),
                rouge_l=dr, rouge_l_rel_loss=(br - dr) / br if br else 0.0)
        c = cfg[label]
        out.append(dict(
            label=label, baseline=base, mode=c["mode"], model=c.get("model", "big"),
            temperature=c.get("temperature", 0.0), alpha_fb=c["alpha_fb"],
            alpha_rb=c["alpha_rb"], draft_max=c["draft_max"],
            tok_per_s=tps, speedup=tps / btps, tok_per_s_e2e=e2e, speedup_e2e=e2e / be2e,
            rouge_l=rouge, rouge_l_rel_loss=(brouge - rouge) / brouge if brouge else 0.0,
            rouge_l_rel_loss_ci95=[lo, hi],
            agreement=sum(a["agree"]) / len(a["agree"]),
            acceptance=a["accepted"] / a["drafted"] if a["drafted"] else None,
            fallback_rate=a["fallbacks"] / a["rounds"] if a["rounds"] else None,
            rollback_rate=a["rollbacks"] / a["rounds"] if a["rounds"] else None,
            mean_accepted_length=a["accepted"] / a["rounds"] if a["rounds"] else None,
            big_calls_per_token=a["big_gen_calls"] / a["generated"],
            little_calls_per_token=a["little_gen_calls"] / a["generated"],
            tokens_per_big_call=(a["big_gen_tokens"] / a["big_gen_calls"]
                                 if a["big_gen_calls"] else None),
            prefill_seconds=a["prefill_seconds"], gen_seconds=a["gen_seconds"],
            big_seconds=a["big_seconds"], little_seconds=a["little_seconds"],
            generated=a["generated"], domains=doms))
    return out


def project(doc, costs, summary, measured=None):
    """Projected generation-phase speed-ups under another pair's cost table."""
    cfg = {c["label"]: c for c in doc["configs"]}
    ms = {}
    gen = {}
    for label in cfg:
        runs = [p["runs"][label] for p in doc["prompts"]]
        ms[label] = priced_ms(runs, costs)
        gen[label] = sum(r["generated"] for r in runs)
    out = []
    for s in summary:
        label, base = s["label"], s["baseline"]
        if ms[label] == 0:
            continue
        tps = gen[label] / (ms[label] / 1e3)
        btps = gen[base] / (ms[base] / 1e3)
        row = dict(label=label, projected_tok_per_s=tps, projected_speedup=tps / btps,
                   rouge_l_rel_loss=s["rouge_l_rel_loss"])
        if measured:
            row["measured_speedup"] = s["speedup"]
        out.append(row)
    c1 = costs["big"]["ms_median"]["1"] / costs["little"]["ms_median"]["1"]
    return dict(
        big=costs["big"]["model"], little=costs["little"]["model"],
        big_ms=costs["big"]["ms_median"], little_ms=costs["little"]["ms_median"],
        cost_ratio_little_over_big_1_token=1 / c1, context=costs["big"]["context"], rows=out)


def plot(summary, target, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available; no PNG", file=sys.stderr)
        return False
    groups = [g for g in (False, True) if any((s["temperature"] > 0) == g for s in summary)]
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), 4.8), squeeze=False)
    for ax, sampled in zip(axes[0], groups):
        rows = [s for s in summary if (s["temperature"] > 0) == sampled]
        # ar little is far off to the right: named in the corner instead of plotted.
        off = [s for s in rows if s["mode"] == "ar" and s["model"] == "little"]
        rows = [s for s in rows if s not in off]
        for s in off:
            ax.text(0.98, 0.02, f"{s['label']}: {s['speedup']:.1f}x, loss "
                    f"{100 * s['rouge_l_rel_loss']:.1f} % (off the plot)", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7)
        for s in rows:
            color = {"ar": "black", "spec": "tab:blue", "bild": "tab:red"}[s["mode"]]
            ax.scatter(s["speedup"], 100 * s["rouge_l_rel_loss"], color=color)
            lo, hi = s["rouge_l_rel_loss_ci95"]
            ax.plot([s["speedup"]] * 2, [100 * lo, 100 * hi], color=color, alpha=0.3)
            ax.annotate(s["label"].split("@")[0], (s["speedup"], 100 * s["rouge_l_rel_loss"]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axhline(2, color="gray", ls="--", lw=0.8)
        ax.axvline(target, color="gray", ls="--", lw=0.8)
        ax.set_xlabel("speed-up over ar big (generation-phase tokens/s, same run)")
        ax.set_ylabel("ROUGE-L loss vs ar big, % (lower is better; bars: 95 % CI)")
        ax.set_title("greedy" if not sampled else
                     f"sampling, T = {rows[0]['temperature']:g} (vs ar big sampling)")
        ax.grid(alpha=0.3)
    fig.suptitle("demo pair (27M big / 2.6M little, Q8_0): speed-up vs quality")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def merge(argv):
    """merge OUT SHARD... [--shard-size N]: one benchmark run in shards over consecutive
    slices of every domain's prompts (shard s holds prompts N*s .. N*(s+1)-1)."""
    ap = argparse.ArgumentParser(prog="speculative.py merge")
    ap.add_argument("out")
    ap.add_argument("shards", nargs="+")
    ap.add_argument("--shard-size", type=int, default=15)
    a = ap.parse_args(argv)
    out = None
    for s, path in enumerate(a.shards):
        d = json.load(open(path))
        for p in d["prompts"]:
            p["index"] += a.shard_size * s
        if out is None:
            out = d
            out["shard_commands"] = [d["command"]]
        else:
            if [c["label"] for c in d["configs"]] != [c["label"] for c in out["configs"]]:
                raise SystemExit(f"{path}: other configurations than {a.shards[0]}")
            out["prompts"] += d["prompts"]
            out["shard_commands"].append(d["command"])
    out["prompts"].sort(key=lambda p: (p["domain"], p["index"]))
    json.dump(out, open(a.out, "w"))
    print(f"{a.out}: {len(out['prompts'])} prompts")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "merge":
        return merge(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--costs", help="cost table of the pair to project to (tandem bench --costs)")
    ap.add_argument("--demo-costs", help="cost table of the benchmarked pair (checks the method)")
    ap.add_argument("--note", help="measurement conditions, recorded in the summary")
    a = ap.parse_args()
    doc = json.load(open(a.json))
    summary = summarise(doc)
    stem = a.json[:-5] if a.json.endswith(".json") else a.json
    result = dict(command=doc.get("shard_commands") or doc.get("command"), note=a.note,
                  source=a.json, prompts=len(doc["prompts"]),
                  gen_tokens=doc["gen_tokens"], threads=doc.get("threads"),
                  big=doc["big"], little=doc["little"],
                  speed="tok_per_s/speedup: generation phase (after prefill); *_e2e: prefill "
                        "included; both over the row's baseline in the same run",
                  results=summary)
    if a.demo_costs:
        result["projection_check_demo_pair"] = project(doc, json.load(open(a.demo_costs)),
                                                       summary, measured=True)
    if a.costs:
        p = project(doc, json.load(open(a.costs)), summary)
        p["label"] = ("PROJECTION, not a measurement: this run's per-configuration forward "
                      "counts and sizes priced with the forward costs measured for the pair "
                      "above; strategy overhead outside forwards ignored")
        result["projection"] = p
    json.dump(result, open(stem + "-summary.json", "w"), indent=1)

    f = lambda v: f"{v:7.3f}" if v is not None else f"{'-':>7}"
    print(f"{'config':<22}{'tok/s':>7}{'speedup':>8}{'e2e t/s':>8}{'e2e x':>7}{'ROUGE-L':>8}"
          f"{'loss%':>7}{'95% CI':>15}{'agree':>7}{'accept':>7}{'fb/rnd':>7}{'rb/rnd':>7}"
          f"{'big/tok':>8}{'tok/big':>8}")
    for s in summary:
        lo, hi = s["rouge_l_rel_loss_ci95"]
        print(f"{s['label']:<22}{s['tok_per_s']:7.1f}{s['speedup']:8.2f}{s['tok_per_s_e2e']:8.1f}"
              f"{s['speedup_e2e']:7.2f}{s['rouge_l']:8.4f}{100 * s['rouge_l_rel_loss']:7.2f}"
              f"{f'[{100 * lo:.1f},{100 * hi:.1f}]':>15}{s['agreement']:7.3f}{f(s['acceptance'])}"
              f"{f(s['fallback_rate'])}{f(s['rollback_rate'])}{s['big_calls_per_token']:8.3f}"
              f"{f(s['tokens_per_big_call'])}")
    for key in ("projection_check_demo_pair", "projection"):
        if key not in result:
            continue
        p = result[key]
        print(f"\n{key}: big {p['big']} / little {p['little']}; little/big cost of one token "
              f"{p['cost_ratio_little_over_big_1_token']:.3f}")
        if "label" in p:
            print(p["label"])
        for r in p["rows"]:
            extra = f"  measured {r['measured_speedup']:.2f}" if "measured_speedup" in r else ""
            print(f"  {r['label']:<22} projected speed-up {r['projected_speedup']:.2f}{extra}")
    plot(summary, 1.6, stem + ".png")


if __name__ == "__main__":
    main()
