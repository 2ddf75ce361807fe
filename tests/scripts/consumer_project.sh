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

# A program with its own model class and data (examples/own_model), built against
# the installed package, running Cohort's command line: a two-network
# mutual-learning cohort over two processes on the tensor files it writes.
cmake -S "$src/examples/own_model" -B "$work/own" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/own" >/dev/null
own="$work/own/own_model"
help=$("$own" --help)
grep -q "Models (network.N.model): mlp, cnn, resnet, residual_mlp" <<<"$help"
cd "$work"
"$own" make-data data
set +e
"$own" train "$src/examples/own_model/own_model.toml" --set network.0.model=residual_mpl \
  --set parallel.network=1 --out bad 2>bad.err
status=$?
set -e
test "$status" = 2 || { echo "an unregistered model gave exit $status, not 2"; exit 1; }
grep -q "unknown model 'residual_mpl': choose one of mlp, cnn, resnet, residual_mlp" bad.err
test ! -e bad/config.toml
timeout 300 "$own" train "$src/examples/own_model/own_model.toml" --nproc 2 --quiet --out run \
  > summary.json
"$COHORT_PYTHON" - summary.json <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
nets = s["networks"]
assert [n["model"] for n in nets] == ["residual_mlp"] * 2, nets
# Four classes (chance 0.25) around centres about 2.8 noise deviations apart.
for n in nets:
    assert n["test_accuracy"] > 0.7, n
print("own_model:", ", ".join(f'{n["name"]} {100 * n["test_accuracy"]:.1f}%' for n in nets),
      f'ensemble {100 * s["ensemble"]["test_accuracy"]:.1f}%')
PY
