#!/usr/bin/env bash
# The GPU check: builds Cohort against the machine's own torch and runs what
# needs a GPU: the CUDA unit tests, short CUDA training runs (fp32 and bf16
# autocast, two ranks over NCCL where two GPUs are visible) and a short GPU
# throughput benchmark against the same model in eager PyTorch on the same GPU.
#
#   scripts/gpu-check.sh --prepare   # here, with the registry: .gpu-deps/*.deb
#   scripts/gpu-check.sh [OUT]       # there: no registry; torch, CMake, ninja, nvcc
#
# The GPU machine has no package registry, so --prepare downloads the Debian
# packages the build needs besides torch (header libraries, protobuf and its
# compiler, googletest's sources, gloo's headers, zlib's, the image and CSV
# libraries) into .gpu-deps/, which travels with the working tree (ignored by git,
# 16 MB); the check unpacks them into a folder of its own, never into /. Ends
# within about 8 minutes on 16 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=$root/.gpu-deps
packages=(libcli11-dev libtomlplusplus-dev libtomlplusplus3 nlohmann-json3-dev libgloo-dev
  libprotobuf-dev libprotobuf32 protobuf-compiler libprotoc32 googletest libgtest-dev
  libboost1.74-dev zlib1g-dev
  libpng-dev libpng16-16 libturbojpeg0-dev libturbojpeg0 libcsv-dev libcsv3  # data sources
  dataset-fashion-mnist)  # the training runs' and the bench's data (31 MB)

if [[ ${1:-} == --prepare ]]; then
  mkdir -p "$deps"
  (cd "$deps" && apt-get download "${packages[@]}")
  # The bench's eager peer: ../shared does not travel to the GPU machine.
  mkdir -p "$deps/peers"
  cp "${COHORT_PEERS:-$root/../shared/peers}/ddp_fashion.py" "$deps/peers/"
  echo "gpu-check: $(ls "$deps"/*.deb | wc -l) packages in $deps; carry .gpu-deps"
  exit 0
fi

out=${1:-${OUT:-$root/gpu-check-out}}
mkdir -p "$out"
python=${COHORT_PYTHON:-$(command -v python3)}
prefix=/tmp/cohort-gpu-deps/root
build=/tmp/cohort-gpu-build
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "gpu-check: $python has no torch; set COHORT_PYTHON" >&2
  exit 2
fi
if [[ -d $deps ]] && ls "$deps"/*.deb >/dev/null 2>&1; then
  mkdir -p "$prefix"
  for f in "$deps"/*.deb; do dpkg -x "$f" "$prefix"; done
  multiarch=$prefix/usr/lib/x86_64-linux-gnu
  # zlib1g-dev's libz.so points at Debian's exact libz.so.1.2.13: use this machine's.
  [[ -e $multiarch/libz.so ]] ||
    ln -sf "$(ldconfig -p | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')" "$multiarch/libz.so"
  export PATH=$prefix/usr/bin:$PATH LD_LIBRARY_PATH=$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  prefix_args=(-DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_INCLUDE_PATH="$prefix/usr/include"
    -DCMAKE_LIBRARY_PATH="$multiarch" -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc"
    -DCMAKE_CXX_FLAGS="-isystem $prefix/usr/include")
  # (gloo's and Boost's headers are found by #include alone, as in /usr/include)
else
  prefix_args=()  # a machine with the Debian packages installed
fi
data=/usr/share/datasets/fashion-mnist
[[ -d $prefix/$data ]] && data=$prefix/$data
[[ -d $deps/peers ]] && export COHORT_PEERS=$deps/peers
torch_dir=$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')/Torch
"$python" -c 'import torch; print("gpu-check: torch", torch.__version__, "GPUs", torch.cuda.device_count())' |
  tee "$out/gpu-check.log"

start=$SECONDS
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$torch_dir" \
  -DCOHORT_PYTHON="$python" -DCOHORT_BUILD_BENCH=OFF "${prefix_args[@]}" >"$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
# The command line and the unit tests only: the dist tests, fuzzers and examples
# need no GPU and CI builds them.
cmake --build "$build" --parallel "$(nproc)" --target cohort_cli cohort_unit_tests \
  >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "gpu-check: built in $((SECONDS - start)) s: $("$build/cohort" --version)" | tee -a "$out/gpu-check.log"

# What needs a GPU first, so that a check cut short still returns it.
"$build/tests/cohort_unit_tests" --gtest_filter='Cuda*:Placement*:Autocast*' 2>&1 |
  grep -E "OK|SKIPPED|FAILED|Skipped" | tee -a "$out/gpu-check.log"

gpus=$("$python" -c 'import torch; print(torch.cuda.device_count())')
if ((gpus < 1)); then
  echo "gpu-check: no GPU visible; the unit tests only" | tee -a "$out/gpu-check.log"
  "$build/tests/cohort_unit_tests" --gtest_brief=1 2>&1 | tail -5 | tee -a "$out/gpu-check.log"
  exit 0
fi
run() {  # NAME ARGS...: one short training run on the GPU, its result line kept
  local name=$1
  shift
  timeout 300 "$build/cohort" train "$root/examples/configs/mlp.toml" --quiet --out "/tmp/gpu-$name" \
    --set train.device=cuda --set train.max_steps=300 --set train.log_every=100 \
    --set data.path="$data" "$@" |
    tail -1 | tee "$out/$name.json"
}
run mlp_fp32
run cnn_bf16 --set network.0.model=cnn --set train.precision=bf16
run cohort_mutual --set network.1.model=cnn --set cooperate.method=mutual
if ((gpus >= 2)); then
  run ddp_nccl --nproc 2 --set parallel.data=2
fi
COHORT_BIN=$build/cohort COHORT_PYTHON=$python COHORT_DATA=$data "$root/bench/gpu_throughput.sh" 3 |
  tee "$out/bench.jsonl"
# The whole unit suite last (CUDA tests included): the longest part, none of it needing a GPU.
"$build/tests/cohort_unit_tests" --gtest_brief=1 2>&1 | tail -5 | tee -a "$out/gpu-check.log"
echo "gpu-check: done in $((SECONDS - start)) s" | tee -a "$out/gpu-check.log"
