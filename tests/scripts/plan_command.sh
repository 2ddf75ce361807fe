#!/usr/bin/env bash
# cohort plan end to end: a mixed cohort profiled on this machine and planned for
# 2 local ranks and for a described 64-rank cluster; the JSON line must describe
# a placement that is whole (every member's ranks match its layout, the step is
# the busiest rank's) and no worse than the naive one; bad input is one line.
set -uo pipefail
bin=$1 root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib/expect.sh"
py=${COHORT_PYTHON:-python3}
config="$root/examples/configs/mixed_cohort.toml"
quick=(--set train.threads=1 --repeats 2)

# check_plan FILE RANKS: the last line's plan is consistent.
check_plan() {
  "$py" - "$1" "$2" <<'PY'
import json, sys
plan = json.loads(open(sys.argv[1]).read().splitlines()[-1])
ranks = int(sys.argv[2])
assert plan["ranks"] == ranks, plan["ranks"]
busy = [0.0] * ranks
for m in plan["members"]:
    assert len(m["ranks"]) == m["data"] * m["pipeline"], m
    assert all(0 <= r < ranks for r in m["ranks"]), m
    for r in m["ranks"]:
        busy[r] += m["step_seconds"]
# Every rank in use also pays the members' exchange (mutual learning: no stale copies).
busy = [b + plan["exchange_seconds"] if b else 0.0 for b in busy]
# Busy ranks beyond this machine's cores time-share them: none faster than the
# host's work over its cores (one host here; the clusters give no cores).
cores, used = plan["cores_per_host"], [b for b in busy if b]
if cores and len(used) > cores:
    busy = [max(b, sum(used) / cores) if b else 0.0 for b in busy]
assert abs(max(busy) - plan["step_seconds"]) <= 1e-9 * plan["step_seconds"], (busy, plan)
assert plan["step_seconds"] <= plan["naive_step_seconds"] * (1 + 1e-9), plan
cnn = [m for m in plan["members"] if m["name"].startswith("cnn")][0]
assert all(len(cnn["ranks"]) >= len(m["ranks"]) for m in plan["members"]), plan
print("plan ok:", {m["name"]: (m["data"], m["pipeline"], m["ranks"]) for m in plan["members"]})
PY
}

"$bin" plan "$config" --nproc 2 "${quick[@]}" >"$work/local.out" 2>"$work/local.err"
check "plan for 2 local ranks exits 0" test $? -eq 0
check "its last line is a consistent plan" check_plan "$work/local.out" 2
check "it names the bottleneck" grep -q "bottleneck" "$work/local.out"
# The link between two ranks is measured (Gloo over loopback here: about 1.4
# GB/s and tens of microseconds), unless given.
check "it measures the link between two ranks" "$py" -c '
import json, sys
link = json.loads(open(sys.argv[1]).read().splitlines()[-1])["link"]
assert link["source"] == "measured", link
assert 0.01 < link["gbytes_per_second"] < 1000 and 0 <= link["latency_us"] < 1e5, link' \
  "$work/local.out"
"$bin" plan "$config" --nproc 2 --link-gbps 0.1 "${quick[@]}" >"$work/given_link.out" 2>&1
check "a given link is used as given" "$py" -c '
import json, sys
link = json.loads(open(sys.argv[1]).read().splitlines()[-1])["link"]
assert link == {"source": "given", "gbytes_per_second": 0.1, "latency_us": 200}, link' \
  "$work/given_link.out"

"$bin" plan "$config" --cluster "$root/examples/clusters/8x8.toml" "${quick[@]}" \
  >"$work/cluster.out" 2>"$work/cluster.err"
check "plan for a 64-rank cluster exits 0" test $? -eq 0
check "its last line is a consistent plan" check_plan "$work/cluster.out" 64

expect 2 "needs --nproc N" -- "$bin" plan "$config"
expect 2 "no such cluster file" -- "$bin" plan "$config" --cluster "$work/none.toml"
printf 'ranks = 8\nrank_per_host = 4\n' >"$work/typo.toml"
expect 2 "typo.toml:2: unknown key 'rank_per_host'" -- "$bin" plan "$config" --cluster "$work/typo.toml"
printf 'ranks = 8\n[within_host]\ngbytes_per_second = 0\n' >"$work/zero.toml"
expect 2 "within_host.gbytes_per_second must be positive" -- "$bin" plan "$config" --cluster "$work/zero.toml"
printf 'ranks_per_host = 4\n' >"$work/noranks.toml"
expect 2 "needs .ranks = N." -- "$bin" plan "$config" --cluster "$work/noranks.toml"
printf 'ranks = 2\nmemory_gb = 0.0001\n' >"$work/tiny.toml"
expect 2 "fits no layout on 2 ranks" -- "$bin" plan "$config" --cluster "$work/tiny.toml" "${quick[@]}"

# A config with its members' own layouts: their predicted step beside the plan;
# data-parallel plans only with --max-pipeline 1.
members="$root/examples/configs/member_layouts.toml"
"$bin" plan "$members" --nproc 3 --max-pipeline 1 "${quick[@]}" >"$work/given.out" 2>"$work/given.err"
check "plan of a config with its own layouts exits 0" test $? -eq 0
check "its last line is a consistent plan" check_plan "$work/given.out" 3
check "it predicts the config's own layouts" "$py" -c '
import json, sys
p = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert p["given_step_seconds"] > 0, p
assert all(m["pipeline"] == 1 for m in p["members"]), p' "$work/given.out"
expect 2 "rank 3 of 4 trains no network" -- "$bin" plan "$members" --nproc 4

# An elastic job's plan (--nproc MIN:MAX): data-parallel, no member over MIN
# replicas, and on every count of ranks from MIN below the plan's each member
# keeps its replicas on distinct ranks with every rank busy.
"$bin" plan "$config" --nproc 2:4 --link-gbps 1 --link-latency-us 50 "${quick[@]}" \
  >"$work/elastic.out" 2>"$work/elastic.err"
check "plan for --nproc 2:4 exits 0" test $? -eq 0
check "it says where the members go when ranks are lost" grep -q "if ranks are lost" \
  "$work/elastic.out"
check "its re-forms keep every member's replicas on every count from 2" "$py" -c '
import json, sys
p = json.loads(open(sys.argv[1]).read().splitlines()[-1])
used = sorted({r for m in p["members"] for r in m["ranks"]})
assert all(m["pipeline"] == 1 and m["data"] <= 2 for m in p["members"]), p
assert [f["ranks"] for f in p["reforms"]] == list(range(2, len(used))), p["reforms"]
for f in p["reforms"]:
    n = f["ranks"]
    assert [len(r) for r in f["member_ranks"]] == [m["data"] for m in p["members"]], f
    assert all(len(set(r)) == len(r) and all(0 <= x < n for x in r) for r in f["member_ranks"]), f
    assert sorted({x for r in f["member_ranks"] for x in r}) == list(range(n)), f
    assert f["step_seconds"] > 0, f
print("reforms ok:", [(f["ranks"], f["member_ranks"]) for f in p["reforms"]])' "$work/elastic.out"
finish
