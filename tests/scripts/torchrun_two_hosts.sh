#!/usr/bin/env bash
# torchrun --nnodes 2 across two hosts: network namespaces joined by a veth pair
# (scripts/netns.sh), one rank in each, running the block of
# docs/launchers/torchrun.md (two-nodes) as written. The result must equal
# `cohort train --nproc 2` with the same settings, to the bit.
# Exit 77 (skipped) where namespaces cannot be created (not root, no CAP_NET_ADMIN).
set -uo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-$src/.venv/bin/python}
source "$src/scripts/netns.sh"
source "$src/tests/scripts/lib/launchers.sh"
skip_unless_torchrun_hosts
enter_workspace
trap 'netns_destroy; rm -rf "$work"' EXIT
ln -s "$torchrun" bin/torchrun
if ! netns_create "tr$$" ""; then
  echo "SKIPPED: cannot create network namespaces here: $NETNS_ERROR"
  exit 77
fi
port=$((20000 + RANDOM % 20000))  # in fresh namespaces: nothing else listens there
for node in 0 1; do
  ns=$NETNS_A
  [[ $node == 1 ]] && ns=$NETNS_B
  NODE_RANK=$node MASTER_ADDR=$ADDR_A timeout -k 5 180 ip netns exec "$ns" \
    bash -c "source '$src/tests/scripts/lib/launchers.sh'; bin='$bin' src='$src' \
             run_doc_block '$src/docs/launchers/torchrun.md' two-nodes $port" >"node$node.log" 2>&1 &
  pids[node]=$!
done
status=0
for node in 0 1; do wait "${pids[node]}" || status=1; done
if [[ $status != 0 ]]; then
  cat node0.log node1.log
  echo "FAILED: a node exited non-zero"
  exit 1
fi
set -e
# Each namespace "host" has one rank and sees every core, so each rank ran with all
# of them (train.threads = 0: online cores / local ranks); so does the reference.
# Two such ranks oversubscribe the cores, which is why the block trains 50 steps.
"$bin" train examples/configs/mlp.toml --nproc 2 --set parallel.data=2 --set train.max_steps=50 \
  --set train.threads="$(getconf _NPROCESSORS_ONLN)" --out ref --quiet >/dev/null
same_runs "torchrun --nnodes 2 ($ADDR_A, $ADDR_B)" ref runs/torchrun-two-nodes
echo "PASSED: torchrun across two network-namespace hosts"
