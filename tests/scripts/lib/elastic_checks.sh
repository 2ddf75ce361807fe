# Shared by the elastic scripts, after lib/expect.sh; $python and $src set.
# check_reformed LABEL FULL SHRUNK PLAYING FROM TO KILL_AT REF RUN: the launcher
# (its stderr in $work/err) re-formed the job on SHRUNK of FULL ranks, saying
# PLAYING ("each playing 2 of the 4 replicas"), and grew it back; RUN's metrics
# record FULL@0 SHRUNK@FROM FULL@TO; RUN's weights end within 1e-5 of REF's.
check_reformed() {
  local label=$1 full=$2 shrunk=$3 playing=$4 from=$5 to=$6 kill_at=$7 ref=$8 run=$9
  check "$label: re-formed on $shrunk of $full ranks" \
    grep -q "re-forming the job on $shrunk of $full ranks, $playing" "$work/err"
  check "$label: grown back at the next checkpoint" grep -q "growing it back to $full ranks" \
    "$work/err"
  local got
  got=$("$python" "$src/tests/scripts/lib/memberships.py" "$run")
  echo "    memberships (world size @ first step): $got; $((kill_at - from)) steps redone"
  check "$label: metrics record each membership: $full@0 $shrunk@$from $full@$to" \
    test "$got" = "$full@0 $shrunk@$from $full@$to"
  check "$label: the weights end where the undisturbed job's do (1e-5)" \
    "$python" "$src/tests/scripts/lib/compare_runs.py" "$ref" "$run"
  sed 's/^/    /' "$work/check.out"
}
