#!/usr/bin/env bash
# How cost grows: samples/s as the cohort grows (K = 1, 2, 4, 8, 16 copies of the zoo's
# mlp and cnn, fused into one array and as K sequential networks, with the vmap peer:
# build/bench/fused_arrays) and as the network widens (Cohort training mlp 784-W-W-10,
# W = 256 to 4096, in interleaved rounds), each with the fraction of the machine's limit
# (build/bench/machine_limit --only-limit, timed in every round), and the floor under a
# fused mlp step (bench/fused_floor.py: its products and optimiser pass, each timed
# alone; no schedule can beat it). JSON lines to stdout
# and OUT/cost_growth.jsonl, a plot to OUT/cost_growth.png.
#   bench/cost_growth.sh [ROUNDS] [THREADS] [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
bin=${COHORT_BIN:-$root/build/cohort}
bench_dir=$(dirname "$bin")/bench
peers=${COHORT_PEERS:-$root/../shared/peers}
rounds=${1:-3}
threads=${2:-2}
out=${3:-runs/cost_growth}
widths=(256 512 1024 2048 4096)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$out/cost_growth.jsonl
: > "$results"
emit() { echo "$1" | tee -a "$results"; }

"$bench_dir/fused_arrays" --copies 1,2,4,8,16 --steps 30 --threads "$threads" --repeats "$rounds" \
    --peer "$peers/ddp_fashion.py" --vmap-peer "$peers/ensemble_vmap.py" | while read -r line; do emit "$line"; done
# The floor under K fused mlps: the step's products and optimiser pass, each timed alone.
for k in 1 2 4 8 16; do
  emit "$("$peer_python" "$root/bench/fused_floor.py" --k "$k" --threads "$threads" | tail -1)"
done

# Steps per width: a few seconds of training each, however wide.
steps_for() { echo $((400 * 256 / $1 > 30 ? 400 * 256 / $1 : 30)); }
for ((i = 0; i < rounds; i++)); do
  emit "$("$bench_dir/machine_limit" --only-limit --threads "$threads" --rounds 1 \
      --min-seconds 0.3 --mlp-widths "$(IFS=,; echo "${widths[*]}")" | tail -1)"
  for w in "${widths[@]}"; do
    r=$("$bin" train "$root/examples/configs/mlp.toml" --quiet --out "$work/w$w-$i" \
        --set "network.0.widths=[$w,$w]" --set train.threads="$threads" \
        --set train.batch_size=64 --set train.max_steps="$(steps_for "$w")" \
        --set train.log_every=100000 --set train.checkpoint_every_steps=0 | tail -1)
    emit "{\"bench\":\"cost_growth\",\"width\":$w,\"round\":$i,\"result\":$r}"
  done
done

# Debian's Python, which has matplotlib (scripts/install-deps.sh); the summary is
# written before the plot is tried.
/usr/bin/python3 - "$results" "$out" <<'PY'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1])]
fused = [r for r in rows if r.get("bench") == "fused_arrays" and "copies" in r]
# One limit line per round, written just before that round's widths.
limits = [r for r in rows if r.get("bench") == "machine_limit"]
limit = statistics.median(r["matmul_limit_gflops"] for r in limits)
width_rows = {}
for r in rows:
    if r.get("bench") == "cost_growth" and "result" in r:
        width_rows.setdefault(r["width"], []).append(
            (r["result"]["samples_per_sec"], limits[r["round"]]["matmul_limit_gflops"]))
summary = []
for w, runs in sorted(width_rows.items()):
    flops = limits[0]["models"][f"mlp {w}x{w}"]["training_flops_per_sample"]
    summary.append({"bench": "cost_growth", "summary": "width", "width": w,
                    "samples_per_sec_median": statistics.median(rate for rate, _ in runs),
                    "training_flops_per_sample": flops,
                    "matmul_limit_gflops_median": limit,
                    # within each round (the host drifts between rounds), then the median
                    "fraction_of_limit": statistics.median(
                        rate * flops / (lim * 1e9) for rate, lim in runs)})
for s in summary:
    print(json.dumps(s))
with open(sys.argv[1], "a") as f:
    for s in summary:
        f.write(json.dumps(s) + "\n")

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
for ax, model in zip(axes, ("mlp", "cnn")):
    mine = sorted((r for r in fused if r["model"] == model), key=lambda r: r["copies"])
    ks = [r["copies"] for r in mine]
    for key, label in (("fused", "fused"), ("fused_batched", "fused, all batched"),
                       ("sequential", "K sequential"), ("vmap", "vmap peer")):
        if all(f"{key}_samples_per_sec" in r for r in mine):
            ax.plot(ks, [r[f"{key}_samples_per_sec"] for r in mine], "o-", label=label)
    floors = {r["k"]: r["samples_per_sec_at_floor"] for r in rows
              if r.get("bench") == "fused_floor" and r.get("summary")}
    if model == "mlp" and all(k in floors for k in ks):
        ax.plot(ks, [floors[k] for k in ks], "k:", label="floor: products + optimiser alone")
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("networks K")
    ax.set_ylabel("samples/s (all copies)")
    ax.set_title(f"{model}: as the cohort grows")
    ax.legend(fontsize=8)
ax = axes[2]
ax.plot([s["width"] for s in summary], [s["samples_per_sec_median"] for s in summary], "o-")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("mlp width W (784-W-W-10)")
ax.set_ylabel("samples/s")
ax.set_title(f"as the mlp widens (limit {limit:.0f} GFLOP/s)")
twin = ax.twinx()
twin.plot([s["width"] for s in summary], [s["fraction_of_limit"] for s in summary], "s--",
          color="tab:red")
twin.set_ylim(0, 1)
twin.set_ylabel("fraction of the limit", color="tab:red")
fig.tight_layout()
fig.savefig(f"{sys.argv[2]}/cost_growth.png", dpi=110)
PY
