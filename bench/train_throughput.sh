#!/usr/bin/env bash
# Single-process training throughput: Cohort against the Python peer
# (shared/peers/ddp_fashion.py), same model, batch, threads and libtorch, run
# alternately in one invocation. Prints one JSON object per run and per model a
# summary with medians and the ratio.
#   bench/train_throughput.sh [REPEATS] [THREADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The peers run on the venv's torch, the libtorch Cohort links (scripts/install-deps.sh).
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
bin=${COHORT_BIN:-$root/build/cohort}
peer=${COHORT_PEERS:-$root/../shared/peers}/ddp_fashion.py
repeats=${1:-3}
threads=${2:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { python3 -c 'import sys,statistics; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

for model in mlp cnn; do
  steps=$([[ $model == mlp ]] && echo 600 || echo 200)
  ours=() theirs=()
  for ((i = 0; i < repeats; i++)); do
    p=$("$peer_python" "$peer" --model "$model" --threads "$threads" --batch-size 64 \
        --max-steps "$steps" --eval 0 | tail -1)
    echo "{\"runner\":\"peer\",\"model\":\"$model\",\"result\":$p}"
    theirs+=("$(echo "$p" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_sec"])')")
    c=$("$bin" train "$root/examples/configs/mlp.toml" --quiet --out "$work/$model-$i" \
        --set network.0.model="$model" \
        --set train.threads="$threads" --set train.batch_size=64 --set train.max_steps="$steps" \
        --set train.log_every=1000 --set train.checkpoint_every_steps=0 | tail -1)
    echo "{\"runner\":\"cohort\",\"model\":\"$model\",\"result\":$c}"
    ours+=("$(echo "$c" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_sec"])')")
  done
  mo=$(median "${ours[@]}")
  mt=$(median "${theirs[@]}")
  python3 -c "import json; print(json.dumps({'benchmark':'train_throughput','model':'$model','threads':$threads,'batch_size':64,'steps':$steps,'repeats':$repeats,'cohort_samples_per_sec_median':$mo,'peer_samples_per_sec_median':$mt,'ratio':$mo/$mt}))"
done
