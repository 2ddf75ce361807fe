# Two "hosts" on one machine: network namespaces joined by a veth pair, with an
# optional token-bucket bandwidth limit. Source this file, then:
#   netns_create PREFIX [RATE]   # RATE as tc understands it (1gbit, 100mbit); "" = none
#   ip netns exec "$NETNS_A" ...; ip netns exec "$NETNS_B" ...   # addresses $ADDR_A $ADDR_B
#   netns_destroy                 # also deletes the veth pair
# Needs root (CAP_NET_ADMIN). netns_create returns 1 with a reason in
# $NETNS_ERROR when namespaces cannot be made here.

netns_create() {
  local prefix=$1 rate=${2:-}
  # A random /24 in 10.0.0.0/8 keeps concurrent runs from sharing addresses.
  local net="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"
  NETNS_A="${prefix}a"
  NETNS_B="${prefix}b"
  ADDR_A="$net.1"
  ADDR_B="$net.2"
  local veth_a="${prefix:0:10}va" veth_b="${prefix:0:10}vb"
  if ! NETNS_ERROR=$(ip netns add "$NETNS_A" 2>&1); then
    return 1
  fi
  if ! NETNS_ERROR=$({
    ip netns add "$NETNS_B" &&
      ip link add "$veth_a" type veth peer name "$veth_b" &&
      ip link set "$veth_a" netns "$NETNS_A" &&
      ip link set "$veth_b" netns "$NETNS_B" &&
      ip -n "$NETNS_A" addr add "$ADDR_A/24" dev "$veth_a" &&
      ip -n "$NETNS_B" addr add "$ADDR_B/24" dev "$veth_b" &&
      ip -n "$NETNS_A" link set lo up && ip -n "$NETNS_B" link set lo up &&
      ip -n "$NETNS_A" link set "$veth_a" up && ip -n "$NETNS_B" link set "$veth_b" up
  } 2>&1); then
    netns_destroy
    return 1
  fi
  if [[ -n "$rate" ]]; then
    # burst must hold at least one timer tick of traffic at the rate; 1 MB does
    # up to ~10 Gbit/s at HZ=1000.
    local dev ns
    for pair in "$NETNS_A:$veth_a" "$NETNS_B:$veth_b"; do
      ns=${pair%%:*}
      dev=${pair#*:}
      if ! NETNS_ERROR=$(ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate "$rate" \
        burst 1mb latency 50ms 2>&1); then
        netns_destroy
        return 1
      fi
    done
  fi
  return 0
}

netns_destroy() {
  [[ -n "${NETNS_A:-}" ]] && ip netns del "$NETNS_A" 2>/dev/null
  [[ -n "${NETNS_B:-}" ]] && ip netns del "$NETNS_B" 2>/dev/null
  return 0
}
