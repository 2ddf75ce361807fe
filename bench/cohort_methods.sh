#!/usr/bin/env bash
# The headline: what does cooperation buy? K networks of one model (2 and 4)
# trained independently, by deep mutual learning and by codistillation, with
# the same epochs, batches, data order and per-network compute; every network's
# test accuracy and the averaged-prediction ensemble's, mean and spread over
# SEEDS seeds (the seed sets the data order and every network's initialisation).
# The Python peer trains one network of the same model and settings per seed:
# the single-network reference.
#
# One JSON object per run, then one per (K, method) with means and standard
# deviations, then a plot (matplotlib) of both accuracies.
#   bench/cohort_methods.sh [EPOCHS] [SEEDS] [OUT]
#   MODEL=cnn KS="2 4" METHODS="none mutual codistill" bench/cohort_methods.sh 3 3
#   FIRST_SEED=2 bench/cohort_methods.sh 3 1   # one more seed for an earlier table
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The peers run on the venv's torch, the libtorch Cohort links (scripts/install-deps.sh).
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
bin=${COHORT_BIN:-$root/build/cohort}
peer=${PEER:-$root/../shared/peers/ddp_fashion.py}
epochs=${1:-3}
seeds=${2:-3}
out=${3:-$root/runs/cohort_methods}
model=${MODEL:-mlp}
ks=${KS:-2 4}
methods=${METHODS:-none mutual codistill}
threads=${THREADS:-2}
first_seed=${FIRST_SEED:-0}
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

for ((seed = first_seed; seed < first_seed + seeds; seed++)); do
  if [[ -f $peer ]]; then
    "$peer_python" "$peer" --model "$model" --epochs "$epochs" --seed "$seed" \
      --threads "$threads" --batch-size 64 --lr 0.05 --eval 1 2>/dev/null | tail -n 1 |
      python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(bench="cohort_methods", kind="peer", seed=int(sys.argv[1])); print(json.dumps(r))' "$seed" |
      tee -a "$results"
  fi
  for k in $ks; do
    for method in $methods; do
      run="$out/k$k-$method-seed$seed"
      rm -rf "$run"
      args=()
      for ((i = 0; i < k; i++)); do args+=(--set "network.$i.model=$model" --set "network.$i.lr=0.05"); done
      "$bin" train "$root/examples/configs/mlp.toml" --quiet --out "$run" \
        --set train.epochs="$epochs" --set train.seed="$seed" --set train.threads="$threads" \
        --set train.batch_size=64 --set cooperate.method="$method" "${args[@]}" \
        2>"$run.log" | tail -n 1 |
        python3 -c '
import json, sys
k, method, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = json.loads(sys.stdin.read())
accs = [n["test_accuracy"] for n in s["networks"]]
print(json.dumps({"bench": "cohort_methods", "kind": "run", "k": k, "method": method,
                  "seed": seed, "network_accuracy": accs,
                  "mean_network_accuracy": sum(accs) / len(accs),
                  "ensemble_accuracy": s["ensemble"]["test_accuracy"],
                  "wall_seconds": s["wall_seconds"], "run": s["run_dir"]}))' "$k" "$method" "$seed" |
        tee -a "$results"
    done
  done
done

/usr/bin/python3 - "$results" "$out" "$model" "$epochs" <<'PY'
import json, statistics, sys
results, out, model, epochs = sys.argv[1:]
rows = [json.loads(l) for l in open(results)]
def spread(xs):
    return statistics.stdev(xs) if len(xs) > 1 else 0.0
peer = [r["test_accuracy"] for r in rows if r["kind"] == "peer" and "test_accuracy" in r]
table = []
if peer:
    s = {"bench": "cohort_methods", "kind": "summary", "k": 1, "method": "peer (1 network)",
         "seeds": len(peer), "network_mean": statistics.mean(peer), "network_std": spread(peer)}
    table.append(s)
    print(json.dumps(s))
groups = {}
for r in rows:
    if r["kind"] == "run":
        groups.setdefault((r["k"], r["method"]), []).append(r)
order = ["none", "mutual", "codistill"]
rank = lambda m: order.index(m) if m in order else len(order)
for (k, method), rs in sorted(groups.items(), key=lambda g: (g[0][0], rank(g[0][1]), g[0][1])):
    nets = [a for r in rs for a in r["network_accuracy"]]
    ens = [r["ensemble_accuracy"] for r in rs]
    s = {"bench": "cohort_methods", "kind": "summary", "k": k, "method": method,
         "seeds": len(rs), "network_mean": statistics.mean(nets), "network_std": spread(nets),
         "ensemble_mean": statistics.mean(ens), "ensemble_std": spread(ens)}
    table.append(s)
    print(json.dumps(s))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(0)
labels = [f"K={s['k']}\n{s['method']}" if s["k"] > 1 else "peer\n1 net" for s in table]
x = range(len(table))
fig, ax = plt.subplots(figsize=(1.3 * len(table) + 2, 4))
ax.bar([i - 0.2 for i in x], [100 * s["network_mean"] for s in table], 0.4,
       yerr=[100 * s["network_std"] for s in table], label="each network", capsize=3)
ax.bar([i + 0.2 for i in x], [100 * s.get("ensemble_mean", float("nan")) for s in table], 0.4,
       yerr=[100 * s.get("ensemble_std", 0) for s in table], label="ensemble", capsize=3)
lo = min(100 * s["network_mean"] for s in table) - 2
ax.set_ylim(lo, 100 * max(s.get("ensemble_mean", s["network_mean"]) for s in table) + 1.5)
ax.set_xticks(list(x), labels, fontsize=8)
ax.set_ylabel("test accuracy (%)")
ax.set_title(f"Fashion-MNIST, {model}, {epochs} epochs: mean and std over seeds")
ax.legend()
fig.tight_layout()
fig.savefig(f"{out}/cohort_methods.png", dpi=110)
fig.savefig(f"{out}/cohort_methods.svg")
PY
