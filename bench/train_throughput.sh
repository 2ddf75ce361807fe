#!/usr/bin/env bash
# Single-process training throughput: Cohort against the Python peer
# (shared/peers/ddp_fashion.py), eager and torch.compile'd (--compile 1), same
# model, batch, threads and libtorch, run in turn in every round of one
# invocation, with the machine's limit (build/bench/machine_limit --only-limit: the
# best large fp32 product through libtorch) timed in every round too. Prints one JSON
# object per run and per model a summary with medians, the ratios and the fraction
# of the limit each side reaches (model FLOPs per sample x samples/s, from
# cohort/model_flops.h).
#   bench/train_throughput.sh [REPEATS] [THREADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The peers run on the venv's torch, the libtorch Cohort links (scripts/install-deps.sh).
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
bin=${COHORT_BIN:-$root/build/cohort}
limit_bin=${COHORT_LIMIT_BIN:-$(dirname "$bin")/bench/machine_limit}
peer=${COHORT_PEERS:-$root/../shared/peers}/ddp_fashion.py
repeats=${1:-3}
threads=${2:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { python3 -c 'import sys,statistics; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

rate() { "$peer_python" -c 'import json,sys; print(json.load(sys.stdin)["samples_per_sec"])'; }
field() { "$peer_python" -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

for model in mlp cnn; do
  steps=$([[ $model == mlp ]] && echo 600 || echo 200)
  ours=() eager=() compiled=() limits=()
  for ((i = 0; i < repeats; i++)); do
    l=$("$limit_bin" --only-limit --threads "$threads" --rounds 1 --min-seconds 0.3 | tail -1)
    echo "$l"
    limits+=("$(echo "$l" | field "['matmul_limit_gflops']")")
    flops=$(echo "$l" | field "['models']['$model']['training_flops_per_sample']")
    # Eager, torch.compile'd and Cohort, one after the other in every round.
    for compile in 0 1; do
      p=$("$peer_python" "$peer" --model "$model" --threads "$threads" --batch-size 64 \
          --max-steps "$steps" --eval 0 --compile "$compile" | tail -1)
      echo "{\"runner\":\"peer\",\"compile\":$compile,\"model\":\"$model\",\"result\":$p}"
      if ((compile)); then compiled+=("$(echo "$p" | rate)"); else eager+=("$(echo "$p" | rate)"); fi
    done
    c=$("$bin" train "$root/examples/configs/mlp.toml" --quiet --out "$work/$model-$i" \
        --set network.0.model="$model" \
        --set train.threads="$threads" --set train.batch_size=64 --set train.max_steps="$steps" \
        --set train.log_every=1000 --set train.checkpoint_every_steps=0 | tail -1)
    echo "{\"runner\":\"cohort\",\"model\":\"$model\",\"result\":$c}"
    ours+=("$(echo "$c" | rate)")
  done
  mo=$(median "${ours[@]}")
  me=$(median "${eager[@]}")
  mc=$(median "${compiled[@]}")
  ml=$(median "${limits[@]}")
  # The fraction of the limit: model FLOPs per sample x samples/s over the limit's
  # FLOP/s, within each round (the machine's speed drifts), then the median.
  list() { local IFS=,; echo "[$*]"; }
  "$peer_python" - <<PY
import json, statistics, torch
o, e, c, l = $(list "${ours[@]}"), $(list "${eager[@]}"), $(list "${compiled[@]}"), $(list "${limits[@]}")
frac = lambda rates: statistics.median(r * $flops / (g * 1e9) for r, g in zip(rates, l))
ratio = lambda a, b: statistics.median(x / y for x, y in zip(a, b))  # within each round
print(json.dumps({'benchmark': 'train_throughput', 'torch': torch.__version__, 'model': '$model',
    'threads': $threads, 'batch_size': 64, 'steps': $steps, 'repeats': $repeats,
    'cohort_samples_per_sec_median': $mo, 'eager_peer_samples_per_sec_median': $me,
    'compiled_peer_samples_per_sec_median': $mc, 'ratio_over_eager': ratio(o, e),
    'ratio_over_compiled': ratio(o, c), 'training_flops_per_sample': $flops,
    'matmul_limit_gflops_median': $ml, 'cohort_fraction_of_limit': frac(o),
    'eager_fraction_of_limit': frac(e), 'compiled_fraction_of_limit': frac(c)}))
PY
done
