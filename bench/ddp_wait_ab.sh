#!/usr/bin/env bash
# How DDP waits, A/B against the Python peer: ROUNDS interleaved rounds of
#   peer              PyTorch DDP (ddp_fashion.py), same settings
#   block             Cohort, synchronize() blocks at once   (--poll-us 0)
#   poll              Cohort's default: polls up to 2 ms first; the first bucket
#                     closes once it holds 1 MiB (PyTorch's rule)
#   poll_one_bucket   the default without a separate first bucket (--first-bucket-mb 0)
# 2 ranks x 1 thread, batch 64 per rank. Interleaving puts every variant under
# the same drift of a shared machine. Prints one JSON line per run, then a
# summary: median of each variant's per-round ratio to the peer and to block.
#   bench/ddp_wait_ab.sh [build-dir] [model] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The peers run on the venv's torch, the libtorch Cohort links (scripts/install-deps.sh).
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
build=${1:-$root/build}
model=${2:-mlp}
rounds=${3:-8}
peer=$root/../shared/peers/ddp_fashion.py
bin=$build/bench/ddp_throughput
steps=$([[ $model == mlp ]] && echo 1000 || echo 200)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cohort_run() {  # variant, extra flags...
  local variant=$1 port pids=()
  shift
  port=$(free_port)
  for rank in 0 1; do
    RANK=$rank WORLD_SIZE=2 LOCAL_RANK=$rank LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 \
      MASTER_PORT=$port timeout -k 5 600 "$bin" --model "$model" --threads 1 \
      --batch-size 64 --steps "$steps" "$@" > "$out.$rank" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  sed "s/^{/{\"variant\":\"$variant\",\"round\":$round,/" "$out.0" | tee -a "$out"
}
for ((round = 1; round <= rounds; round++)); do
  timeout -k 5 600 "$peer_python" "$peer" --model "$model" --world-size 2 --threads 1 \
    --batch-size 64 --max-steps "$steps" --eval 0 --port "$(free_port)" | tail -1 |
    sed "s/^{/{\"variant\":\"peer\",\"round\":$round,/" | tee -a "$out"
  cohort_run block --poll-us 0
  cohort_run poll
  cohort_run poll_one_bucket --first-bucket-mb 0
done
rm -f "$out.0" "$out.1"
python3 - "$out" "$model" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r["round"], {})[r["variant"]] = r["samples_per_sec"]
def median_ratio(a, b):
    return statistics.median(v[a] / v[b] for v in runs.values() if a in v and b in v)
print(json.dumps({"bench": "ddp_wait_ab_summary", "model": sys.argv[2], "rounds": len(runs),
                  "over_peer": {v: round(median_ratio(v, "peer"), 3)
                                for v in ("block", "poll", "poll_one_bucket")},
                  "over_block": {v: round(median_ratio(v, "block"), 3)
                                 for v in ("poll", "poll_one_bucket")}}))
PY
