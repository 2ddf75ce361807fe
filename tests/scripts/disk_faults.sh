#!/usr/bin/env bash
# The run folder damaged while a run trains: made read-only, its newest
# checkpoint deleted, all its checkpoints deleted, a checkpoint partly deleted.
# A rank holds still at a known step (COHORT_INJECT_FAULT signal=stop) while the
# folder is damaged, so each case happens at the same point of the run every
# time. Each must end in a clear stop or a resumed run whose final weights and
# optimiser state are bitwise those of an undisturbed run: nothing lost.
# The full disk is in run_folder_safety.sh.
# Args: cohort-binary source-dir build-dir.
set -uo pipefail
bin=$1 src=$2
work=$(mktemp -d)
chmod 755 "$work"
cleanup() { pkill -KILL -f "$work/" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"
quick=("$src/examples/configs/mlp.toml" --quiet --set train.max_steps=300 --set train.threads=1
  --set train.checkpoint_every_steps=50 --set train.log_every=25)
pair=(--nproc 2 --set parallel.data=2)

# same_as REFERENCE RUN: their newest checkpoints are bitwise equal.
same_as() { "$python" "$src/tests/scripts/lib/same_checkpoints.py" "$1" "$2"; }

# wait_stopped PARENT: the pid of PARENT or of a child of it that stopped itself
# (state T), printed once there is one; fails after 60 s.
wait_stopped() {
  for _ in $(seq 1200); do
    for pid in "$1" $(pgrep -P "$1"); do
      if [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == T ]]; then
        echo "$pid"
        return 0
      fi
    done
    sleep 0.05
  done
  return 1
}

"$bin" train "${quick[@]}" --out "$work/ref1" >/dev/null || { echo "FAIL: reference run"; exit 1; }
start=$(now)
"$bin" train "${quick[@]}" "${pair[@]}" --out "$work/ref2" >/dev/null || { echo "FAIL: reference run"; exit 1; }
echo "undisturbed 2-rank run: $(seconds_since "$start") s"

# 1. The run folder made read-only at step 120 (as a user other than root, whom
# permissions do not stop): the checkpoint of step 150 cannot be written; the
# run stops saying so, the step-100 checkpoint is whole, and once the folder is
# writable again --resume ends where the undisturbed run did.
as_user=(setpriv --reuid nobody --regid nogroup --clear-groups)
if "${as_user[@]}" true 2>/dev/null; then
  mkdir "$work/ro" && chown nobody "$work/ro"
  COHORT_INJECT_FAULT="rank=0,step=120,signal=stop" "${as_user[@]}" "$bin" train "${quick[@]}" \
    --out "$work/ro/run" >"$work/stdout" 2>"$work/stderr" &
  runner=$!
  if stopped=$(wait_stopped "$runner"); then
    chmod -R a-w "$work/ro/run"
    kill -CONT "$stopped"
  fi
  wait "$runner"
  status=$?
  check "read-only: exit 1 (got $status)" test "$status" = 1
  check "read-only: one line naming the checkpoint and the cause" grep -qxE \
    "cohort: error: cannot write checkpoint .*/step-00000150: the run folder is not writable \(permission denied\); the previous checkpoints are kept \(make it writable, then continue with --resume\)" \
    "$work/stderr"
  check "read-only: no temporary folder" bash -c "! ls '$work/ro/run/checkpoints' | grep -q tmp"
  check "read-only: the step-100 checkpoint evaluates" "$bin" eval "$work/ro/run/checkpoints/step-00000100"
  chmod -R u+w "$work/ro/run"
  check "read-only: --resume once writable finishes" "${as_user[@]}" "$bin" train --resume "$work/ro/run" --quiet
  check "read-only: the resumed run ends bitwise as the undisturbed one" same_as "$work/ref1" "$work/ro/run"
else
  echo "skip: cannot run as user nobody here (setpriv): the read-only case did not run"
fi

# resumed_at RUN STEP: the run's last start (metrics.jsonl) took STEP's
# checkpoint (0: started afresh); prints the steps it redid.
resumed_at() {
  "$python" - "$1" "$2" <<'PY'
import json, sys
records = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl")]
starts = [i for i, r in enumerate(records) if r["kind"] == "start"]
want = int(sys.argv[2])
# Started afresh, the restarted job replaced the first attempt's records.
if want == 0:
    assert [records[i]["resumed_from"] for i in starts] == [""], records[starts[-1]]
    print("started afresh: every step redone")
    sys.exit(0)
assert len(starts) >= 2, f"{len(starts)} start records"
last = records[starts[-1]]
assert last["step"] == want, last
assert (last["resumed_from"] == "") == (want == 0), last
assert want == 0 or last["resumed_from"].endswith(f"step-{want:08d}"), last
logged = [r["step"] for r in records[:starts[-1]] if r["kind"] == "train"]
print(f"started at step {want}; {max(logged) - want} logged steps redone")
PY
}

# damaged_then_killed NAME ACTION: a 2-rank run whose rank 1 stops at step 170
# (checkpoints 50, 100, 150 written); ACTION damages the run folder; rank 1 is
# killed; the launcher restarts the group once, which resumes from what is left.
damaged_then_killed() {
  local name=$1 action=$2 run="$work/$1"
  COHORT_INJECT_FAULT="rank=1,step=170,signal=stop,once=$work/$name.once" \
    "$bin" train "${quick[@]}" "${pair[@]}" --max-restarts 1 --out "$run" \
    >"$work/$name.out" 2>"$work/$name.err" &
  local launcher=$! stopped killed
  if stopped=$(wait_stopped "$launcher"); then
    (cd "$run/checkpoints" && eval "$action")
    kill -KILL "$stopped"
    killed=$(now)
  fi
  wait "$launcher"
  local status=$?
  echo "$name: rank 1 killed at step 170; the job ended $(seconds_since "${killed:-0}") s later"
  check "$name: the restarted job finishes (exit $status)" test "$status" = 0
  check "$name: it ends bitwise as the undisturbed run" same_as "$work/ref2" "$run"
}

# 2. The newest checkpoint deleted, then a rank dies: the group resumes from step 100.
damaged_then_killed newest_deleted "rm -rf step-00000150"
check "newest_deleted: resumed from step 100" resumed_at "$work/newest_deleted" 100
sed 's/^/    /' "$work/check.out"
# 3. Every checkpoint deleted, then a rank dies: the group starts again from step 0.
damaged_then_killed all_deleted "rm -rf step-*"
check "all_deleted: started afresh" resumed_at "$work/all_deleted" 0
sed 's/^/    /' "$work/check.out"
# 4. The newest checkpoint partly deleted (its state.pt): it is not taken for one.
damaged_then_killed partly_deleted "rm step-00000150/state.pt"
check "partly_deleted: resumed from step 100" resumed_at "$work/partly_deleted" 100
sed 's/^/    /' "$work/check.out"
finish
