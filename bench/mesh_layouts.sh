#!/usr/bin/env bash
# Four ranks laid out as data x pipeline = 4x1, 2x2 and 1x4, on cnn and resnet:
# `cohort train --nproc 4` with the same global batch (64) and micro-batches (4),
# one thread per rank. Per layout: samples/s, its ratio to 4x1, and where rank
# 0's step time went (exposed gradient communication, pipeline idle = bubble and
# transfers, the rest compute), from metrics.jsonl after the first interval; and
# the measured bubble of one step against (P-1)/(M+P-1). For cnn the Python peer
# (PyTorch DDP, 4 ranks) runs in the same invocation for scale.
#   bench/mesh_layouts.sh [STEPS] [MODELS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The peers run on the venv's torch, the libtorch Cohort links (scripts/install-deps.sh).
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
bin=${COHORT_BIN:-$root/build/cohort}
peer=${COHORT_PEERS:-$root/../shared/peers}/ddp_fashion.py
steps=${1:-100}
shift || true
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(cnn resnet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for model in "${models[@]}"; do
  for layout in 4x1 2x2 1x4; do
    data=${layout%x*} pipeline=${layout#*x}
    out="$work/$model-$layout"
    summary=$("$bin" train "$root/examples/configs/mlp.toml" --quiet --nproc 4 --out "$out" \
        --set network.0.model="$model" --set parallel.data="$data" \
        --set parallel.pipeline="$pipeline" --set parallel.micro_batches=4 \
        --set train.batch_size=$((64 / data)) --set train.max_steps="$steps" \
        --set train.threads=1 --set train.log_every=20 | tail -1)
    python3 - "$model" "$layout" "$out/metrics.jsonl" "$summary" <<'PY'
import json, sys
model, layout, metrics, summary = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
records = [json.loads(l) for l in open(metrics)]
train = [r for r in records if r["kind"] == "train"][1:]  # the first interval warms up
wall = sum(r["interval_seconds"] for r in train) or 1e-9
exposed = sum(r["comm_exposed_seconds"] for r in train) / wall
idle = sum(r["pipeline_idle_seconds"] for r in train) / wall
pipe = next((r for r in records if r["kind"] == "pipeline"), None)
print(json.dumps({"bench": "mesh_layouts", "model": model, "layout": layout,
                  "samples_per_sec": summary["samples_per_sec"],
                  "rank0_share": {"compute": round(1 - exposed - idle, 3),
                                  "exposed_comm": round(exposed, 3),
                                  "pipeline_idle": round(idle, 3)},
                  "bubble_measured": pipe and round(pipe["bubble_fraction"], 3),
                  "bubble_theory": pipe and round(pipe["bubble_fraction_theory"], 3)}))
PY
  done | tee "$work/$model.jsonl"
  if [[ $model == cnn ]]; then
    "$peer_python" "$peer" --model cnn --world-size 4 --threads 1 --batch-size 16 \
        --max-steps "$steps" --eval 0 | tail -1 >"$work/peer.json"
  fi
  python3 - "$model" "$work/$model.jsonl" "$work/peer.json" <<'PY'
import json, os, sys
model, rows, peer_file = sys.argv[1], [json.loads(l) for l in open(sys.argv[2])], sys.argv[3]
base = next(r["samples_per_sec"] for r in rows if r["layout"] == "4x1")
out = {"bench": "mesh_layouts_summary", "model": model,
       "ratio_to_4x1": {r["layout"]: round(r["samples_per_sec"] / base, 3) for r in rows}}
if model == "cnn" and os.path.exists(peer_file):
    peer = json.load(open(peer_file))["samples_per_sec"]
    out["peer_ddp_4_ranks_samples_per_sec"] = peer
    out["ratio_to_peer_ddp"] = {r["layout"]: round(r["samples_per_sec"] / peer, 3) for r in rows}
print(json.dumps(out))
PY
done
