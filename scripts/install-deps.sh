#!/usr/bin/env bash
# Installs what Cohort needs to build, test and benchmark: Debian 12 packages, and
# a virtual environment in .venv (ignored by git) with the pinned torch wheel,
# whose libtorch the build links, and the Python packages of scripts/requirements.txt.
# Idempotent: installed packages are not fetched again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(
  build-essential cmake ninja-build pkg-config git
  libgloo-dev  # headers only: c10d's ProcessGroupGloo.hpp includes gloo's; the wheel has none
  python3-venv
  dataset-fashion-mnist
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev zlib1g-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  iproute2 procps
  libprotobuf-dev protobuf-compiler libboost-dev
  libpng-dev libturbojpeg0-dev libcsv-dev  # data sources: PNG, JPEG and CSV readers
  chromium fonts-dejavu-core python3-pil
  python3-matplotlib  # bench/ plots
  clang libclang-rt-14-dev  # scripts/sanitize.sh: ASan, UBSan, TSan, libFuzzer
  openmpi-bin  # tests/scripts/mpirun_launch.sh: Cohort started by mpirun
  slurm-wlm munge  # tests/scripts/slurm_cluster.sh: a one-node cluster runs srun and sbatch
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

# The venv is made by Debian's Python, whatever python3 comes first on PATH; a
# stamp of the requirements' hash makes a second run a no-op.
venv=$root/.venv
requirements=$root/scripts/requirements.txt
stamp=$venv/.cohort-requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  [[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
fi
