#!/usr/bin/env bash
# DDP throughput, Cohort against PyTorch's DDP, 2 ranks x 1 thread, batch 64 per
# rank, 200 steps, SGD momentum 0.9, on mlp and cnn. Prints JSON lines: Cohort's
# run, the peer's run, and the ratio with the share of communication hidden
# behind backward.
#   bench/ddp_throughput.sh [build-dir] [peer.py]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
peer=${2:-$root/../shared/peers/ddp_fashion.py}
bin=$build/bench/ddp_throughput
world=2
for model in mlp cnn; do
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pids=()
  for ((rank = 0; rank < world; rank++)); do
    RANK=$rank WORLD_SIZE=$world LOCAL_RANK=$rank LOCAL_WORLD_SIZE=$world \
      MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout -k 5 900 \
      "$bin" --model "$model" --threads 1 --batch-size 64 --steps 200 --peer "$peer" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
done
