#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite with CTest, then the
# unit tests under ASan+UBSan and each fuzzer for 60 s (scripts/sanitize.sh).
# Each part's wall time is printed as it ends ("test.sh: build 1021 s").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "test.sh: $name $((SECONDS - start)) s"
}
timed install-deps "$root/scripts/install-deps.sh"
timed build "$root/scripts/build.sh"
cd "${COHORT_BUILD_DIR:-$root/build}"
timed ctest ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
timed sanitize "$root/scripts/sanitize.sh" 60
