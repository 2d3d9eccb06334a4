#!/usr/bin/env bash
# The one device call: a smoke run (tiny models, seconds) to catch bugs, then the
# real run. Usage on the device: bash tools/train/device-run.sh  (writes to $OUT)
set -eo pipefail
export PYTHONUNBUFFERED=1
nvidia-smi -L
python3 tools/train/train.py --smoke --out /tmp/smoke-out --work /tmp/smoke-work > /tmp/smoke.log 2>&1 || { tail -n 40 /tmp/smoke.log; exit 1; }
tail -n 5 /tmp/smoke.log
python3 tools/train/train.py --out "$OUT" 2>&1 | tee "$OUT/train.log"
