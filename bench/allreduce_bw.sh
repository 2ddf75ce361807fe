#!/usr/bin/env bash
# Allreduce bandwidth, Cohort vs the PyTorch peer (torch.distributed, Gloo), in
# the same run on the same machine, 2 processes. Rounds alternate the two so
# that load from elsewhere hits both alike; per size the best round's median
# is kept for each.
#   bench/allreduce_bw.sh [build-dir] [rounds] [iters]
# Prints one JSON object per size: cohort and peer GB/s and their ratio.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The peers run on the venv's torch, the libtorch Cohort links (scripts/install-deps.sh).
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
build=${1:-$root/build}
rounds=${2:-5}
iters=${3:-20}
sizes=1,16,100
peer="$root/../shared/peers/allreduce_bw.py"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for round in $(seq "$rounds"); do
  "$build/cohort" launch --nproc 2 -- "$build/bench/allreduce_bw" --sizes-mb "$sizes" \
    --iters "$iters" | sed -n 's/^\[rank 0\] //p' >>"$out/cohort.jsonl"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$peer_python" "$peer" --world-size 2 --sizes-mb "$sizes" --iters "$iters" --port "$port" >>"$out/peer.jsonl"
done

python3 - "$out/cohort.jsonl" "$out/peer.jsonl" <<'PY'
import json, sys
def best(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        rows[r["size_mb"]] = max(rows.get(r["size_mb"], 0), r["algbw_gbps"])
    return rows
ours, peer = best(sys.argv[1]), best(sys.argv[2])
for size in sorted(ours):
    print(json.dumps(dict(bench="allreduce_bw", size_mb=size, world_size=2,
                          cohort_gbps=round(ours[size], 4), peer_gbps=round(peer[size], 4),
                          ratio=round(ours[size] / peer[size], 3))))
PY
