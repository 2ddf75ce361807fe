#!/usr/bin/env bash
# Cohort started by PyTorch's torchrun on one node, in every parallel mode, and
# torchrun's --max-restarts resuming from Cohort's checkpoint. Each run is checked
# against `cohort train --nproc N` with the same settings: the newest checkpoints
# equal to the bit (weights, buffers, optimiser state) and the same test accuracy
# and loss; parameter servers (updates in arrival order) by their push count.
# The docs' block (docs/launchers/torchrun.md, one-node) is run as written.
set -euo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-$src/.venv/bin/python}
torchrun=$(dirname "$python")/torchrun
if [[ ! -x $torchrun ]]; then
  echo "SKIPPED: no torchrun next to $python (pip install torch into it)"
  exit 77
fi
source "$src/tests/scripts/lib/launchers.sh"
enter_workspace
trap 'rm -rf "$work"' EXIT
ln -s "$torchrun" bin/torchrun
export PATH="$work/bin:$PATH"

# 1. The documented command, with rank 1 killed once at step 120: torchrun restarts
#    the group, which resumes from the step-100 checkpoint.
COHORT_INJECT_FAULT="rank=1,step=120,at=step,once=$work/fired" \
  run_doc_block "$src/docs/launchers/torchrun.md" one-node >doc.out 2>doc.err || {
  cat doc.out doc.err; echo "FAILED: the documented torchrun command"; exit 1; }
[[ -e fired ]] || { cat doc.err; echo "FAILED: the injected fault never fired"; exit 1; }
grep -q "resumed from runs/torchrun-data/checkpoints/step-00000100 (step 100)" doc.err || {
  cat doc.err; echo "FAILED: the restarted group did not resume from step 100"; exit 1; }
# From step 100, not from the start: the train records (every 50 steps) are not repeated.
steps=$("$python" -c 'import json,sys; print(*[r["step"] for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "train"])' runs/torchrun-data/metrics.jsonl)
[[ $steps == "50 100 150 200" ]] || { echo "FAILED: train records at steps $steps"; exit 1; }
cohort train examples/configs/mlp.toml --nproc 2 --set parallel.data=2 --set train.max_steps=200 \
  --set train.checkpoint_every_steps=50 --out ref-data --quiet >/dev/null
same_runs "torchrun --max-restarts 1, killed at step 120" ref-data runs/torchrun-data

# 2. Every other mode, short: 12 steps, one thread per rank.
short=(examples/configs/mlp.toml --quiet --set train.max_steps=12 --set train.threads=1
       --set train.checkpoint_every_steps=6)
modes=(
  "pipeline|2|--set parallel.pipeline=2 --set parallel.micro_batches=2"
  "data-x-pipeline|4|--set parallel.data=2 --set parallel.pipeline=2 --set parallel.micro_batches=2"
  "network-groups|2|--set parallel.network=2 --set network.1.model=mlp --set cooperate.method=mutual"
  "local-sgd|2|--set parallel.mode=local-sgd --set parallel.data=2 --set parallel.average_every=4"
  "async|3|--set parallel.mode=async --set parallel.data=2 --set parallel.servers=1"
)
for mode in "${modes[@]}"; do
  IFS='|' read -r name n sets <<<"$mode"
  # shellcheck disable=SC2086  # $sets is a list of words
  torchrun --standalone --nproc-per-node "$n" --no-python cohort train "${short[@]}" $sets \
    --out "tr-$name" >"tr-$name.log" 2>&1 || { cat "tr-$name.log"; echo "FAILED: torchrun, $name"; exit 1; }
  # shellcheck disable=SC2086
  cohort train "${short[@]}" $sets --nproc "$n" --out "ref-$name" >/dev/null
  if [[ $name == async ]]; then
    "$python" - "ref-$name/summary.json" "tr-$name/summary.json" <<'PY'
import json, sys
ref, run = (json.load(open(p))["async"] for p in sys.argv[1:])
assert run["lost_workers"] == [] and run["pushes"] == ref["pushes"] > 0, (run, ref)
print(f"async: {run['pushes']} pushes under torchrun and under --nproc, no worker lost")
PY
  else
    same_runs "$name ($n ranks)" "ref-$name" "tr-$name"
  fi
done
echo "PASSED: torchrun, one node: every mode, and --max-restarts resuming from a checkpoint"
