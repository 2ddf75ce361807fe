# Shared by the bad-input scripts: run a case, check its exit status, that stderr
# is exactly one line with the expected words, and count the outcome.
# Sourcing scripts set $work (a scratch folder) first.
failures=0 cases=0

# expect STATUS PATTERN -- COMMAND...
expect() {
  local want=$1 pattern=$2; shift 3
  cases=$((cases + 1))
  local err="$work/stderr"
  timeout 120 "$@" >"$work/stdout" 2>"$err"
  local got=$?
  local lines
  lines=$(wc -l <"$err")
  if [[ $got -ne $want ]] || [[ $lines -ne 1 ]] || ! grep -qE -- "$pattern" "$err"; then
    echo "FAIL: $* -> exit $got (want $want), $lines stderr lines, wanted /$pattern/:"
    sed 's/^/    /' "$err" | head -5
    failures=$((failures + 1))
  else
    echo "ok: $(cat "$err")"
  fi
}

# check DESCRIPTION COMMAND...: a condition that must hold after a case.
check() {
  local what=$1; shift
  cases=$((cases + 1))
  if "$@" >"$work/check.out" 2>&1; then
    echo "ok: $what"
  else
    echo "FAIL: $what"
    sed 's/^/    /' "$work/check.out" | tail -5
    failures=$((failures + 1))
  fi
}

# A folder's files and their contents, to show it untouched.
fingerprint() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# Timing for the fault tables: `start=$(now)`, later `seconds_since "$start"`.
now() { date +%s.%N; }
seconds_since() { awk -v from="$1" -v to="$(now)" 'BEGIN { printf "%.1f", to - from }'; }

finish() {
  echo "$((cases - failures)) passed, $failures failed"
  [[ $failures -eq 0 ]]
}
