#!/usr/bin/env python3
"""Checks issue 7's targets for every learned policy in a `tandem router eval --json` report.

  router_targets.py REPORT.json [--markdown]

For each policy whose name starts with "learned": the >=96 % window share pooled over all
workloads, pooled over the workloads of each shift ("arrival": the arrival-pattern shift,
"task-mix": the task-mix shift), and per workload, each as a multiple of fixed:quality's (the
first policy), the max rate
at >=99 % availability as a multiple of fixed:quality's, whether it is no worse than the queue
heuristic on availability and the >=96 % share on every workload (and better on one), and the
workloads where a static policy beats it on both availability and the >=96 % share.
Then, per workload, whether 2x fixed:quality's >=96 % share is attainable at all: the
report's ceiling (ceiling_96 in src/tandem/router/eval.h: no policy holds more windows).
"""
import json
import sys


def ratio(a, b):
    if b > 0:
        return "%.2fx" % (a / b)
    return "inf" if a > 0 else "0/0"


def share_96(cells, policy, workloads):
    """Share of the windows of `workloads` (pooled) at >= 96 % of peak."""
    wins = [w for name in workloads for w in cells[(policy, name)]["windows"]]
    return sum(w["quality_frac"] >= 0.96 for w in wins) / len(wins) if wins else 0.0


def main():
    d = json.load(open(sys.argv[1]))
    md = "--markdown" in sys.argv
    pols = d["policies"]
    ref = pols[0]
    queue = next(p for p in pols if p.startswith("queue:"))
    statics = [p for p in pols if not p.startswith("learned")]
    pooled = {x["policy"]: x["windows_96"] for x in d["pooled_windows"]}
    rate = dict(zip(pols, d["max_rate_rps"]))
    cells = {(c["policy"], c["workload"]): c for c in d["cells"]}
    workloads = []
    for c in d["cells"]:
        if c["workload"] not in workloads:
            workloads.append(c["workload"])
    shifts = {}
    for c in d["cells"]:
        if c["policy"] == ref and c["shift"] != "none":
            shifts.setdefault(c["shift"], []).append(c["workload"])
    head = ["policy", ">=96 pooled (x ref)"] + ["%s shift >=96 (x ref)" % s for s in shifts] + [
        "%s >=96 (x ref)" % w for w in workloads] + [
        "max rate (x ref)", "vs queue", "beaten on both by"]
    rows = []
    for p in pols:
        if not p.startswith("learned"):
            continue
        row = [p, "%.1f%% (%s)" % (100 * pooled[p], ratio(pooled[p], pooled[ref]))]
        for names in shifts.values():
            a, b = share_96(cells, p, names), share_96(cells, ref, names)
            row.append("%.1f%% (%s)" % (100 * a, ratio(a, b)))
        for w in workloads:
            a, b = cells[(p, w)]["windows_96"], cells[(ref, w)]["windows_96"]
            row.append("%.1f%% (%s)" % (100 * a, ratio(a, b)))
        row.append("%.2f (%s)" % (rate[p], ratio(rate[p], rate[ref])))
        worse = better = False
        for w in workloads:
            l, q = cells[(p, w)], cells[(queue, w)]
            worse |= l["availability"] < q["availability"] or l["windows_96"] < q["windows_96"]
            better |= l["availability"] > q["availability"] or l["windows_96"] > q["windows_96"]
        row.append("worse somewhere" if worse else ("better" if better else "equal"))
        beaten = []
        for w in workloads:
            l = cells[(p, w)]
            for s in statics:
                c = cells[(s, w)]
                if c["availability"] > l["availability"] and c["windows_96"] > l["windows_96"]:
                    beaten.append("%s on %s" % (s, w))
        row.append(", ".join(beaten) if beaten else "none")
        rows.append(row)
    ceil = {c["workload"]: c["windows_96"] for c in d.get("ceilings_96", [])}
    learned = [p for p in pols if p.startswith("learned")]
    chead = ["workload", "fixed:quality >=96", "2x that", "ceiling (any policy)", "2x attainable",
             "%s >=96" % (learned[0] if learned else "-")]
    crows = []
    for w in workloads if ceil else []:
        ref_w = cells[(ref, w)]["windows_96"]
        crows.append([w, "%.1f%%" % (100 * ref_w), "%.1f%%" % (200 * ref_w), "%.1f%%" % (100 * ceil[w]),
                      "yes" if 2 * ref_w <= ceil[w] + 1e-9 else "no",
                      "%.1f%%" % (100 * cells[(learned[0], w)]["windows_96"]) if learned else "-"])
    for h, rs in ((head, rows), (chead, crows)):
        if not rs:
            continue
        if md:
            print("| " + " | ".join(h) + " |")
            print("|" + "---|" * len(h))
            for r in rs:
                print("| " + " | ".join(r) + " |")
            print()
        else:
            for r in rs:
                print("; ".join("%s: %s" % (a, v) for a, v in zip(h, r)))


if __name__ == "__main__":
    main()
