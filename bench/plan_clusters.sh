#!/usr/bin/env bash
# The planner past this machine: each example cohort, profiled here, planned by
# `cohort plan` for this machine's 2 and 4 ranks and for the example clusters
# (8, 64 and 1024 ranks), with the planned step against the naive layout's (equal
# ranks per member, each data-parallel). Predictions of the cost model, not
# measurements: JSON lines to stdout and OUT/plan_clusters.jsonl.
#   bench/plan_clusters.sh [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${COHORT_BIN:-$root/build/cohort}
out=${1:-runs/plan_clusters}
mkdir -p "$out"
results=$out/plan_clusters.jsonl
: > "$results"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

plan() {  # plan COHORT WHERE ARGS...
  local cohort=$1 where=$2; shift 2
  "$bin" plan "$root/examples/configs/$cohort.toml" --set train.threads=1 "$@" >"$work/plan.out"
  tail -1 "$work/plan.out" | "${COHORT_PYTHON:-$root/.venv/bin/python}" -c '
import json, sys
p = json.loads(sys.stdin.read())
print(json.dumps({"cohort": sys.argv[1], "cluster": sys.argv[2], "ranks": p["ranks"],
                  "planned_ms": round(p["step_seconds"] * 1e3, 3),
                  "naive_ms": round(p["naive_step_seconds"] * 1e3, 3),
                  "gain": round(1 - p["step_seconds"] / p["naive_step_seconds"], 3),
                  "bottleneck": p["bottleneck"],
                  "layouts": {m["name"]: [m["data"], m["pipeline"], len(m["ranks"])]
                              for m in p["members"]}}))' "$cohort" "$where" | tee -a "$results"
}

for cohort in mixed_cohort zoo_cohort; do
  plan "$cohort" "this machine" --nproc 2
  plan "$cohort" "this machine" --nproc 4
  # 64 samples per rank on the clusters: a global batch of 64 cannot feed 1024 ranks.
  for cluster in 1x8:512 8x8:4096 128x8:65536; do
    plan "$cohort" "${cluster%%:*}" --cluster "$root/examples/clusters/${cluster%%:*}.toml" \
      --global-batch "${cluster##*:}"
  done
done
