#!/usr/bin/env bash
# Elastic membership for members with their own layouts: three mlps learning
# from each other (mutual learning), one data-parallel over 2 ranks and two alone,
# on 4 ranks with `--nproc 2:4`, lose rank 3 (SIGKILLed at a step drawn from the
# seed), re-form on the 3 left with the members placed again over them (each
# keeping its replicas, so its rows and the global batch stay), grow back to 4 at
# the next checkpoint and end where the undisturbed job does; the same with the
# first member pipelined over 2 ranks, and under
# parallel.plan = "auto", which re-plans the placement for the ranks left. Then
# the layouts an elastic job cannot re-form, refused before any worker starts.
# Args: cohort-binary source-dir build-dir.
set -uo pipefail
bin=$1 src=$2
work=$(mktemp -d)
trap 'pkill -KILL -f "$work/" 2>/dev/null; rm -rf "$work"' EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"
source "$(dirname "$0")/lib/elastic_checks.sh"
members=(--set cooperate.method=mutual --set train.batch_size=32)
widths=("[64, 32]" "[32]" "[48]")
for k in 0 1 2; do
  members+=(--set "network.$k.model=mlp" --set "network.$k.widths=${widths[$k]}"
    --set "network.$k.lr=0.05" --set "network.$k.momentum=0.9")
done
settings=("$src/examples/configs/mlp.toml" --set train.max_steps=60 --set train.threads=1
  --set train.checkpoint_every_steps=20 --set train.log_every=10 "${members[@]}")
quick=("${settings[@]}" --quiet)
layout=(--set network.0.data=2 --set network.1.data=1 --set network.2.data=1)

# reform_case LABEL KILL_AT NAME REF ARGS...: the job of ARGS under --nproc 2:4,
# rank 3 SIGKILLed at step KILL_AT, re-forms on the 3 left, grows back at the
# next checkpoint and ends where the undisturbed 4-rank job REF does. Each
# member keeps its replicas, stages and rows wherever it is placed: the same
# sums in the same order, hence compare_runs.py's 1e-5 (the mutual exchange
# moves exact copies of the logits).
reform_case() {
  local label=$1 kill_at=$2 name=$3 ref=$4
  shift 4
  local from=$((kill_at / 20 * 20)) to=$((kill_at / 20 * 20 + 20)) start status
  [ -d "$ref" ] || "$bin" train "${quick[@]}" "$@" --nproc 4 --out "$ref" >/dev/null ||
    { check "$label: the reference run" false; return; }
  start=$(now)
  COHORT_INJECT_FAULT="rank=3,step=$kill_at,once=$work/once-$name" "$bin" train "${quick[@]}" \
    "$@" --nproc 2:4 --out "$work/$name" >"$work/out" 2>"$work/err"
  status=$?
  echo "$label: $(seconds_since "$start") s"
  sed 's/^/    /' "$work/err" | grep "cohort launch"
  check "$label: the job finishes (exit $status)" test "$status" = 0
  check_reformed "$label" 4 3 "its members placed again over them" "$from" "$to" "$kill_at" \
    "$ref" "$work/$name"
}

for seed in 1 2; do
  # 20..39: after the first checkpoint, and the re-formed job reaches the next.
  kill_at=$(( (seed * 7919) % 20 + 20 ))
  reform_case "members, seed $seed (rank 3 killed at step $kill_at)" "$kill_at" "run$seed" \
    "$work/ref" "${layout[@]}"
done

# A pipelined member re-forms as the others do: member 0 in two stages on ranks
# 0 and 1, the two mlps on ranks 2 and 3; on 3 ranks the last mlp goes to rank 0.
pipelined=(--set network.0.pipeline=2 --set network.0.data=1 --set network.1.data=1
  --set network.2.data=1)
reform_case "a pipelined member (rank 3 killed at step 33)" 33 pipe "$work/pipe-ref" \
  "${pipelined[@]}"

# parallel.plan = "auto" under --nproc 1:4: the launcher plans for up to 4 ranks
# (here as many as the cores, 2: more would only time-share them), no member
# over MIN = 1 replica, and places the members again for every smaller count.
# Rank 1 is killed; the job re-forms on the planner's placement for the ranks
# left (its `start` record says where the members went), grows back, and ends
# where a job of the same replicas placed round robin (the run's own
# config.toml, plan = manual) does.
# Wider mlps than above, and the link given (about what an idle machine
# measures): compute decides, so that one rank is never the plan. A measured
# link made it one when other tests loaded the cores (a 4 B allreduce waits on
# the scheduler); train_member_layouts_test runs the measured path.
kill_at=27 label="plan = auto (rank 1 killed at step 27)"
wide=(--set "network.0.widths=[512, 256]" --set "network.1.widths=[384]"
  --set "network.2.widths=[448]")
start=$(now)
COHORT_INJECT_FAULT="rank=1,step=$kill_at,once=$work/once-auto" "$bin" train "${settings[@]}" \
  "${wide[@]}" --set parallel.plan=auto --nproc 1:4 --link-gbps 1.5 --link-latency-us 60 \
  --out "$work/auto" >"$work/out" 2>"$work/err"
status=$?
echo "$label: $(seconds_since "$start") s"
grep -E "parallel.plan = auto: (link|predicted|on )|cohort launch" "$work/err" | sed 's/^/    /'
check "$label: the job finishes (exit $status)" test "$status" = 0
full=$(sed -nE 's/.*parallel.plan = auto: predicted step .* on ([0-9]+) ranks.*/\1/p' "$work/err")
check "$label: the plan uses 2 ranks or more, so losing one re-forms it (got '$full')" \
  test "${full:-0}" -ge 2
if [ "${full:-0}" -ge 2 ]; then
  shrunk=$((full - 1))
  planned=$(sed -nE "s/.*on $shrunk ranks the members would go ([0-9,;]+) .*/\1/p" "$work/err")
  placed=$("$python" -c 'import json, sys
print(*[r.get("member_ranks") for r in map(json.loads, open(sys.argv[1]))
        if r["kind"] == "start" and r["world_size"] == int(sys.argv[2])])' \
    "$work/auto/metrics.jsonl" "$shrunk")
  echo "    on $shrunk ranks: planned $planned, the workers placed $placed"
  check "$label: the re-formed workers place the members as planned" \
    test -n "$planned" -a "$planned" = "$placed"
  "$bin" train "$work/auto/config.toml" --quiet --nproc "$full" --out "$work/auto-ref" \
    >/dev/null 2>&1 || check "$label: the reference run" false
  check_reformed "$label" "$full" "$shrunk" "its members re-planned over them" 20 40 "$kill_at" \
    "$work/auto-ref" "$work/auto"
fi

refused() {  # refused LABEL MESSAGE ARGS...: exit 2 before any worker, saying MESSAGE
  local label=$1 message=$2; shift 2
  "$bin" train "${quick[@]}" "$@" --out "$work/refused" >/dev/null 2>"$work/err"
  local status=$?
  check "$label: refused before any worker starts (exit $status)" test "$status" = 2
  check "$label: it says why" grep -qF "$message" "$work/err"
  check "$label: no worker started" bash -c "! grep -q '\[rank' '$work/err'"
}
refused "a member with its own ranks" "network.1 ('mlp1') names its ranks, and a lost rank" \
  --set network.0.data=2 --set 'network.1.ranks=[2]' --set network.2.data=1 --nproc 2:3
refused "a member wider than MIN" "the members cannot re-form on 1 ranks" \
  "${layout[@]}" --nproc 1:4
finish
