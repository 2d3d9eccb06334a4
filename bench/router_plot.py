#!/usr/bin/env python3
"""Plots for `tandem router train/eval --plot` (the C++ side writes the JSON).

  router_plot.py curve CURVE.json OUT.png   learning curve: reward, availability,
                                            quality % of peak, epsilon per episode
  router_plot.py eval REPORT.json OUT.png   per held-out workload: quality % of peak,
                                            mean latency and the learned policy's tier
                                            mix over time, and a bar chart of the metrics
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curve(src, out):
    d = json.load(open(src))
    c = d["curve"]
    ep = [x["episode"] for x in c]
    seeds = d.get("seeds", [])
    validated = any(s.get("checkpoints") for s in seeds)
    fig, ax = plt.subplots(1, 3 if validated else 2, figsize=(16.5 if validated else 11, 4))
    def smooth(v, k=25):  # trailing mean over k episodes
        out, acc = [], 0.0
        for i, x in enumerate(v):
            acc += x - (v[i - k] if i >= k else 0)
            out.append(acc / min(i + 1, k))
        return out

    reward = [x["mean_reward"] for x in c]
    ax[0].plot(ep, reward, color="C0", alpha=0.2, lw=0.6)
    ax[0].plot(ep, smooth(reward), color="C0", label="mean reward (25-episode mean)")
    ax[0].plot(ep, [x["epsilon"] for x in c], "--", color="C1", label="epsilon")
    ax[0].set_xlabel("episode")
    ax[0].legend()
    ax[0].set_title("reward")
    for key, name, col in (("availability", "availability %", "C0"),
                           ("quality_frac", "quality % of peak", "C1")):
        v = [100 * x[key] for x in c]
        ax[1].plot(ep, v, color=col, alpha=0.2, lw=0.6)
        ax[1].plot(ep, smooth(v), color=col, label=name + " (25-episode mean)")
    ax[1].set_xlabel("episode")
    ax[1].legend()
    ax[1].set_title("training episodes (random load each; selected seed)")
    if validated:
        for s in seeds:
            cp = s.get("checkpoints", [])
            style = "-" if s.get("selected") else ":"
            ax[2].plot([x["episode"] + 1 for x in cp], [x["score"] for x in cp], style,
                       label="seed %d%s" % (s["seed"], " (selected)" if s.get("selected") else ""))
            if "best_episode" in s:
                ax[2].plot([s["best_episode"] + 1], [s["best"]["score"]], "o", color="black")
        ax[2].axhline(2.55, color="grey", lw=0.5)
        ax[2].set_xlabel("episode")
        ax[2].set_ylabel("selection score (validation seed)")
        ax[2].set_title("greedy policy on the validation workloads (dot: kept)")
        ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def short(policy):
    """learned:dir/name.json -> learned:name (several learned policies stay apart)."""
    if policy.startswith("learned:"):
        return "learned:" + policy.split("/")[-1].removesuffix(".json")
    return policy


def evaluate(src, out):
    d = json.load(open(src))
    cells = d["cells"]
    workloads = []
    for c in cells:
        if c["workload"] not in workloads:
            workloads.append(c["workload"])
    policies = d["policies"]
    learned = [p for p in policies if p.startswith("learned")]
    focus = learned[0] if learned else policies[-1]
    fig, ax = plt.subplots(4, len(workloads), figsize=(4.2 * len(workloads), 12), squeeze=False)
    for j, w in enumerate(workloads):
        for c in cells:
            if c["workload"] != w:
                continue
            t = [x["t"] for x in c["windows"]]
            ax[0][j].plot(t, [100 * x["quality_frac"] for x in c["windows"]], label=short(c["policy"]))
            ax[1][j].plot(t, [x["mean_latency_s"] for x in c["windows"]], label=short(c["policy"]))
            if c["policy"] == focus:
                names = d["tiers"] + ["rejected"]
                counts = [x["tier_counts"] for x in c["windows"]]
                bottom = [0] * len(t)
                for k, n in enumerate(names):
                    v = [cc[k] for cc in counts]
                    ax[2][j].bar(t, v, width=8, bottom=bottom, label=n)
                    bottom = [a + b for a, b in zip(bottom, v)]
        ax[0][j].set_title(f"{w}: quality % of peak")
        ax[0][j].axhline(96, color="grey", lw=0.5)
        ax[1][j].set_title("mean latency (s)")
        ax[2][j].set_title(f"tier mix of {short(focus)[:34]}")
        ax[2][j].set_xlabel("t (s)")
        xs = range(len(policies))
        for k, key in enumerate(["availability", "windows_96"]):
            vals = [100 * next(c[key] for c in cells if c["workload"] == w and c["policy"] == p)
                    for p in policies]
            ax[3][j].bar([x + 0.4 * k for x in xs], vals, width=0.4, label=key)
        ax[3][j].set_xticks([x + 0.2 for x in xs])
        ax[3][j].set_xticklabels([short(p)[:26] for p in policies], rotation=60, fontsize=7)
        ax[3][j].set_title("availability / windows >=96 % (%)")
    ax[0][0].legend(fontsize=6)
    ax[2][0].legend(fontsize=6)
    ax[3][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("curve", "eval"):
        sys.exit(__doc__)
    (curve if sys.argv[1] == "curve" else evaluate)(sys.argv[2], sys.argv[3])
