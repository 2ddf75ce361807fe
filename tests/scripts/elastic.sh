#!/usr/bin/env bash
# Elastic membership, `cohort train --nproc MIN:MAX`: a data-parallel job loses
# a rank (SIGKILLed at a fixed step), re-forms on the survivors from its newest
# checkpoint, each playing several of the config's replicas, stops at its next
# checkpoint and grows back to MAX, and ends where the undisturbed job does.
# Below MIN it stops, saying so.
# Args: cohort-binary source-dir build-dir.
set -uo pipefail
bin=$1 src=$2
work=$(mktemp -d)
trap 'pkill -KILL -f "$work/" 2>/dev/null; rm -rf "$work"' EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"
source "$(dirname "$0")/lib/elastic_checks.sh"
quick=("$src/examples/configs/mlp.toml" --quiet --set train.max_steps=300 --set train.threads=1
  --set train.checkpoint_every_steps=50 --set train.log_every=10)

start=$(now)
"$bin" train "${quick[@]}" --nproc 2 --set parallel.data=2 --out "$work/ref" >/dev/null ||
  { echo "FAIL: the reference run"; exit 1; }
undisturbed=$(seconds_since "$start")

# 1. --nproc 1:2, rank 1 killed at a step drawn from the trial's seed: one rank
# plays both replicas from the newest checkpoint to the next, then two ranks
# again, and the job ends where the undisturbed one does.
for seed in 1 2; do
  kill_at=$(( (seed * 7919) % 200 + 30 ))  # 30..229: the re-formed job reaches a checkpoint before the end
  from=$(( kill_at / 50 * 50 )) to=$(( kill_at / 50 * 50 + 50 ))
  trial="trial $seed (killed at step $kill_at)"
  start=$(now)
  COHORT_INJECT_FAULT="rank=1,step=$kill_at,once=$work/once$seed" "$bin" train "${quick[@]}" \
    --nproc 1:2 --set parallel.data=2 --out "$work/shrunk$seed" >"$work/out" 2>"$work/err"
  status=$?
  echo "$trial: $(seconds_since "$start") s, the undisturbed job $undisturbed s"
  sed 's/^/    /' "$work/err" | grep "cohort launch"
  check "$trial: the job finishes (exit $status)" test "$status" = 0
  check "$trial: the summary is the last line" bash -c "tail -1 '$work/out' | grep -q '\"steps\":300'"
  # The re-formed rank adds each replica's gradient times 1/2 where the full
  # world's allreduce adds the two and halves the sum: for two replicas the same
  # to the bit (halving is exact in float32); for other counts the same numbers
  # added in another order, hence the 1e-5 of compare_runs.py.
  check_reformed "$trial" 2 1 "each playing 2 of the 2 replicas" "$from" "$to" "$kill_at" \
    "$work/ref" "$work/shrunk$seed"
done

# 2. --nproc 3:4 on four replicas, one rank killed: the three left cannot share
# four replicas evenly, and two would be fewer than MIN: the job stops, saying so.
COHORT_INJECT_FAULT="rank=2,step=20" "$bin" train "${quick[@]}" --set train.max_steps=40 \
  --nproc 3:4 --set parallel.data=4 --out "$work/below" >/dev/null 2>"$work/err"
status=$?
check "3:4: the job stops (exit $status)" test "$status" != 0
check "3:4: it says why" grep -q "the 3 ranks left cannot share the job's 4 replicas evenly, and fewer than 3 would be too few (--nproc 3:4)" "$work/err"
finish
