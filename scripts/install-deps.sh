#!/usr/bin/env bash
# Installs every Debian 12 package Cohort needs to build, test and benchmark.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libgloo-dev libopenblas0-pthread python3-torch
  dataset-fashion-mnist
  libcli11-dev libtomlplusplus-dev libfmt-dev nlohmann-json3-dev zlib1g-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  iproute2 procps
  libprotobuf-dev protobuf-compiler libboost-dev
  chromium fonts-dejavu-core python3-pil
  python3-matplotlib  # bench/ plots
  clang libclang-rt-14-dev  # scripts/sanitize.sh: ASan, UBSan, TSan, libFuzzer
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: run as root to install: ${missing[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
