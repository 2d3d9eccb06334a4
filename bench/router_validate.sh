#!/bin/bash
# Simulator vs live server (issue 7's 15 % check), each pair bracketed by its own
# quick profile: p0, q6, p1, q15, p2, e6, p3, e15, p4, l6, p5, l15, p6 (q/e/l =
# fixed:quality, fixed:economy, the learned policy $POLICY (default: the Xeon one); 6 and 15 = the Poisson
# traces bench/results/router_validation_trace_xeon_{6,15}.jsonl, 400 ms deadlines).
# Every pair is simulated with the profile before and after it;
# bench/router_validate_summary.py R prints live vs simulated per pair.
# Run from the repository root, about 7.5 minutes (runs 5, 7 and 8 in router_README.md):
#   T=build/src/cli/tandem R=/tmp/val bash bench/router_validate.sh
# Env: T (tandem binary), POLICY (the learned policy, learned:FILE), DUR (live seconds, 40s), FS (profile forward seconds, 10),
# R (results folder), CPUS_SERVE / CPUS_LOAD (taskset CPU lists for the server and
# the load generator, default 0-1 and 4-5; empty = no pinning), OUT (if set, the
# results folder is also packed into $OUT/val.tgz after every pair).
set -u
T=${T:-build/src/cli/tandem}; DUR=${DUR:-40s}; FS=${FS:-10}; R=${R:-/tmp/val}
CS=${CPUS_SERVE-0-1}; CL=${CPUS_LOAD-4-5}
mkdir -p $R
pin() { local c=$1; shift; if [ -n "$c" ]; then taskset -c $c "$@"; else "$@"; fi; }
profile() {
  pin "$CS" $T router profile --config config/demo-tiers.json --prompts bench/prompts --out $R/$1.json \
    --per-domain 1 --tokens 16 --timing-tokens 32 --batch 8 --repeats 2 --forward-seconds $FS -t 1 > $R/$1.log 2>&1
  echo "[$(date +%T)] profile $1 rc=$?" >> $R/log.txt
}
pair() {  # tag policy trace
  local tag=$1 pol=$2 tr=$3
  rm -f $R/$tag.port
  pin "$CS" $T serve --config config/demo-tiers.json -t 1 --policy $pol --port 0 --port-file $R/$tag.port > $R/$tag.serve.log 2>&1 &
  local sp=$! k
  for k in $(seq 100); do [ -s $R/$tag.port ] && break; sleep 0.2; done
  pin "$CL" $T loadgen --url http://127.0.0.1:$(cat $R/$tag.port) --trace $tr -d $DUR --json $R/$tag.live.json --json-requests -q > $R/$tag.loadgen.log 2>&1
  echo "[$(date +%T)] live $tag rc=$?" >> $R/log.txt
  kill $sp; wait $sp 2>/dev/null
}
sim() {  # tag policy trace profile
  $T router sim --profile $R/$4.json --policy $2 --arrival trace:$3 --requests-json $R/$1.sim_$4.jsonl > $R/$1.sim_$4.txt 2>&1
}
L=${POLICY:-learned:bench/results/router_policy_xeon.json}
T6=bench/results/router_validation_trace_xeon_6.jsonl; T15=bench/results/router_validation_trace_xeon_15.jsonl
lscpu > $R/lscpu.txt
profile p0
i=0
for spec in "q6 fixed:quality $T6" "q15 fixed:quality $T15" "e6 fixed:economy $T6" "e15 fixed:economy $T15" "l6 $L $T6" "l15 $L $T15"; do
  set -- $spec
  pair $1 $2 $3
  profile p$((i + 1))
  sim $1 $2 $3 p$i; sim $1 $2 $3 p$((i + 1))
  i=$((i + 1))
  [ -n "${OUT:-}" ] && tar czf $OUT/val.tgz -C $(dirname $R) $(basename $R)
done
echo "[$(date +%T)] done" >> $R/log.txt
[ -n "${OUT:-}" ] && python3 bench/router_validate_summary.py $R > $R/summary.json && tar czf $OUT/val.tgz -C $(dirname $R) $(basename $R)
