#!/usr/bin/env bash
# The planner against measurement on this machine: a cnn and two mlps learning
# from each other (mutual learning, global batch 64, one thread per rank),
# trained under every placement of the members on 2 ranks that leaves no rank
# idle (up to swapping the ranks: the cnn on rank 0 or on both), or with NPROC =
# 4 (4 ranks time-sharing the 2 cores) under seven placements and the planner's
# and the naive ones; each measured by `cohort train` (step time = global batch
# / samples per second after warm-up) and predicted by `cohort plan`
# (given_step_seconds; also without the cores' sharing, as before the model
# had it), in interleaved rounds; medians. Then the planner's own choice and the
# naive layout (equal ranks per member, round-robin) among them, the best
# measured, and the prediction error. No Python peer: PyTorch has no
# per-member layouts.
#   bench/plan_measured.sh [ROUNDS] [STEPS] [OUT] [NPROC]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export COHORT_BIN=${COHORT_BIN:-$root/build/cohort}
export COHORT_ROUNDS=${1:-3} COHORT_STEPS=${2:-40} COHORT_NPROC=${4:-2}
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
suffix=$([ "$COHORT_NPROC" = 2 ] && echo "" || echo "_$COHORT_NPROC")
"${COHORT_PYTHON:-$root/.venv/bin/python}" - "$work" "$out/plan_measured$suffix.jsonl" <<'PY'
import itertools, json, os, statistics, subprocess, sys

work, results = sys.argv[1], sys.argv[2]
bin_, rounds, steps = os.environ["COHORT_BIN"], int(os.environ["COHORT_ROUNDS"]), os.environ["COHORT_STEPS"]
nproc = int(os.environ["COHORT_NPROC"])
config = os.path.join(work, "trio.toml")
names = ["cnn0", "mlp1", "mlp2"]

def layout_args(placement):
    args = []
    for k, ranks in enumerate(placement):
        args += ["--set", f"network.{k}.ranks=[{', '.join(map(str, ranks))}]"]
    return args

def key(placement):
    return " ".join(f"{n}:{'+'.join(map(str, r))}" for n, r in zip(names, placement))

def canonical(placement):  # on 2 ranks, swapped so that the cnn is on rank 0 or on both
    if nproc == 2 and placement[0] == (1,):
        placement = tuple(tuple(sorted(1 - r for r in ranks)) for ranks in placement)
    return tuple(tuple(sorted(r)) for r in placement)

def compact(placement):  # the ranks in use, numbered from 0: a plan may leave some idle
    used = sorted({r for ranks in placement for r in ranks})
    return tuple(tuple(used.index(r) for r in ranks) for ranks in placement), len(used)

def predict(placement, ranks=None):
    placement, used = compact(placement)
    cmd = [bin_, "plan", config, "--nproc", str(ranks or used), "--max-pipeline", "1"] + layout_args(placement)
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])

def uncontended(plan):  # the given layouts' step were every rank a core of its own
    busy = [0.0] * plan["ranks"]
    for m in plan["given_members"]:
        for r in m["ranks"]:
            busy[r] += m["step_seconds"]
    return max(b + plan["given_exchange_seconds"] for b in busy if b)

if nproc == 2:
    choices = [(0,), (1,), (0, 1)]
    placements = [p for p in itertools.product(choices, repeat=3)
                  if p[0] != (1,) and {r for ranks in p for r in ranks} == {0, 1}]
else:
    every = tuple(range(nproc))
    placements = [(every, every, every), (every, (0,), (1,)), (every, (0, 1), (2, 3)),
                  ((0, 1), (2,), (3,)), ((0, 1), (2, 3), (2, 3)), ((0,), (1,), (2, 3)),
                  ((0, 1), (0, 2), (1, 3))]
    first = predict(placements[0], nproc)  # the planner's choice on all the ranks
    for chosen in ("members", "naive_members"):
        p = canonical(tuple(tuple(m["ranks"]) for m in first[chosen]))
        if p not in placements:
            placements.append(p)

def measure(placement):
    run = os.path.join(work, "run")
    placement, used = compact(placement)
    cmd = [bin_, "train", config, "--quiet", "--nproc", str(used), "--out", run, "--overwrite",
           "--set", f"train.max_steps={steps}"] + layout_args(placement)
    summary = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    return 64 / summary["samples_per_sec"]

measured = {p: [] for p in placements}
predicted = {p: [] for p in placements}
unshared = {p: [] for p in placements}
plans = []
for r in range(rounds):
    for p in placements:
        measured[p].append(measure(p))
        plan = predict(p)
        predicted[p].append(plan["given_step_seconds"])
        unshared[p].append(uncontended(plan))
        plans.append(plan)
chosen = plans[-1] if nproc == 2 else first  # every 2-rank placement is measured
planned = canonical(tuple(tuple(m["ranks"]) for m in chosen["members"]))
naive = canonical(tuple(tuple(m["ranks"]) for m in chosen["naive_members"]))
rows = []
with open(results, "w") as f:
    for p in placements:
        m, e, u = (statistics.median(x[p]) for x in (measured, predicted, unshared))
        row = {"placement": key(p), "measured_ms": round(m * 1e3, 2), "predicted_ms": round(e * 1e3, 2),
               "prediction_error": round(e / m - 1, 3),
               "uncontended_prediction_error": round(u / m - 1, 3),
               "planned": p == planned, "naive": p == naive, "rounds": len(measured[p])}
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
               "median_abs_uncontended_prediction_error": round(statistics.median(abs(r["uncontended_prediction_error"]) for r in rows), 3),
               "within_20_percent": sum(abs(r["prediction_error"]) <= 0.2 for r in rows)}
    print(json.dumps(summary)); f.write(json.dumps(summary) + "\n")
PY
