#!/usr/bin/python3
"""Request-by-request comparison of a live run and its simulation (issue 7's check).

    router_pairs.py LIVE.json SIM.jsonl

LIVE.json: `tandem loadgen --trace T --json LIVE.json --json-requests` against
`tandem serve`; SIM.jsonl: `tandem router sim --arrival trace:T --requests-json SIM.jsonl`
with the same policy. Both list the trace's requests by index, so each request's
live latency can be set beside its simulated one. Prints the attainment and mean
latency of both, then for requests answered in both: the live/simulated latency
ratio overall, by prompt-length tercile and by part of the run, and how many
requests met their deadline on one side only, with how close the other side came.
A mean-latency agreement can hide opposite errors; these lines show where the
simulator is off.
"""
import json
import statistics
import sys


def load(live_path, sim_path):
    live = {r["index"]: r for r in json.load(open(live_path))["requests"]}
    sim = {}
    for line in open(sim_path):
        r = json.loads(line)
        sim[r["id"]] = r
    return live, sim


def live_good(r):
    d = r.get("deadline_ms") or 0
    return r["outcome"] == "ok" and (d <= 0 or r["latency_ms"] <= d)


def sim_good(r):
    return r["outcome"] == "on_time"


def ratio_line(label, pairs):
    if not pairs:
        return f"  {label:<24} -"
    q = sorted(l / s for l, s in pairs)
    mean_l = statistics.fmean(l for l, _ in pairs)
    mean_s = statistics.fmean(s for _, s in pairs)
    return (f"  {label:<24} n={len(pairs):4d}  live/sim median {q[len(q) // 2]:.2f} "
            f"(p10 {q[len(q) // 10]:.2f}, p90 {q[9 * len(q) // 10]:.2f}); "
            f"means {mean_l:.0f} / {mean_s:.0f} ms")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    live, sim = load(sys.argv[1], sys.argv[2])
    ids = sorted(set(live) & set(sim))
    if not ids:
        sys.exit("no request index appears in both files: are they from the same trace?")
    if len(ids) != len(live) or len(ids) != len(sim):
        print(f"warning: {len(live)} live and {len(sim)} simulated requests, {len(ids)} in both")
    good_l = sum(live_good(live[i]) for i in ids)
    good_s = sum(sim_good(sim[i]) for i in ids)
    ans_l = [live[i]["latency_ms"] for i in ids if live[i]["outcome"] == "ok"]
    ans_s = [sim[i]["latency_ms"] for i in ids if sim[i]["latency_ms"] is not None]
    print(f"requests {len(ids)}: attainment live {100 * good_l / len(ids):.1f} %, "
          f"sim {100 * good_s / len(ids):.1f} %")
    if ans_l and ans_s:
        print(f"mean latency of answered: live {statistics.fmean(ans_l):.0f} ms "
              f"({len(ans_l)}), sim {statistics.fmean(ans_s):.0f} ms ({len(ans_s)})")

    both = [i for i in ids if live[i]["outcome"] == "ok" and sim[i]["latency_ms"] is not None]
    print("answered in both:")
    print(ratio_line("all", [(live[i]["latency_ms"], sim[i]["latency_ms"]) for i in both]))
    by_prompt = sorted(both, key=lambda i: sim[i]["prompt_tokens"])
    for k, name in enumerate(("short prompts", "medium prompts", "long prompts")):
        part = by_prompt[k * len(by_prompt) // 3:(k + 1) * len(by_prompt) // 3]
        print(ratio_line(name, [(live[i]["latency_ms"], sim[i]["latency_ms"]) for i in part]))
    by_time = sorted(both, key=lambda i: sim[i]["t"])
    for k, name in enumerate(("first third of the run", "second third", "last third")):
        part = by_time[k * len(by_time) // 3:(k + 1) * len(by_time) // 3]
        print(ratio_line(name, [(live[i]["latency_ms"], sim[i]["latency_ms"]) for i in part]))

    only_s = [i for i in ids if sim_good(sim[i]) and not live_good(live[i])]
    only_l = [i for i in ids if live_good(live[i]) and not sim_good(sim[i])]

    def margin(i):  # simulated latency as a fraction of the deadline
        d = sim[i]["deadline_ms"]
        return sim[i]["latency_ms"] / d if d and sim[i]["latency_ms"] is not None else None

    print(f"on time in the simulation only: {len(only_s)}; live only: {len(only_l)}")
    m = sorted(x for x in map(margin, only_s) if x is not None)
    if m:
        print(f"  sim-only: simulated latency / deadline median {m[len(m) // 2]:.2f}, "
              f"min {m[0]:.2f}, max {m[-1]:.2f}")
        outs = {}
        for i in only_s:
            o = live[i]["outcome"] + (" (late)" if live[i]["outcome"] == "ok" else "")
            outs[o] = outs.get(o, 0) + 1
        print("  their live outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outs.items())))


if __name__ == "__main__":
    main()
