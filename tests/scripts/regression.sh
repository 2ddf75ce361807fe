#!/usr/bin/env bash
# Regression end to end (data.task = "regression"): real-valued targets from a
# tensor file (two per sample) and from a CSV column, the zoo's mlp fitted to
# them, trained alone, in every cooperative method, beside a control network and
# across processes; data parallelism and pipelines equal to one process;
# `cohort eval` agreeing with the run; inputs that cannot be regressed on refused.
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"
"$python" "$(dirname "$0")/lib/write_data.py" "$work" || { echo "FAIL: could not write the data"; exit 1; }

tensors=(--set data.format=tensors --set data.train="$work/reg_train.pt"
         --set data.test="$work/reg_test.pt" --set data.task=regression)
csv=(--set data.format=csv --set data.train="$work/reg_train.csv" --set data.test="$work/reg_test.csv"
     --set data.task=regression --set data.target=y)
train=("$bin" train "$2/examples/configs/mlp.toml" --quiet --set train.threads=1
       --set train.batch_size=32 --set train.epochs=6 --set 'network.0.widths=[64, 64]'
       --set network.0.lr=0.02)
two=(--set network.1.model=mlp --set 'network.1.widths=[64, 64]' --set network.1.lr=0.02)
three=("${two[@]}" --set network.2.model=mlp --set 'network.2.widths=[64, 64]' --set network.2.lr=0.01)

# fits NAME DATA(tensors|csv) ENSEMBLE(yes|no) -- ARGS...: trains; every network's
# and the ensemble's test mean squared error is under a third of the targets'
# variance (what predicting their mean scores), and the summary is a regression's.
fits() {
  local name=$1 data=$2 ensemble=$3; shift 4
  cases=$((cases + 1))
  timeout 300 "${train[@]}" "$@" --out "$work/run-$name" >"$work/out" 2>"$work/err"
  local status=$?
  if [[ $status != 0 ]]; then
    echo "FAIL: $name: exit $status"; sed 's/^/    /' "$work/err" | tail -5
    failures=$((failures + 1)); return
  fi
  if "$python" - "$work/out" "$work/reg_test.$data" "$data" "$ensemble" >"$work/check" 2>&1 <<'PY'; then
import csv, json, sys, torch
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
if sys.argv[3] == "pt":
    y = torch.load(sys.argv[2])["targets"]
else:
    y = torch.tensor([float(r["y"]) for r in csv.DictReader(open(sys.argv[2]))]).unsqueeze(1)
baseline = y.var(0, unbiased=False).mean().item()
assert s["task"] == "regression", s
results = s["networks"] + ([s["ensemble"]] if "ensemble" in s else [])
assert ("ensemble" in s) == (sys.argv[4] == "yes"), s
assert all("test_accuracy" not in r for r in results), results
errors = [r["test_loss"] for r in results]
assert max(errors) < baseline / 3, (errors, baseline)
print(" ".join(f"{e:.3f}" for e in errors) + f" (predicting the mean: {baseline:.3f})")
PY
    echo "ok: $name: test mean squared error $(cat "$work/check")"
  else
    echo "FAIL: $name:"; sed 's/^/    /' "$work/check" | tail -3
    failures=$((failures + 1))
  fi
}

fits tensors pt no -- "${tensors[@]}"
fits csv csv no -- "${csv[@]}"
fits mutual-with-control pt yes -- "${tensors[@]}" "${three[@]}" --set cooperate.method=mutual \
  --set network.2.cooperate=false
fits codistill pt yes -- "${tensors[@]}" "${two[@]}" --set cooperate.method=codistill \
  --set cooperate.exchange_every=20
fits ensemble csv yes -- "${csv[@]}" "${two[@]}" --set cooperate.method=ensemble
fits pbt pt yes -- "${tensors[@]}" "${three[@]}" --set cooperate.method=pbt --set cooperate.pbt_interval=20
fits fused pt yes -- "${tensors[@]}" "${two[@]}" --set cooperate.method=mutual --set cooperate.fused=true \
  --set network.0.momentum=0.9 --set network.1.momentum=0.9
fits data-parallel pt no -- "${tensors[@]}" --nproc 2 --set parallel.data=2
fits network-groups pt yes -- "${tensors[@]}" "${two[@]}" --set cooperate.method=mutual --nproc 2 \
  --set parallel.network=2
fits async pt no -- "${tensors[@]}" --nproc 3 --set parallel.mode=async --set parallel.servers=1 \
  --set parallel.data=2
fits pipeline csv no -- "${csv[@]}" --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=4

# `cohort eval` of the saved run gives the run's own numbers.
cases=$((cases + 1))
if "$bin" eval "$work/run-mutual-with-control" >"$work/eval" 2>"$work/err" &&
   "$python" - "$work/eval" "$work/run-mutual-with-control/summary.json" >"$work/check" 2>&1 <<'PY'; then
import json, sys
e = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
s = json.load(open(sys.argv[2]))
assert e["task"] == "regression", e
for a, b in zip(e["networks"] + [e["ensemble"]], s["networks"] + [s["ensemble"]]):
    assert abs(a["test_loss"] - b["test_loss"]) <= 1e-6 * b["test_loss"], (a, b)
print(f"{len(e['networks'])} networks and the ensemble")
PY
  echo "ok: cohort eval agrees with the run: $(cat "$work/check")"
else
  echo "FAIL: cohort eval:"; cat "$work/err" "$work/check" | tail -3; failures=$((failures + 1))
fi

# Equivalence: 2 replicas of 32 samples, and 2 pipeline stages of 4 micro-batches,
# against one process with the whole batch of 64, after 12 SGD steps; the same
# float32 sums in another order stay below 1e-5 (lib/compare_runs.py).
exact=("${tensors[@]}" --set train.batch_size=64 --set train.max_steps=12 --set network.0.momentum=0.5)
timeout 300 "${train[@]}" "${exact[@]}" --out "$work/eq-single" >/dev/null 2>&1 \
  || { echo "FAIL: the single-process reference did not train"; exit 1; }
same_as_single() {  # NAME ARGS...
  local name=$1; shift
  cases=$((cases + 1))
  timeout 300 "${train[@]}" "${exact[@]}" "$@" --out "$work/eq-$name" >/dev/null 2>"$work/err"
  local status=$?
  if [[ $status != 0 ]]; then
    echo "FAIL: equivalence $name: exit $status"; tail -3 "$work/err"; failures=$((failures + 1)); return
  fi
  if "$python" "$(dirname "$0")/lib/compare_runs.py" "$work/eq-single" "$work/eq-$name" >"$work/check" 2>&1; then
    echo "ok: $name equals one process: $(cat "$work/check")"
  else
    echo "FAIL: $name differs from one process:"; tail -3 "$work/check"; failures=$((failures + 1))
  fi
}
same_as_single data-parallel --nproc 2 --set parallel.data=2 --set train.batch_size=32
same_as_single pipeline --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=4

# What cannot be regressed on: one line naming the input, exit 2, no run folder.
"$python" - "$work" <<'EOF'
import sys, torch
work = sys.argv[1]
d = torch.load(f"{work}/reg_test.pt")
d["targets"][3, 1] = float("nan")
torch.save(d, f"{work}/nan.pt")
torch.save({"inputs": d["inputs"], "targets": d["targets"][:, 0]}, f"{work}/one_target.pt")
EOF
bad=("${train[@]}" --set train.max_steps=2)
reg_tensors() { echo --set data.format=tensors --set data.task=regression --set data.train="$1" --set data.test="$2"; }
expect 2 "nan.pt: 'targets' holds NaN or infinite values" -- "${bad[@]}" --out "$work/bad1" \
  $(reg_tensors "$work/nan.pt" "$work/reg_test.pt")
expect 2 "one_target.pt: holds 1 targets per sample, the training split 2" -- "${bad[@]}" --out "$work/bad2" \
  $(reg_tensors "$work/reg_train.pt" "$work/one_target.pt")
expect 2 "data.task = 'regression' needs real-valued targets, which data.format = 'images' does not hold" \
  -- "${bad[@]}" --out "$work/bad3" --set data.format=images --set data.task=regression
expect 2 "reg_train.pt: 'targets' must be a vector of N class indices .*set data.task = 'regression'" \
  -- "${bad[@]}" --out "$work/bad4" --set data.format=tensors --set data.train="$work/reg_train.pt" \
  --set data.test="$work/reg_test.pt"
expect 2 "reg_train.csv: row 2, column 'y': .* is not a class index .*set data.task = 'regression'" \
  -- "${bad[@]}" --out "$work/bad5" --set data.format=csv --set data.train="$work/reg_train.csv" \
  --set data.test="$work/reg_test.csv" --set data.target=y
expect 2 "data.task = 'ranking' is not one of" -- "${bad[@]}" --out "$work/bad6" "${tensors[@]}" \
  --set data.task=ranking
check "no run folder is left by a refused run" bash -c "! ls -d '$work'/bad* 2>/dev/null"
finish
