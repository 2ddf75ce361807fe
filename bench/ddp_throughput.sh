#!/usr/bin/env bash
# DDP throughput, Cohort against PyTorch's DDP, 2 ranks x 1 thread, batch 64 per
# rank, 1000 (mlp) or 200 (cnn) steps, SGD momentum 0.9, on mlp and cnn. Prints JSON lines: Cohort's
# run, the peer's run, and the ratio with the share of communication hidden
# behind backward; after REPEATS such pairs per model, a summary line with the
# median ratio (the machines here are noisy: one pair means little).
#   bench/ddp_throughput.sh [build-dir] [peer.py] [REPEATS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The peers run on the venv's torch, the libtorch Cohort links (scripts/install-deps.sh).
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
export COHORT_PYTHON=$peer_python  # for the benchmark programs that start the peer themselves
build=${1:-$root/build}
peer=${2:-$root/../shared/peers/ddp_fashion.py}
bin=$build/bench/ddp_throughput
repeats=${3:-1}
world=2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for model in mlp cnn; do
 # mlp steps take a few milliseconds: 1000 of them keep the timed part above a second.
 steps=$([[ $model == mlp ]] && echo 1000 || echo 200)
 for ((repeat = 0; repeat < repeats; repeat++)); do
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pids=()
  for ((rank = 0; rank < world; rank++)); do
    RANK=$rank WORLD_SIZE=$world LOCAL_RANK=$rank LOCAL_WORLD_SIZE=$world \
      MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout -k 5 900 \
      "$bin" --model "$model" --threads 1 --batch-size 64 --steps "$steps" --peer "$peer" | tee -a "$out" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
 done
done
python3 - "$out" <<'PY'
import json, statistics, sys
ratios = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "ratio_cohort_over_peer" in r:
        ratios.setdefault(r["model"], []).append(r["ratio_cohort_over_peer"])
for model, rs in ratios.items():
    print(json.dumps({"bench": "ddp_throughput_summary", "model": model, "repeats": len(rs),
                      "ratios": [round(x, 3) for x in rs], "median_ratio": statistics.median(rs)}))
PY
