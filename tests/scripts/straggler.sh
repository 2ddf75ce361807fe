#!/usr/bin/env bash
# A straggler, made the way one happens: rank 1 of a 2-rank data-parallel job is
# pinned to a core it shares with three busy processes, rank 0 to the other core.
# metrics.jsonl must name rank 1, with its busy time against rank 0's; the job
# itself trains on at the slow rank's pace and finishes.
set -uo pipefail
bin=$1
work=$(mktemp -d)
busy=()
cleanup() { kill "${busy[@]}" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"
if [[ $(nproc) -lt 2 ]] || ! command -v taskset >/dev/null; then
  echo "skip: needs two cores and taskset to slow one rank down"; exit 77
fi

"$bin" train "$2/examples/configs/mlp.toml" --nproc 2 --set parallel.data=2 \
  --set network.0.model=cnn --set train.max_steps=200 --set train.log_every=20 --set train.threads=1 \
  --out "$work/run" >"$work/out" 2>"$work/err" &
launcher=$!
# The launcher's two workers, by the RANK the launcher gave each.
declare -A pid_of=()
for _ in $(seq 600); do
  for pid in $(pgrep -P "$launcher"); do
    rank=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^RANK=//p')
    [[ -n $rank ]] && pid_of[$rank]=$pid
  done
  [[ ${#pid_of[@]} == 2 ]] && break
  sleep 0.05
done
if [[ ${#pid_of[@]} != 2 ]]; then
  echo "FAIL: did not find the two workers of launcher $launcher"; wait "$launcher"; exit 1
fi
taskset -a -p -c 1 "${pid_of[0]}" >/dev/null
taskset -a -p -c 0 "${pid_of[1]}" >/dev/null
for _ in 1 2 3; do taskset -c 0 sh -c 'while :; do :; done' & busy+=($!); done
wait "$launcher"
status=$?
kill "${busy[@]}" 2>/dev/null

check "the slowed job finishes (exit $status)" test "$status" = 0
# The first records may predate the pinning: the last half must name rank 1.
check "metrics.jsonl names rank 1 the straggler" "$python" - "$work/run/metrics.jsonl" <<'PY'
import json, sys
ranks = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "ranks"]
assert len(ranks) >= 8, f"{len(ranks)} ranks records"
assert all(len(r["busy_seconds"]) == 2 for r in ranks), ranks[0]
late = ranks[len(ranks) // 2:]
named = [r for r in late if r["straggler"] and r["slowest_rank"] == 1]
print(f"{len(named)} of the last {len(late)} intervals name rank 1; busy rank 1 over rank 0:",
      " ".join(f"{r['busy_seconds'][1] / max(r['busy_seconds'][0], 1e-9):.1f}" for r in late))
assert len(named) * 2 > len(late), late
PY
cat "$work/check.out"
check "the progress display says so" grep -q "rank 1 is straggling" "$work/err"
finish
