#!/usr/bin/env bash
# The unit tests under ASan+UBSan, then each libFuzzer target for FUZZ_SECONDS
# (default 60, the CI budget) over its seed corpus. Any finding exits non-zero.
#   scripts/sanitize.sh          # CI: about 60 s per fuzzer
#   scripts/sanitize.sh 3600     # a longer hunt: an hour per fuzzer
# Build folder: $COHORT_SANITIZE_DIR (default build-sanitize/). Findings are kept
# in <build>/fuzz-findings/; replay one with
#   <build>/fuzz/idx_fuzzer <build>/fuzz-findings/idx-crash-...
# ThreadSanitizer runs over the one structure Cohort's own threads share (the
# parameter server's queue), built apart from libtorch: docs/reliability.md says why.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_seconds=${1:-60}
build=${COHORT_SANITIZE_DIR:-$root/build-sanitize}
logs=$build/sanitize-logs
failed=0

# One line per stage; the log's tail only when the stage fails.
stage() {
  local name=$1 log=$logs/$1.log start=$SECONDS
  shift
  if "$@" >"$log" 2>&1; then
    echo "sanitize: $name ok ($((SECONDS - start)) s)$(summary "$name" "$log")"
  else
    echo "sanitize: $name FAILED ($((SECONDS - start)) s), log: $log" >&2
    tail -n 40 "$log" >&2
    failed=1
  fi
}

summary() {
  case $1 in
    unit-tests*) grep -Eo '[0-9]+ tests? from [0-9]+ test suites? ran' "$2" | tail -1 | sed 's/^/: /' ;;
    *_fuzzer) awk '/stat::number_of_executed_units/ {runs=$2} /stat::new_units_added/ {n=$2}
                  END {if (runs) printf ": %d inputs, %d new in the corpus", runs, n}' "$2" ;;
  esac
}

configure_and_build() {
  # -O1 with line tables: readable sanitizer reports at a fraction of -g's build time.
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    -DCOHORT_BUILD_BENCH=OFF "${@:3}" &&
    cmake --build "$1" --parallel "$(nproc)" --target $2
}

# Input size caps near the formats' real headers and files: larger inputs only
# slow the search down (a seed checkpoint is about 2 KB).
max_len() {
  case $1 in
    idx) echo 4096 ;;
    config) echo 4096 ;;
    checkpoint) echo 16384 ;;
    csv) echo 2048 ;;
    image) echo 8192 ;;
    tensors) echo 8192 ;;
  esac
}

run_fuzzer() {
  local target=$1 scratch
  scratch=$(mktemp -d)
  # The corpus grows as the fuzzer runs; the build's seed folder stays as built.
  cp -r "$build/fuzz/corpus/$target" "$scratch/corpus"
  mkdir -p "$build/fuzz-findings"
  # -timeout: a single input parsing for 10 s is a hang. -rss_limit_mb (and the
  # malloc limit, which follows it) stops a header that claims gigabytes.
  local rc=0
  "$build/fuzz/${target}_fuzzer" -max_total_time="$fuzz_seconds" -max_len="$(max_len "$target")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-findings/$target-" "$scratch/corpus" || rc=$?
  rm -rf "$scratch"
  return $rc
}

mkdir -p "$logs"
stage build configure_and_build "$build" "cohort_unit_tests cohort_fuzzers" \
  -DCOHORT_SANITIZE=ON -DCOHORT_FUZZ=ON
if ((failed)); then exit 1; fi
stage unit-tests "$build/tests/cohort_unit_tests"
tsan_queue() {
  clang++ -fsanitize=thread -O1 -g -std=c++17 -I"$root/src" \
    "$root/tests/tsan/blocking_queue_tsan.cpp" -o "$build/blocking_queue_tsan" &&
    TSAN_OPTIONS=halt_on_error=1 "$build/blocking_queue_tsan"
}
stage tsan-queue tsan_queue
for target in idx config checkpoint csv image tensors; do
  stage "${target}_fuzzer" run_fuzzer "$target"
done

if ((failed)); then
  echo "sanitize: FAILED (logs in $logs, fuzz findings in $build/fuzz-findings)" >&2
  exit 1
fi
echo "sanitize: all stages passed"
