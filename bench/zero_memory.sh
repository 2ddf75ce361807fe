#!/usr/bin/env bash
# ZeRO 1, 2 and 3 against DDP, Cohort and PyTorch (DDP, FSDP2) in the same run:
# per-rank memory of parameters, gradients and AdamW state, and samples/s, on
# an mlp 784-4096-4096-10 (20.0 M parameters: 306 MiB of training state with
# AdamW), batch 64 per rank, 1 thread per rank, at N = 2 and 4 ranks (4 ranks
# share this machine's 2 cores: their throughput says little). ROUNDS rounds,
# each running every implementation once in turn; JSON lines, then a summary
# line per world size with the median samples/s of each and its ratio to
# Cohort's DDP within the same round, and (Cohort's modes) the most the
# second step's own allocations held at once.
#   bench/zero_memory.sh [build-dir] [ROUNDS] [WORLD_SIZES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${COHORT_PYTHON:-$root/.venv/bin/python}
build=${1:-$root/build}
rounds=${2:-3}
worlds=${3:-"2 4"}
bin=$build/bench/zero_memory
common=(--widths 4096 4096 --steps 30 --warmup 5 --batch-size 64 --threads 1)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_cohort() {  # world mode
  local port pids=()
  port=$(free_port)
  for ((rank = 0; rank < $1; rank++)); do
    RANK=$rank WORLD_SIZE=$1 LOCAL_RANK=$rank LOCAL_WORLD_SIZE=$1 MASTER_ADDR=127.0.0.1 \
      MASTER_PORT=$port timeout -k 5 600 "$bin" --mode "$2" "${common[@]}" | tee -a "$out" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

run_peer() {  # world mode
  timeout -k 5 600 "$python" "$root/bench/zero_peer.py" --mode "$2" --world-size "$1" \
    --port "$(free_port)" "${common[@]}" | tail -n 1 | tee -a "$out"
}

for world in $worlds; do
  for ((round = 0; round < rounds; round++)); do
    for mode in ddp zero1 zero2 zero3; do run_cohort "$world" "$mode"; done
    for mode in ddp fsdp2; do run_peer "$world" "$mode"; done
  done
done

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
for world in sorted({r["world_size"] for r in runs}):
    mine = [r for r in runs if r["world_size"] == world]
    impls = list(dict.fromkeys(f'{r["impl"]}-{r["mode"]}' if r["impl"] == "cohort" else r["impl"] for r in mine))
    def of(impl):
        return [r for r in mine if (f'{r["impl"]}-{r["mode"]}' if r["impl"] == "cohort" else r["impl"]) == impl]
    base = of("cohort-ddp")
    summary = {"bench": "zero_memory_summary", "world_size": world, "rounds": len(base)}
    for impl in impls:
        rs = of(impl)
        ratios = [r["samples_per_sec"] / b["samples_per_sec"] for r, b in zip(rs, base)]
        summary[impl] = {"median_samples_per_sec": round(statistics.median(r["samples_per_sec"] for r in rs), 1),
                         "median_ratio_to_cohort_ddp": round(statistics.median(ratios), 3),
                         "state_mb": round(rs[0]["state_mb"], 1),
                         "parameters_mb": round(rs[0]["parameters_mb"], 1),
                         "gradients_mb": round(rs[0]["gradients_mb"], 1),
                         "optimizer_mb": round(rs[0]["optimizer_mb"], 1),
                         "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in rs), 1),
                         "gathered_peak_mb": round(rs[0].get("gathered_peak_mb", 0), 1)}
        if "step_peak_mb" in rs[0]:  # Cohort's only: the peers do not meter their steps
            summary[impl]["step_peak_mb"] = round(statistics.median(r["step_peak_mb"] for r in rs), 1)
    print(json.dumps(summary))
PY
