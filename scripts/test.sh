#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite with CTest, then the
# unit tests under ASan+UBSan and each fuzzer for 60 s (scripts/sanitize.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${COHORT_BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
"$root/scripts/sanitize.sh" 60
