#!/usr/bin/env bash
# torchrun --nnodes 1:2 across two hosts (network namespaces joined by a veth
# pair, one rank each), running the block of docs/launchers/torchrun.md
# (elastic-hosts) as written: host B is lost mid-run (everything in its
# namespace SIGKILLed), the job re-forms on host A alone, whose rank plays both
# replicas from the newest checkpoint; host B's agent starts again and the job
# grows back to 2 ranks; the run ends with the weights of `cohort train
# --nproc 2` with the same settings. Exit 77 (skipped) where namespaces cannot
# be created.
set -uo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-$src/.venv/bin/python}
source "$src/scripts/netns.sh"
source "$src/tests/scripts/lib/launchers.sh"
source "$src/tests/scripts/lib/expect.sh"
skip_unless_torchrun_hosts
enter_workspace
trap 'ip netns pids "$NETNS_A" 2>/dev/null | xargs -r kill -9; ip netns pids "$NETNS_B" 2>/dev/null |
  xargs -r kill -9; netns_destroy; rm -rf "$work"' EXIT
ln -s "$torchrun" bin/torchrun
if ! netns_create "te$$" ""; then
  echo "SKIPPED: cannot create network namespaces here: $NETNS_ERROR"
  exit 77
fi
port=$((20000 + RANDOM % 20000))  # in fresh namespaces: nothing else listens there
run=runs/torchrun-elastic

# host NODE NAMESPACE ADDRESS: that host's agent, in the background (A serves
# the rendezvous).
host() {
  local serves=false
  [[ $1 == A ]] && serves=true
  RDZV_HOST=$ADDR_A NODE_ADDR=$3 RDZV_IS_HOST=$serves timeout -k 5 300 ip netns exec "$2" \
    bash -c "source '$src/tests/scripts/lib/launchers.sh'; bin='$bin' src='$src' \
             run_doc_block '$src/docs/launchers/torchrun.md' elastic-hosts $port" >>"$1.log" 2>&1 &
}

# wait_for SECONDS DESCRIPTION PYTHON-CONDITION: polls the run's metrics records
# (`records`, parsed) until the condition holds.
wait_for() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    "$python" - "$run/metrics.jsonl" "$3" <<'PY' 2>/dev/null && return 0
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.endswith("\n")]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
    sleep 0.2
  done
  echo "FAIL: no $2 within $1 s"
  return 1
}
starts='[r for r in records if r["kind"] == "start"]'
steps='[r["step"] for r in records if r["kind"] == "train"]'

# B first: its agent waits for A's rendezvous store, so both join the first round.
host B "$NETNS_B" "$ADDR_B"
sleep 1
host A "$NETNS_A" "$ADDR_A"
pid_a=$!
wait_for 120 "training on 2 ranks past step 60" "$starts[-1]['world_size'] == 2 and max($steps) >= 60" ||
  { cat A.log B.log; exit 1; }
start=$(now)
ip netns pids "$NETNS_B" | xargs -r kill -9  # host B is lost: its agent and its worker
check "the job re-forms on host A alone, playing both replicas" \
  wait_for 120 "a start on 1 rank" "$starts[-1]['world_size'] == 1 and $starts[-1]['replicas_per_rank'] == 2"
reformed=$(seconds_since "$start")
host B "$NETNS_B" "$ADDR_B"  # host B is back
check "the job grows back to 2 ranks" \
  wait_for 120 "a start on 2 ranks after it" "[s['world_size'] for s in $starts][-2:] == [1, 2]"
wait "$pid_a"
status=$?
check "host A's torchrun finishes (exit $status)" test "$status" = 0
sleep 1
ip netns pids "$NETNS_B" | xargs -r kill -9
got=$("$python" "$src/tests/scripts/lib/memberships.py" "$run")
echo "memberships (world size @ first step): $got; re-formed ${reformed} s after host B was lost"
sed 's/^/    /' A.log | grep -E "resumed from|each playing|rendezvous.*world of size" | head -8
check "metrics record each membership: 2, then 1, then 2" \
  bash -c "[[ '$got' =~ ^2@0\ 1@[0-9]+\ 2@[0-9]+$ ]]"

"$bin" train examples/configs/cnn.toml --nproc 2 --set parallel.data=2 --set train.threads=1 \
  --set train.max_steps=300 --set train.checkpoint_every_steps=50 --set train.log_every=10 \
  --out ref --quiet >/dev/null
# Two replicas on one rank add each gradient times 1/2 where two ranks' allreduce
# adds them and halves the sum: the same to the bit (halving is exact).
check "the weights end where the undisturbed 2-rank run's do (1e-5)" \
  "$python" "$src/tests/scripts/lib/compare_runs.py" ref "$run"
sed 's/^/    /' "$work/check.out"
[[ $failures == 0 ]] || { echo "--- host A"; tail -30 A.log; echo "--- host B"; tail -30 B.log; }
finish
