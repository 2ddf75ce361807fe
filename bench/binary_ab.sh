#!/usr/bin/env bash
# Two cohort binaries A/B (a change's before and after) on the zoo's models,
# single process, with the Python peer (shared/peers/ddp_fashion.py) in the same
# rounds: ROUNDS interleaved rounds of peer, BEFORE, AFTER per model, so all three
# share the machine's drift. Prints one JSON line per run, then per model the
# medians and the median of the per-round ratios after/before and after/peer.
#   [MODELS="mlp cnn"] bench/binary_ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [THREADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
peer=${COHORT_PEERS:-$root/../shared/peers}/ddp_fashion.py
before=${1:?the cohort binary before the change}
after=${2:?the cohort binary after the change}
rounds=${3:-3}
threads=${4:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rate() { "$peer_python" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["samples_per_sec"])'; }

ours() {  # binary, model, steps
  "$1" train "$root/examples/configs/mlp.toml" --quiet --overwrite --out "$work/run" \
    --set network.0.model="$2" --set train.max_steps="$3" --set train.threads="$threads" \
    --set train.batch_size=64 | rate
}

for model in ${MODELS:-mlp cnn}; do
  steps=$([[ $model == mlp ]] && echo 600 || echo 200)
  for ((r = 0; r < rounds; r++)); do
    p=$("$peer_python" "$peer" --model "$model" --threads "$threads" --batch-size 64 \
        --max-steps "$steps" --eval 0 | tail -1 | rate)
    b=$(ours "$before" "$model" "$steps")
    a=$(ours "$after" "$model" "$steps")
    echo "{\"model\":\"$model\",\"round\":$r,\"peer\":$p,\"before\":$b,\"after\":$a}" | tee -a "$work/rows"
  done
done
"$peer_python" - "$work/rows" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for model in sorted({r["model"] for r in rows}):
    m = [r for r in rows if r["model"] == model]
    med = lambda k: statistics.median(r[k] for r in m)
    print(json.dumps({"model": model, "rounds": len(m), "samples_per_sec_median":
                      {k: round(med(k), 1) for k in ("peer", "before", "after")},
                      "after_over_before": round(statistics.median(r["after"] / r["before"] for r in m), 3),
                      "after_over_peer": round(statistics.median(r["after"] / r["peer"] for r in m), 3)}))
PY
