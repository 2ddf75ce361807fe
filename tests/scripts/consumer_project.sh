#!/usr/bin/env bash
# cmake --install gives a package that another project finds with find_package(cohort).
set -euo pipefail
bin=$1 src=$2 build=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/consumer" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
test -x "$work/prefix/bin/cohort"
"$work/prefix/bin/cohort" --version

# The DDP example: a user-defined model wrapped in about 40 lines, built against the
# installed package and run as two real ranks under the installed launcher.
cmake -S "$src/examples/ddp_user_model" -B "$work/ddp" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/ddp" >/dev/null
timeout 300 "$work/prefix/bin/cohort" launch --nproc 2 -- "$work/ddp/ddp_user_model"
