#!/usr/bin/env bash
# Nothing a run wrote is lost: a new run refuses a folder holding another, a
# failed resume leaves the run resumable, a report never replaces its sources, a
# full disk keeps the previous checkpoint, Ctrl-C writes a final checkpoint (and
# exits 130, under --nproc too), and a loss that turns NaN stops the run.
# Args: cohort-binary source-dir build-dir.
set -uo pipefail
bin=$1 src=$2
work=$(mktemp -d)
cleanup() { umount "$work/small" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
source "$(dirname "$0")/lib/expect.sh"
quick=("$src/examples/configs/mlp.toml" --quiet --set train.max_steps=4 --set train.threads=1
  --set train.checkpoint_every_steps=2)

"$bin" train "${quick[@]}" --out "$work/run" >/dev/null 2>&1 || { echo "FAIL: could not train"; exit 1; }
before=$(fingerprint "$work/run")
untouched() { [[ $(fingerprint "$work/run") == "$before" ]]; }

# A new run into a folder that holds one.
expect 2 "$work/run already holds a run: continue it with --resume" -- "$bin" train "${quick[@]}" --out "$work/run"
expect 2 "already holds a run" -- "$bin" train "${quick[@]}" --out "$work/run" --nproc 2 --set parallel.data=2
check "the refused runs left the run untouched" untouched
# A resume whose --set does not fit the checkpoint: config.toml stays as it was.
expect 2 "has shape 256x784 in the checkpoint but 64x784 in the model" -- "$bin" train --resume "$work/run" --quiet --set 'network.0.widths=[64]'
check "the failed resume left the run untouched" untouched
# --auto-resume with another config: refused, not silently ignored.
expect 2 "--auto-resume: .* holds a run of another config \\(\\[train\\] batch_size = 64 in its config.toml, batch_size = 32 in CONFIG and --set\\)" -- "$bin" train "${quick[@]}" --set train.batch_size=32 --out "$work/run" --auto-resume
check "the refused auto-resume left the run untouched" untouched
# A report never replaces what it reads.
expect 2 "--out $work/run/metrics.jsonl exists and is not a report cohort wrote" -- "$bin" report "$work/run" --out "$work/run/metrics.jsonl"
check "the refused report left the run untouched" untouched
# --overwrite replaces the run, and only then.
check "--overwrite starts afresh" "$bin" train "${quick[@]}" --set train.max_steps=2 --out "$work/run" --overwrite
check "the overwritten run holds only the new one" \
  bash -c "[[ \$(ls '$work/run/checkpoints') == step-00000002 && \$(grep -c '\"step\":4' '$work/run/metrics.jsonl') -eq 0 ]]"

# A writer that died mid-checkpoint left a temporary folder: the next start removes it.
mkdir "$work/run/checkpoints/step-00000003.tmp-999999"
check "a resume succeeds next to a dead writer's temporary folder" "$bin" train --resume "$work/run" --quiet --set train.max_steps=4
check "the dead writer's temporary folder is gone" test ! -e "$work/run/checkpoints/step-00000003.tmp-999999"

# A full disk during a checkpoint: the previous one survives, nothing half-written.
mkdir "$work/small"
if mount -t tmpfs -o size=3m tmpfs "$work/small" 2>/dev/null; then
  expect 1 "cannot write checkpoint .*step-00000004: the disk is full; the previous checkpoints are kept" -- "$bin" train "${quick[@]}" --out "$work/small/run"
  check "the step-2 checkpoint survived the full disk" test -f "$work/small/run/checkpoints/step-00000002/manifest.json"
  check "no temporary folder fills the disk" bash -c "! ls '$work/small/run/checkpoints' | grep -q tmp"
  check "the surviving checkpoint evaluates" "$bin" eval "$work/small/run"
  umount "$work/small"
else
  echo "skip: cannot mount a small tmpfs here (not root?): the full-disk case did not run"
fi

# Divergence: a NaN loss stops the run naming the network and the step, and no
# checkpoint of the NaN weights replaces the last good one.
expect 1 "network 'mlp' diverged at step [0-9]+: its loss is (NaN|infinite); the last good checkpoint is .*step-" -- "$bin" train "$src/examples/configs/mlp.toml" --quiet --set train.threads=1 --set train.checkpoint_every_steps=2 --set train.max_steps=200 --set network.0.lr=10 --set network.0.momentum=0.99 --out "$work/nan"
diverged=$(sed -n 's/.*diverged at step \([0-9]*\).*/\1/p' "$work/stderr")
newest=$(ls "$work/nan/checkpoints" | tail -1)
check "the newest checkpoint ($newest) predates the divergence (step $diverged)" \
  test "$((10#${newest#step-}))" -lt "${diverged:-0}"
check "a report of the diverged run is written" "$bin" report "$work/nan"

# Ctrl-C: a final checkpoint at the step reached, exit 130, and the resume continues from it.
interrupt() {  # interrupt RUN_DIR EXTRA_ARGS...: start, wait for progress, SIGINT, return the status
  local dir=$1; shift
  "$bin" train "$src/examples/configs/mlp.toml" "$@" --quiet --set train.threads=1 --set train.epochs=50 \
    --set train.log_every=5 --out "$dir" >/dev/null 2>"$dir.err" &
  local pid=$!
  for _ in $(seq 300); do
    [[ -f $dir/metrics.jsonl && $(wc -l <"$dir/metrics.jsonl") -ge 3 ]] && break
    sleep 0.1
  done
  kill -INT "$pid"
  wait "$pid"
}
interrupt "$work/int1"; status=$?
check "SIGINT exits 130 (got $status)" test "$status" -eq 130
check "SIGINT prints one line naming the saved checkpoint" \
  bash -c "[[ \$(wc -l <'$work/int1.err') -eq 1 ]] && grep -q 'stopped by SIGINT after step [0-9]*: saved .*step-' '$work/int1.err'"
step=$(sed -n 's/.*after step \([0-9]*\).*/\1/p' "$work/int1.err")
check "the final checkpoint is at the interrupted step ($step)" test -d "$work/int1/checkpoints/$(printf 'step-%08d' "${step:-0}")"
check "the interrupted run resumes" "$bin" train --resume "$work/int1" --quiet --set train.epochs=1 --set train.max_steps=$((step + 3))

interrupt "$work/int2" --nproc 2 --set parallel.data=2; status=$?
check "SIGINT under --nproc 2 exits 130 as one process does (got $status)" test "$status" -eq 130
check "rank 0 saved the final checkpoint under --nproc 2" grep -q "saved .*step-" "$work/int2.err"

finish
