#!/usr/bin/python3
"""Plot a `tandem loadgen --json` report over time.

Usage: loadgen_plot.py REPORT.json OUT.png

Five panels sharing the time axis, one point per report window:
  1. request rates: arrivals, ok throughput, goodput (req/s)
  2. output tokens/s
  3. end-to-end latency p50/p90/p99 and TTFT p50 (ms, log scale)
  4. outcomes other than ok, stacked (requests per window)
  5. tier mix of ok requests, stacked (share of the window's ok requests)
Needs matplotlib (Debian python3-matplotlib; run with /usr/bin/python3).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def series(windows, *keys):
    out = []
    for w in windows:
        v = w
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        out.append(float("nan") if v is None else v)
    return out


def steps(ax, windows, vals, **kw):
    """Piecewise-constant over each window [t0, t1)."""
    if not windows:
        return
    x = [w["t0"] for w in windows] + [windows[-1]["t1"]]
    ax.plot(x, vals + vals[-1:], drawstyle="steps-post", **kw)


def stacked(ax, x, width, windows, key, normalise=False):
    names = sorted({k for w in windows for k in w.get(key, {})})
    bottom = [0.0] * len(windows)
    for name in names:
        vals = [w.get(key, {}).get(name, 0) for w in windows]
        if normalise:
            vals = [v / max(1, sum(w.get(key, {}).values())) for v, w in zip(vals, windows)]
        ax.bar(x, vals, width=width, bottom=bottom, align="edge", label=name)
        bottom = [b + v for b, v in zip(bottom, vals)]
    if names:
        ax.legend(loc="upper right", fontsize="small", ncol=min(4, len(names)))
    else:
        ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center", va="center")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        rep = json.load(f)
    windows = rep["windows"]
    t0 = [w["t0"] for w in windows]
    mid = [(w["t0"] + w["t1"]) / 2 for w in windows]
    width = (windows[0]["t1"] - windows[0]["t0"]) if windows else 1

    fig, axes = plt.subplots(5, 1, figsize=(11, 14), sharex=True)
    title = rep.get("config", {}).get("workload", "")
    s = rep["summary"]
    fig.suptitle(
        f"tandem loadgen: {title}\n"
        f"ok {s['throughput_rps']:.2f} req/s, goodput {s['goodput']['goodput_rps']:.2f} req/s, "
        f"{s['output_tokens_per_s']:.1f} tok/s, p99 latency "
        f"{s['latency_ms']['p99'] if s['latency_ms']['p99'] is not None else float('nan'):.0f} ms")

    ax = axes[0]
    steps(ax, windows, series(windows, "arrival_rps"), label="arrivals")
    steps(ax, windows, series(windows, "throughput_rps"), label="ok")
    steps(ax, windows, series(windows, "goodput_rps"), label="goodput (ok within deadline)",
          linestyle="--")
    ax.set_ylabel("req/s")
    ax.legend(loc="upper right", fontsize="small")

    ax = axes[1]
    steps(ax, windows, series(windows, "output_tokens_per_s"))
    ax.set_ylabel("output tok/s")

    ax = axes[2]
    for p in ("p50", "p90", "p99"):
        ax.plot(mid, series(windows, "latency_ms", p), marker=".", label=f"latency {p}")
    ax.plot(mid, series(windows, "ttft_ms", "p50"), marker=".", linestyle="--", label="TTFT p50")
    ax.set_ylabel("ms")
    if any(v == v and v > 0 for v in series(windows, "latency_ms", "p99")):
        ax.set_yscale("log")
    ax.legend(loc="upper right", fontsize="small")

    ax = axes[3]
    errs = [{k: v for k, v in w.get("outcomes", {}).items() if k != "ok"} for w in windows]
    stacked(ax, t0, width, [{"e": e} for e in errs], "e")
    ax.set_ylabel("errors / window")

    ax = axes[4]
    stacked(ax, t0, width, windows, "tiers", normalise=True)
    ax.set_ylabel("tier share (ok)")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time since start (s)")

    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=90)


if __name__ == "__main__":
    main()
