#!/usr/bin/env bash
# The planner against measurement on this machine: a cnn and two mlps learning
# from each other (mutual learning, global batch 64, one thread per rank),
# trained under every placement of the members on 2 ranks that leaves no rank
# idle (up to swapping the ranks: the cnn on rank 0 or on both, or pipelined
# over both with its first stage on rank 0, written cnn0:0>1), or with NPROC =
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
[parallel]
micro_batches = 4   # for the placements with the cnn pipelined,
partition = "time"  # cut as the cost model cuts it
TOML
suffix=$([ "$COHORT_NPROC" = 2 ] && echo "" || echo "_$COHORT_NPROC")
"${COHORT_PYTHON:-$root/.venv/bin/python}" - "$work" "$out/plan_measured$suffix.jsonl" <<'PY'
import itertools, json, os, statistics, subprocess, sys

work, results = sys.argv[1], sys.argv[2]
bin_, rounds, steps = os.environ["COHORT_BIN"], int(os.environ["COHORT_ROUNDS"]), os.environ["COHORT_STEPS"]
nproc = int(os.environ["COHORT_NPROC"])
config = os.path.join(work, "trio.toml")
names = ["cnn0", "mlp1", "mlp2"]

PIPE = "pipe"  # a member's entry (PIPE, r0, r1, ...): pipelined, stage s on rank r_s

def ranks_of(entry):
    return entry[1:] if entry[0] == PIPE else entry

def remap(entry, to):  # the entry on other ranks: a pipeline keeps its stage order
    return (PIPE,) + tuple(to(r) for r in entry[1:]) if entry[0] == PIPE else tuple(sorted(to(r) for r in entry))

def layout_args(placement):
    args = []
    for k, entry in enumerate(placement):
        ranks = ranks_of(entry)
        args += ["--set", f"network.{k}.ranks=[{', '.join(map(str, ranks))}]"]
        if entry[0] == PIPE:
            args += ["--set", f"network.{k}.pipeline={len(ranks)}", "--set", f"network.{k}.data=1"]
    return args

def key(placement):
    return " ".join(f"{n}:{'>'.join(map(str, e[1:])) if e[0] == PIPE else '+'.join(map(str, e))}"
                    for n, e in zip(names, placement))

def canonical(placement):  # on 2 ranks, swapped so that the cnn is on rank 0 or on both
    if nproc == 2 and placement[0] in ((1,), (PIPE, 1, 0)):
        return tuple(remap(e, lambda r: 1 - r) for e in placement)
    return tuple(remap(e, lambda r: r) for e in placement)

def compact(placement):  # the ranks in use, numbered from 0: a plan may leave some idle
    used = sorted({r for e in placement for r in ranks_of(e)})
    return tuple(remap(e, used.index) for e in placement), len(used)

def entries(plan, chosen):  # a plan's members as placement entries
    return tuple((PIPE,) + tuple(m["ranks"]) if m["pipeline"] > 1 else tuple(m["ranks"])
                 for m in plan[chosen])

def predict(placement, ranks=None):
    placement, used = compact(placement)
    cmd = [bin_, "plan", config, "--nproc", str(ranks or used)] + layout_args(placement)
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
                  if p[0] != (1,) and {r for e in p for r in e} == {0, 1}]
    placements += [((PIPE, 0, 1),) + p for p in itertools.product(choices, repeat=2)]
else:
    every = tuple(range(nproc))
    placements = [(every, every, every), (every, (0,), (1,)), (every, (0, 1), (2, 3)),
                  ((0, 1), (2,), (3,)), ((0, 1), (2, 3), (2, 3)), ((0,), (1,), (2, 3)),
                  ((0, 1), (0, 2), (1, 3))]
first = predict(placements[0], nproc)  # the planner's choice on all the ranks
for chosen in ("members", "naive_members"):
    p = canonical(entries(first, chosen))
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
for r in range(rounds):
    for p in placements:
        measured[p].append(measure(p))
        plan = predict(p)
        predicted[p].append(plan["given_step_seconds"])
        unshared[p].append(uncontended(plan))
planned = canonical(entries(first, "members"))
naive = canonical(entries(first, "naive_members"))
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
