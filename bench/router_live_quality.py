# Live quality % of peak and >=96 % window share (10 s windows by arrival) from loadgen
# per-request records (--json-requests), with the profile's per-domain ROUGE-L quality:
# a request counts its tier's quality if answered (outcome ok) within its deadline.
#   python3 bench/router_live_quality.py LOADGEN.json...
import json, sys
prof = json.load(open('bench/results/router_profile_devvm.json'))
q = {t['name']: t['quality'] for t in prof['tiers']}
peak = prof['tiers'][0]['quality']
for f in sys.argv[1:]:
    d = json.load(open(f))
    num = den = 0; win = {}
    for r in d['requests']:
        ok = r['outcome'] == 'ok' and r['latency_ms'] <= r['deadline_ms']
        v = q[r['tier']][r['task']] if ok else 0.0
        num += v; den += peak[r['task']]
        w = int(r['t_sched'] // 10); a = win.setdefault(w, [0, 0]); a[0] += v; a[1] += peak[r['task']]
    s96 = sum(a[0] / a[1] >= 0.96 for a in win.values()) / len(win)
    print(f, 'quality %.1f%% of peak, windows>=96 %.0f%% (%d windows)' % (100 * num / den, 100 * s96, len(win)))
