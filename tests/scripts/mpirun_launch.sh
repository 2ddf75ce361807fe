#!/usr/bin/env bash
# Cohort started by Open MPI's mpirun (Debian's openmpi-bin): rank and world from
# Open MPI's variables, the rendezvous through MASTER_ADDR/MASTER_PORT and through
# a shared file (COHORT_RENDEZVOUS_FILE). Runs the blocks of docs/launchers/mpirun.md
# as written; each must equal `cohort train --nproc 2` with the same settings, to
# the bit. Exit 77 (skipped) without mpirun.
set -euo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-$src/.venv/bin/python}
if ! command -v mpirun >/dev/null; then
  echo "SKIPPED: no mpirun (apt-get install openmpi-bin; scripts/install-deps.sh does)"
  exit 77
fi
source "$src/tests/scripts/lib/launchers.sh"
enter_workspace
trap 'rm -rf "$work"' EXIT
# Open MPI refuses root without these; the test machine runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1  # two ranks on however few cores

for block in tcp file; do
  run_doc_block "$src/docs/launchers/mpirun.md" "$block" "$(free_port)" >"$block.log" 2>&1 || {
    cat "$block.log"; echo "FAILED: the documented mpirun command ($block)"; exit 1; }
done
[[ ! -e runs/mpirun-rendezvous ]] || ls -l runs/mpirun-rendezvous  # c10d removes it at the end
"$bin" train examples/configs/mlp.toml --nproc 2 --set parallel.data=2 --set train.max_steps=200 \
  --out ref --quiet >/dev/null
same_runs "mpirun -np 2 (MASTER_ADDR/MASTER_PORT, then a shared file)" ref runs/mpirun-tcp runs/mpirun-file
echo "PASSED: mpirun through the usual variables and through a shared file"
