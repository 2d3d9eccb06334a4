#!/usr/bin/env bash
# The device call of tools/train/distill.py: a smoke run (seconds) to catch bugs, then the
# real run. Carry tools/corpus/out and models/work/tandem-demo.model. Usage on the device:
#   bash tools/train/device-distill.sh   (writes weights.part00, meta.tar.gz, distill.log to $OUT)
set -eo pipefail
export PYTHONUNBUFFERED=1
nvidia-smi -L
python3 tools/train/distill.py --smoke --out /tmp/smoke-out > /tmp/smoke.log 2>&1 || { tail -n 60 /tmp/smoke.log; exit 1; }
tail -n 4 /tmp/smoke.log
python3 tools/train/distill.py --out "$OUT" --gen-s "${GEN_S:-60}" --train-s "${TRAIN_S:-300}" 2>&1 | tee "$OUT/distill.log"
