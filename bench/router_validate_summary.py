"""Summarises a bench/router_validate.sh results folder: per pair, live against
simulated (profile before / after / their mean) attainment and mean latency, as
JSON on stdout and one line per pair on stderr.

    python3 bench/router_validate_summary.py /tmp/val > summary.json
"""
import json, re, sys
R = sys.argv[1]
pairs = ["q6", "q15", "e6", "e15", "l6", "l15"]
out = []
for i, tag in enumerate(pairs):
    live = json.load(open(f"{R}/{tag}.live.json"))["summary"]
    row = {"tag": tag, "live": {"attainment_pct": round(100 * live["goodput"]["attainment"], 2),
                                 "mean_latency_ms": round(live["latency_ms"]["mean"], 1),
                                 "outcomes": {k: v for k, v in live["outcomes"].items() if v},
                                 "tiers": live.get("tiers")}}
    sims = []
    for p in (f"p{i}", f"p{i + 1}"):
        txt = open(f"{R}/{tag}.sim_{p}.txt").read()
        m = re.search(r"availability ([\d.]+)%.*?mean latency ([\d.]+) s", txt)
        sims.append({"profile": p, "attainment_pct": float(m.group(1)), "mean_latency_ms": round(1000 * float(m.group(2)), 1),
                     "line": m.group(0)})
    row["sim"] = sims
    def rel(a, b):
        return None if b == 0 else round(100 * (a - b) / b, 1)
    la, ll = row["live"]["attainment_pct"], row["live"]["mean_latency_ms"]
    ma = sum(s["attainment_pct"] for s in sims) / 2
    ml = sum(s["mean_latency_ms"] for s in sims) / 2
    row["sim_vs_live_pct"] = {
        "attainment_before_after_mean": [rel(sims[0]["attainment_pct"], la), rel(sims[1]["attainment_pct"], la), rel(ma, la)],
        "mean_latency_before_after_mean": [rel(sims[0]["mean_latency_ms"], ll), rel(sims[1]["mean_latency_ms"], ll), rel(ml, ll)]}
    out.append(row)
print(json.dumps(out, indent=1))
for r in out:
    print(r["tag"], "att", r["live"]["attainment_pct"], r["sim_vs_live_pct"]["attainment_before_after_mean"],
          "lat", r["live"]["mean_latency_ms"], r["sim_vs_live_pct"]["mean_latency_before_after_mean"], file=sys.stderr)
