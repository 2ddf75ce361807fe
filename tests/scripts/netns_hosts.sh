#!/usr/bin/env bash
# Two hosts, one rank each: network namespaces joined by veth (optionally
# bandwidth-limited with COHORT_NETNS_RATE, e.g. 200mbit), and every collective
# checked across them through `cohort launch --nnodes 2`.
# Args: cohort-binary source-dir build-dir. Exit 77 (skipped) where namespaces
# cannot be created (not root, no CAP_NET_ADMIN, no iproute2).
set -uo pipefail
cohort=$1 src=$2 build=$3
worker="$build/tests/cohort_test_worker"
source "$src/scripts/netns.sh"

if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null; then
  echo "SKIPPED: needs root and iproute2 to create network namespaces"
  exit 77
fi
prefix="ch$$"
trap netns_destroy EXIT
if ! netns_create "$prefix" "${COHORT_NETNS_RATE:-}"; then
  echo "SKIPPED: cannot create network namespaces here: $NETNS_ERROR"
  exit 77
fi

port=$((20000 + RANDOM % 20000))
out=$(mktemp -d)
trap 'netns_destroy; rm -rf "$out"' EXIT
for node in 0 1; do
  ns=$NETNS_A
  [[ $node == 1 ]] && ns=$NETNS_B
  timeout -k 5 120 ip netns exec "$ns" "$cohort" launch --nproc 1 --nnodes 2 --node-rank "$node" \
    --master-addr "$ADDR_A" --master-port "$port" -- "$worker" collectives \
    >"$out/node$node.log" 2>&1 &
  pids[$node]=$!
done
status=0
for node in 0 1; do
  wait "${pids[$node]}" || status=1
done
cat "$out/node0.log" "$out/node1.log"
if [[ $status != 0 ]]; then
  echo "FAILED: a node exited non-zero"
  exit 1
fi
for r in 0 1; do
  grep -q "^\[rank $r\] OK collectives" "$out"/node*.log || { echo "FAILED: no OK from rank $r"; exit 1; }
done
echo "PASSED: collectives across two namespaces ($ADDR_A, $ADDR_B)"
