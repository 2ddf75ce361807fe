#!/usr/bin/env bash
# Synchronous DDP vs parameter servers (a few staleness bounds) vs local SGD (a
# few H) over slow links. Every rank is its own host: a network namespace on
# one switch (a bridge in a namespace of its own), each host's link shaped with
# tc tbf in both directions; latency comes from COHORT_COMM_DELAY_MS (every
# message a rank sends waits that long: netem is missing on these machines).
# Two workers everywhere (async adds one server host). Per (link, method): the
# wall seconds until the test accuracy, evaluated at every epoch's end, first
# reaches TARGET, or the best within CAP seconds. One JSON object per run, then
# `cohort report` over each link's runs (test accuracy against wall time).
#   sudo bench/async_network.sh [EPOCHS] [CAP_SECONDS] [TARGET] [OUT]
#   RATES="none 100mbit 10mbit" DELAY_MS=0 METHODS="sync async:-1 async:4 local:16" \
#   MODEL=cnn EXTRA="--set train.max_steps=100" bench/async_network.sh ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${COHORT_BIN:-$root/build/cohort}
epochs=${1:-3}
cap=${2:-900}
target=${3:-0.88}
out=${4:-$root/runs/async_network}
rates=${RATES:-none 100mbit 10mbit}
methods=${METHODS:-sync async:0 async:4 async:-1 local:4 local:16}
delay_ms=${DELAY_MS:-0}
model=${MODEL:-cnn}
read -r -a extra <<<"${EXTRA:-}"
[[ $(id -u) == 0 ]] || { echo "needs root for network namespaces" >&2; exit 77; }
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

prefix="an$$"
switch="${prefix}sw"
hosts=()
# By name, not from $hosts: run_one runs in a pipeline's subshell.
cleanup() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT

# make_hosts N RATE: hosts ${prefix}h0.. at 10.77.0.1.., each behind a veth to the switch.
make_hosts() {
  local n=$1 rate=$2 i
  cleanup
  hosts=()
  ip netns add "$switch"
  ip -n "$switch" link add br0 type bridge
  ip -n "$switch" link set br0 up
  for ((i = 0; i < n; i++)); do
    local h="${prefix}h$i"
    hosts+=("$h")
    ip netns add "$h"
    ip link add "${prefix}v$i" netns "$h" type veth peer name "p$i" netns "$switch"
    ip -n "$h" addr add "10.77.0.$((i + 1))/24" dev "${prefix}v$i"
    ip -n "$h" link set lo up
    ip -n "$h" link set "${prefix}v$i" up
    ip -n "$switch" link set "p$i" master br0
    ip -n "$switch" link set "p$i" up
    if [[ $rate != none ]]; then
      # The host's upload (its end) and download (the switch's end).
      ip netns exec "$h" tc qdisc add dev "${prefix}v$i" root tbf rate "$rate" burst 1mb latency 50ms
      ip netns exec "$switch" tc qdisc add dev "p$i" root tbf rate "$rate" burst 1mb latency 50ms
    fi
  done
}

run_one() {
  local rate=$1 method=$2 name="$1-${2/:/=}" args=(--set parallel.data=2) n=2
  case $method in
    sync) ;;
    async:*) n=3 args+=(--set parallel.mode=async --set parallel.servers=1
                        --set "parallel.staleness=${method#async:}") ;;
    local:*) args+=(--set parallel.mode=local-sgd --set "parallel.average_every=${method#local:}") ;;
  esac
  make_hosts "$n" "$rate"
  local run="$out/$name" port=$((20000 + RANDOM % 20000)) i pids=()
  rm -rf "$run"
  for ((i = 0; i < n; i++)); do
    COHORT_COMM_DELAY_MS=$delay_ms timeout -k 5 "$cap" ip netns exec "${hosts[$i]}" \
      "$bin" launch --nproc 1 --nnodes "$n" --node-rank "$i" --master-addr 10.77.0.1 \
      --master-port "$port" -- "$bin" train "$root/examples/configs/mlp.toml" --quiet \
      --out "$run" --set network.0.model="$model" --set train.epochs="$epochs" \
      --set train.threads=1 --set train.log_every=20 "${args[@]}" "${extra[@]}" \
      >"$out/$name.node$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  python3 - "$rate" "$method" "$delay_ms" "$target" "$cap" "$run" <<'PY'
import json, os, sys
rate, method, delay, target, cap, run = sys.argv[1:]
target = float(target)
records = []
path = os.path.join(run, "metrics.jsonl")
if os.path.exists(path):
    records = [json.loads(l) for l in open(path) if l.strip().endswith("}")]
evals = [r for r in records if r.get("kind") == "eval"]
# The leader's pace between its first and last training records: what the link
# allows, even when the cap comes before the first evaluation.
train = [r for r in records if r.get("kind") == "train"]
pace = ((train[-1]["wall_seconds"] - train[0]["wall_seconds"]) / (train[-1]["step"] - train[0]["step"])
        if len(train) > 1 else None)
hit = next((r for r in evals if r["test_accuracy"] >= target), None)
best = max((r["test_accuracy"] for r in evals), default=None)
print(json.dumps({"bench": "async_network", "link": rate, "delay_ms": float(delay),
                  "method": method, "target": target,
                  "seconds_to_target": hit["wall_seconds"] if hit else None,
                  "epoch_reached": hit["epoch"] + 1 if hit else None,
                  "steps_to_target": hit["step"] if hit else None,
                  "steps_done": train[-1]["step"] if train else 0,
                  "seconds_per_step": pace,
                  "best_accuracy": best, "cap_seconds": float(cap),
                  "last_eval_seconds": evals[-1]["wall_seconds"] if evals else None,
                  "epochs_evaluated": len(evals), "run": run}), flush=True)
PY
}


for rate in $rates; do
  for method in $methods; do run_one "$rate" "$method" | tee -a "$results"; done
  runs=()
  for method in $methods; do
    [[ -f "$out/$rate-${method/:/=}/metrics.jsonl" ]] && runs+=("$out/$rate-${method/:/=}")
  done
  ((${#runs[@]})) && "$bin" report "${runs[@]}" --out "$out/$rate.html" >/dev/null
done

# Per (link, method): the measured seconds to the target, or, where the cap came
# first, a projection: the steps the method needed on the fastest link times the
# seconds per step this link allowed (marked "projected").
/usr/bin/python3 - "$results" <<'PY' | tee -a "$results"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"kind"' not in l]
steps = {}
for r in rows:
    if r["steps_to_target"] is not None:
        steps.setdefault(r["method"], r["steps_to_target"])
for r in rows:
    out = {"bench": "async_network", "kind": "summary", "link": r["link"], "delay_ms": r["delay_ms"],
           "method": r["method"], "target": r["target"]}
    if r["seconds_to_target"] is not None:
        out.update(seconds_to_target=r["seconds_to_target"], how="measured")
    elif r["seconds_per_step"] and r["method"] in steps:
        out.update(seconds_to_target=steps[r["method"]] * r["seconds_per_step"], how="projected",
                   steps_needed=steps[r["method"]], seconds_per_step=r["seconds_per_step"])
    else:
        out.update(seconds_to_target=None, how="not reached")
    print(json.dumps(out))
PY

# One panel per link: test accuracy (each epoch's end) against wall seconds.
/usr/bin/python3 - "$results" "$out" "$target" <<'PY' || true
import json, os, sys
results, out, target = sys.argv[1], sys.argv[2], float(sys.argv[3])
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = [json.loads(l) for l in open(results) if '"kind"' not in l]
links = list(dict.fromkeys(r["link"] for r in rows))
fig, axes = plt.subplots(1, len(links), figsize=(4.5 * len(links), 3.6), sharey=True, squeeze=False)
for ax, link in zip(axes[0], links):
    for r in rows:
        if r["link"] != link:
            continue
        path = os.path.join(r["run"], "metrics.jsonl")
        evals = [e for e in map(json.loads, open(path))] if os.path.exists(path) else []
        evals = [e for e in evals if e.get("kind") == "eval"]
        ax.plot([0] + [e["wall_seconds"] for e in evals], [0.1] + [e["test_accuracy"] for e in evals],
                marker="o", label=r["method"])
    ax.axhline(target, color="grey", linestyle="--", linewidth=1)
    ax.set_title(f"link {link}, delay {rows[0]['delay_ms']:g} ms")
    ax.set_xlabel("wall seconds")
    ax.set_ylim(0.6, 0.95)
axes[0][0].set_ylabel("test accuracy")
axes[0][-1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(out, "async_network.png"), dpi=110)
PY
