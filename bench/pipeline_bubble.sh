#!/usr/bin/env bash
# Pipeline bubble benchmark: one process per stage under `cohort launch`, for each
# stage count given (default 2: this machine has 2 cores and every stage gets one
# thread). JSON lines on stdout; timelines (SVG) under the output folder.
#   bench/pipeline_bubble.sh [build-dir] [out-dir] [stage counts...]
set -euo pipefail
build=${1:-build}
out=${2:-runs/pipeline_bubble}
shift $(( $# > 2 ? 2 : $# )) || true
stages=("${@:-2}")
mkdir -p "$out"
for p in "${stages[@]}"; do
  timeout -k 5 900 "$build/cohort" launch --nproc "$p" -- \
    "$build/bench/pipeline_bubble" --model "${MODEL:-cnn}" --batch "${BATCH:-128}" \
    --micro-batches "${MICRO_BATCHES:-1,2,4,8}" --steps "${STEPS:-5}" --out "$out" \
    ${WIDTHS:+--widths "$WIDTHS"} |
    sed -u 's/^\[[^]]*\] *//' | grep '^{' | tee -a "$out/results.jsonl"
done
