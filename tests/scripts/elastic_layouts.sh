#!/usr/bin/env bash
# Elastic membership for replicas that are not one network on one rank: a
# ZeRO-3 job of 4 replicas, a tensor-parallel job of 2 replicas x 2 slices, a
# fused array of 4 mlps in 4 replicas and a pipeline of 2 replicas x 2 stages,
# each on 4 ranks with `--nproc 2:4`, lose a rank (SIGKILLed at a step drawn
# from the trial's seed), re-form on 2 ranks from the newest checkpoint (ZeRO:
# 2 ranks sharding, each playing 2 replicas; tensor: 1 replica of 2 slices,
# each slice playing both replicas; fused: each rank one batched step per
# replica it plays; pipeline: 1 replica running both replicas' micro-batches),
# grow back to 4 at the next checkpoint and end where the undisturbed job does.
# Args: cohort-binary source-dir build-dir.
set -uo pipefail
bin=$1 src=$2
work=$(mktemp -d)
trap 'pkill -KILL -f "$work/" 2>/dev/null; rm -rf "$work"' EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"
source "$(dirname "$0")/lib/elastic_checks.sh"
quick=("$src/examples/configs/mlp.toml" --quiet --set train.max_steps=60 --set train.threads=1
  --set train.checkpoint_every_steps=20 --set train.log_every=10)

# trial NAME SEED REPLICAS_LINE LAYOUT...: the undisturbed run, then the same
# with rank 3 killed once.
trial() {
  local name=$1 seed=$2 playing=$3; shift 3
  local layout=("$@")
  # 20..39: after the first checkpoint, and the re-formed job reaches the next.
  local kill_at=$(( (seed * 7919) % 20 + 20 ))
  local from=$(( kill_at / 20 * 20 )) to=$(( kill_at / 20 * 20 + 20 ))
  local label="$name (rank 3 killed at step $kill_at)"
  local start
  start=$(now)
  "$bin" train "${quick[@]}" "${layout[@]}" --nproc 4 --out "$work/$name-ref" >/dev/null ||
    { echo "FAIL: $name: the reference run"; failures=$((failures + 1)); return; }
  local undisturbed
  undisturbed=$(seconds_since "$start")
  start=$(now)
  COHORT_INJECT_FAULT="rank=3,step=$kill_at,once=$work/once-$name" "$bin" train "${quick[@]}" \
    "${layout[@]}" --nproc 2:4 --out "$work/$name" >"$work/out" 2>"$work/err"
  local status=$?
  echo "$label: $(seconds_since "$start") s, the undisturbed job $undisturbed s"
  sed 's/^/    /' "$work/err" | grep "cohort launch"
  check "$label: the job finishes (exit $status)" test "$status" = 0
  # Each replica's gradient is scaled by 1/(replicas played) and accumulated
  # before the reduce: the same numbers added in another order as the full
  # world's, hence compare_runs.py's 1e-5. (Short runs: this mlp's SGD at
  # lr 0.05 amplifies float32 reassociation from 1e-7 at step 30 to 1e-3 at
  # step 100 between any two layouts, DDP against one process included.)
  check_reformed "$label" 4 2 "$playing" "$from" "$to" "$kill_at" "$work/$name-ref" "$work/$name"
}

# Unclipped SGD, whose update scales with the accumulated gradient: a wrong
# 1/replicas shows (0.26 apart); clipping at 1.0 would hide it.
trial zero3 1 "each playing 2 of the 4 replicas" --set parallel.data=4 --set parallel.shard=3
trial tensor2 2 "each playing 2 of the 2 replicas" --set parallel.data=2 --set parallel.tensor=2
# Four mlps of other learning rates, learning from each other, as one fused array.
fused=(--set parallel.data=4 --set cooperate.fused=true --set cooperate.method=mutual)
for k in 1 2 3; do
  fused+=(--set "network.$k.model=mlp" --set "network.$k.widths=[256, 256]"
    --set "network.$k.lr=0.0$((k + 2))" --set "network.$k.momentum=0.9")
done
trial fused 3 "each playing 2 of the 4 replicas" "${fused[@]}"
# 2 replicas of a 2-stage pipeline: the one left runs both replicas' micro-batches.
trial pipeline 4 "each playing 2 of the 2 replicas" --set parallel.data=2 \
  --set parallel.pipeline=2 --set parallel.micro_batches=4

# A replica of 2 slices cannot re-form on fewer than 2 ranks.
"$bin" train "${quick[@]}" --set parallel.data=2 --set parallel.tensor=2 --nproc 1:4 \
  --out "$work/min1" >/dev/null 2>"$work/err"
status=$?
check "tensor 1:4: refused before any worker starts (exit $status)" test "$status" = 2
check "tensor 1:4: it says why" grep -q "a replica needs parallel.pipeline x parallel.tensor = 2 ranks; give MIN of at least 2" "$work/err"
finish
