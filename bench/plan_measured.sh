#!/usr/bin/env bash
# The planner against measurement on this machine's 2 ranks: a cnn and two mlps
# learning from each other (mutual learning, global batch 64, one thread per
# rank), trained under every placement of the members on 2 ranks that leaves no
# rank idle (up to swapping the ranks: the cnn on rank 0 or on both), each
# measured by `cohort train` (step time = global batch / samples per second after
# warm-up) and predicted by `cohort plan` (given_step_seconds), in interleaved
# rounds; medians. Then the planner's own choice and the naive layout (equal
# ranks per member, round-robin) among them, the best measured, and the
# prediction error. No Python peer: PyTorch has no per-member layouts.
#   bench/plan_measured.sh [ROUNDS] [STEPS] [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export COHORT_BIN=${COHORT_BIN:-$root/build/cohort}
export COHORT_ROUNDS=${1:-3} COHORT_STEPS=${2:-40}
out=${3:-runs/plan_measured}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/trio.toml" <<'TOML'
[train]
epochs = 1
batch_size = 64
threads = 1
[[network]]
model = "cnn"
[[network]]
model = "mlp"
[[network]]
model = "mlp"
widths = [256, 128]
[cooperate]
method = "mutual"
TOML
"${COHORT_PYTHON:-$root/.venv/bin/python}" - "$work" "$out/plan_measured.jsonl" <<'PY'
import itertools, json, os, statistics, subprocess, sys

work, results = sys.argv[1], sys.argv[2]
bin_, rounds, steps = os.environ["COHORT_BIN"], int(os.environ["COHORT_ROUNDS"]), os.environ["COHORT_STEPS"]
config = os.path.join(work, "trio.toml")
names = ["cnn0", "mlp1", "mlp2"]

def layout_args(placement):
    args = []
    for k, ranks in enumerate(placement):
        args += ["--set", f"network.{k}.ranks=[{', '.join(map(str, ranks))}]"]
    return args

def key(placement):
    return " ".join(f"{n}:{'+'.join(map(str, r))}" for n, r in zip(names, placement))

def canonical(placement):  # ranks swapped so that the cnn is on rank 0 or on both
    if placement[0] == (1,):
        placement = tuple(tuple(sorted(1 - r for r in ranks)) for ranks in placement)
    return tuple(tuple(sorted(r)) for r in placement)

choices = [(0,), (1,), (0, 1)]
placements = [p for p in itertools.product(choices, repeat=3)
              if p[0] != (1,) and {r for ranks in p for r in ranks} == {0, 1}]

def measure(placement):
    run = os.path.join(work, "run")
    cmd = [bin_, "train", config, "--quiet", "--nproc", "2", "--out", run, "--overwrite",
           "--set", f"train.max_steps={steps}"] + layout_args(placement)
    summary = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    return 64 / summary["samples_per_sec"]

def predict(placement):
    cmd = [bin_, "plan", config, "--nproc", "2", "--max-pipeline", "1"] + layout_args(placement)
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])

measured = {p: [] for p in placements}
predicted = {p: [] for p in placements}
plans = []
for r in range(rounds):
    for p in placements:
        measured[p].append(measure(p))
        plan = predict(p)
        predicted[p].append(plan["given_step_seconds"])
        plans.append(plan)
planned = canonical(tuple(tuple(m["ranks"]) for m in plans[-1]["members"]))
naive = canonical(tuple(tuple(m["ranks"]) for m in plans[-1]["naive_members"]))
rows = []
with open(results, "w") as f:
    for p in placements:
        m, e = statistics.median(measured[p]), statistics.median(predicted[p])
        row = {"placement": key(p), "measured_ms": round(m * 1e3, 2), "predicted_ms": round(e * 1e3, 2),
               "prediction_error": round(e / m - 1, 3), "planned": p == planned, "naive": p == naive,
               "rounds": len(measured[p])}
        rows.append(row)
        print(json.dumps(row)); f.write(json.dumps(row) + "\n")
    best = min(rows, key=lambda x: x["measured_ms"])
    by = {r["placement"]: r for r in rows}
    summary = {"summary": True, "placements": len(rows),
               "planned": key(planned), "planned_ms": by[key(planned)]["measured_ms"],
               "naive": key(naive), "naive_ms": by[key(naive)]["measured_ms"],
               "best": best["placement"], "best_ms": best["measured_ms"],
               "planned_gain_over_naive": round(1 - by[key(planned)]["measured_ms"] / by[key(naive)]["measured_ms"], 3),
               "planned_over_best": round(by[key(planned)]["measured_ms"] / best["measured_ms"], 3),
               "median_abs_prediction_error": round(statistics.median(abs(r["prediction_error"]) for r in rows), 3),
               "within_20_percent": sum(abs(r["prediction_error"]) <= 0.2 for r in rows)}
    print(json.dumps(summary)); f.write(json.dumps(summary) + "\n")
PY
