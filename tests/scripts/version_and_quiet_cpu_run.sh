#!/usr/bin/env bash
# `cohort --version` names the libtorch it was built against (the venv's torch)
# and whether CUDA and NCCL are compiled in; a CPU run of a CUDA build on a
# machine without a GPU prints nothing alarming (no CUDA, NCCL or glog warnings).
set -euo pipefail
bin=$1 src=$2 build=$3
python=${COHORT_PYTHON:-$src/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$("$bin" --version)
echo "$version"
[[ $version == "cohort "*"(libtorch "* ]] || { echo "no libtorch version in: $version" >&2; exit 1; }
if [[ -x $python ]] && grep -q "$(dirname "$(dirname "$python")")" "$build/CMakeCache.txt"; then
  torch=$("$python" -c 'import torch; print(torch.__version__.split("+")[0])')
  [[ $version == *"libtorch $torch;"* ]] || { echo "built against $torch, --version says: $version" >&2; exit 1; }
  cuda=$("$python" -c 'import torch; print(int(torch.version.cuda is not None))')
  if ((cuda)); then
    [[ $version == *"CUDA "*" and NCCL "*" compiled in"* ]] ||
      { echo "a CUDA libtorch, but --version says: $version" >&2; exit 1; }
  fi
fi
"$bin" train "$src/examples/configs/mlp.toml" --out "$work/run" --set train.max_steps=20 \
  --set train.threads=1 >"$work/out" 2>"$work/err"
if grep -iE "warn|cuda|nccl|driver|^[WE][0-9]{4}" "$work/err"; then
  echo "the CPU run printed the lines above on stderr" >&2
  exit 1
fi
# bf16 autocast on the CPU: trains and reports a finite loss.
"$bin" train "$src/examples/configs/mlp.toml" --quiet --out "$work/bf16" --set train.max_steps=20 \
  --set train.threads=1 --set train.precision=bf16 | tail -1 | "$python" -c '
import json, math, sys
r = json.loads(sys.stdin.read())
loss = r["networks"][0]["test_loss"]
assert math.isfinite(loss) and loss < 2.3, loss
print("bf16 autocast on the CPU: test loss", round(loss, 4))'
