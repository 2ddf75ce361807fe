#!/usr/bin/env bash
# Faults on the wire between two hosts (network namespaces joined by veth, one
# rank each, `cohort launch --nnodes 2`), in the middle of a 2-replica run:
#   1. the link down for 3 s: TCP carries the collectives over the gap and the
#      job ends bitwise as the undisturbed one;
#   2. the link down for good, and 3. every packet to and from host B dropped
#      (a blackhole qdisc on both ends: the link stays up, nothing answers):
#      each host stops on its own within the bound, naming the other host, and
#      the run resumes from its newest checkpoint to the same end.
# Bound: parallel.timeout_seconds (10) + 2 s of asking the store who answered +
# 3 s for a store that does not answer + the launcher's grace: 30 s.
# Args: cohort-binary source-dir build-dir. Exit 77 (skipped) where namespaces
# cannot be created (not root, no CAP_NET_ADMIN, no iproute2).
set -uo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-python3}
source "$src/scripts/netns.sh"
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
  echo "SKIPPED: needs root, iproute2 and tc to create network namespaces"
  exit 77
fi
work=$(mktemp -d)
trap 'netns_destroy; pkill -KILL -f "$work/" 2>/dev/null; rm -rf "$work"' EXIT
if ! netns_create "nf$$" ""; then
  echo "SKIPPED: cannot create network namespaces here: $NETNS_ERROR"
  exit 77
fi
source "$(dirname "$0")/lib/expect.sh"
veth() { ip -n "$1" -o link show type veth | awk -F'[ :@]+' '{print $2}'; }
veth_a=$(veth "$NETNS_A") veth_b=$(veth "$NETNS_B")
bound=30
settings=("$src/examples/configs/mlp.toml" --quiet --set parallel.data=2 --set train.max_steps=600
  --set train.threads=1 --set train.checkpoint_every_steps=100 --set parallel.timeout_seconds=10)

# same_end REFERENCE RUN: their newest checkpoints are bitwise equal.
same_end() { "$python" "$src/tests/scripts/lib/same_checkpoints.py" "$1" "$2"; }

"$bin" train "${settings[@]}" --nproc 2 --out "$work/ref" >/dev/null ||
  { echo "FAIL: the reference run"; exit 1; }

# two_hosts NAME FAULT: the run on two hosts; FAULT (shell) runs once the step-100
# checkpoint exists. Sets $status0 $status1 (exit statuses) and $took (seconds from
# the fault to the later of the two exits).
two_hosts() {
  local name=$1 fault=$2 port=$((20000 + RANDOM % 20000)) node ns
  local pids=()
  for node in 0 1; do
    ns=$NETNS_A
    [[ $node == 1 ]] && ns=$NETNS_B
    timeout -k 5 240 ip netns exec "$ns" "$bin" launch --nproc 1 --nnodes 2 --node-rank "$node" \
      --master-addr "$ADDR_A" --master-port "$port" -- "$bin" train "${settings[@]}" \
      --out "$work/$name" >"$work/$name.node$node" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1200); do
    [[ -d $work/$name/checkpoints/step-00000100 ]] && break
    sleep 0.05
  done
  local at
  at=$(now)
  eval "$fault"
  wait "${pids[0]}"
  status0=$?
  wait "${pids[1]}"
  status1=$?
  took=$(seconds_since "$at")
  echo "$name: node 0 exit $status0, node 1 exit $status1, $took s after the fault"
}

# 1. A link down for 3 s.
two_hosts blip "ip -n $NETNS_B link set $veth_b down; sleep 3; ip -n $NETNS_B link set $veth_b up"
check "blip: both hosts finish" test "$status0:$status1" = 0:0
check "blip: the run ends bitwise as the undisturbed one" same_end "$work/ref" "$work/blip"

# lost NAME FAULT HEAL: the fault cuts host B off for good; both hosts must stop
# within the bound, each naming the other; after HEAL, the run resumes from
# its checkpoint (here on one host, two ranks) to the undisturbed end.
lost() {
  local name=$1 fault=$2 heal=$3
  two_hosts "$name" "$fault"
  grep -h "cohort: error" "$work/$name".node* | sed 's/^/    /'
  check "$name: both hosts stop with an error" test "$status0" != 0 -a "$status1" != 0 \
    -a "$status0" != 124 -a "$status1" != 124
  check "$name: within ${bound} s" awk "BEGIN { exit !($took < $bound) }"
  check "$name: host A names rank 1 on host B" \
    grep -q "timed out after 10000 ms; ranks that did not answer: global rank 1 (on host $ADDR_B)" \
    "$work/$name.node0"
  check "$name: host B names host A's store" \
    grep -q "timed out after 10000 ms; the job's store (on host $ADDR_A) did not answer either" \
    "$work/$name.node1"
  eval "$heal"
  check "$name: the run resumes from its checkpoint" \
    "$bin" train --resume "$work/$name" --nproc 2 --quiet
  check "$name: and ends bitwise as the undisturbed one" same_end "$work/ref" "$work/$name"
}

# 2. The link down for good.
lost link_down "ip -n $NETNS_B link set $veth_b down" "ip -n $NETNS_B link set $veth_b up"
# 3. Host B's traffic dropped both ways, the link up.
lost dropped \
  "ip netns exec $NETNS_A tc qdisc replace dev $veth_a root blackhole && ip netns exec $NETNS_B tc qdisc replace dev $veth_b root blackhole" \
  "ip netns exec $NETNS_A tc qdisc del dev $veth_a root; ip netns exec $NETNS_B tc qdisc del dev $veth_b root"
finish
