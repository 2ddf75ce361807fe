#!/usr/bin/env bash
# A one-node Slurm cluster, started here as root: a real munged (its own key and
# socket), slurmctld and slurmd (Debian's slurm-wlm 22.05) on free ports, with all
# state in a temporary folder. It runs the srun command and the sbatch script of
# docs/launchers/slurm.md as written; each must equal `cohort train --nproc 2` with
# the same settings, to the bit. Skipped (exit 77), saying why, only where the
# packages are missing or the daemons cannot start.
set -uo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-$src/.venv/bin/python}
for tool in munged slurmctld slurmd srun sbatch sinfo; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: no $tool (apt-get install slurm-wlm munge; scripts/install-deps.sh does)"
    exit 77
  fi
done
if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: the Slurm daemons of this test run as root"
  exit 77
fi
source "$src/tests/scripts/lib/launchers.sh"
enter_workspace
cluster=$work/cluster
mkdir -p "$cluster"/{munge,state,spool,log}
stop_cluster() {
  local pidfile
  for pidfile in "$cluster"/slurmd.pid "$cluster"/slurmctld.pid "$cluster"/munge/pid; do
    [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  sleep 0.5
  rm -rf "$work"
}
trap stop_cluster EXIT
skip_because() {
  echo "SKIPPED: the Slurm daemons cannot start here: $1"
  tail -n 5 "$cluster"/log/* "$cluster"/munge/log 2>/dev/null
  exit 77
}

# munge: a fresh key, and a socket only this cluster uses.
chmod 700 "$cluster/munge"
dd if=/dev/urandom of="$cluster/munge/key" bs=1024 count=1 status=none && chmod 400 "$cluster/munge/key"
munged --force --key-file="$cluster/munge/key" --socket="$cluster/munge/sock" \
  --pid-file="$cluster/munge/pid" --log-file="$cluster/munge/log" --seed-file="$cluster/munge/seed" ||
  skip_because "munged exited with $?"

node=$(hostname -s)
ctl_port=$(free_port)
d_port=$(free_port)
export SLURM_CONF=$cluster/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=cohort-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$cluster/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$cluster/state
SlurmdSpoolDir=$cluster/spool
SlurmctldPidFile=$cluster/slurmctld.pid
SlurmdPidFile=$cluster/slurmd.pid
SlurmctldLogFile=$cluster/log/slurmctld.log
SlurmdLogFile=$cluster/log/slurmd.log
# No cgroups, no accounting: a container has neither.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=10 State=UP OverSubscribe=FORCE:4
CONF
slurmctld -f "$SLURM_CONF" || skip_because "slurmctld exited with $?"
slurmd -f "$SLURM_CONF" || skip_because "slurmd exited with $?"
for _ in $(seq 50); do
  [[ $(sinfo -h -o %t 2>/dev/null) == idle ]] && break
  sleep 0.2
done
[[ $(sinfo -h -o %t 2>/dev/null) == idle ]] || skip_because "node $node is not idle after 10 s ($(sinfo -h -o %t 2>&1))"
echo "cluster up: $(sinfo -h -o '%P %t %N %c CPUs')"

set -e
doc=$src/docs/launchers/slurm.md
run_doc_block "$doc" srun "$(free_port)" >srun.log 2>&1 || {
  cat srun.log; echo "FAILED: the documented srun command"; exit 1; }
doc_block "$doc" sbatch-script >cohort.sbatch
job_out=$(run_doc_block "$doc" sbatch 2>&1) || {
  echo "$job_out"; cat runs/slurm-*.out; echo "FAILED: the documented sbatch job"; exit 1; }
job=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' <<<"$job_out")
[[ -n $job ]] || { echo "$job_out"; echo "FAILED: sbatch printed no job id"; exit 1; }
tail -n 1 "runs/slurm-$job.out" | "$python" -c 'import json, sys; json.loads(sys.stdin.read())' || {
  cat "runs/slurm-$job.out"; echo "FAILED: the job's last line is not the JSON summary"; exit 1; }
grep -q "result after 200 steps" "runs/slurm-$job.err" || {
  cat "runs/slurm-$job.err"; echo "FAILED: the job's stderr lacks the result for a person"; exit 1; }
"$bin" train examples/configs/mlp.toml --nproc 2 --set parallel.data=2 --set train.max_steps=200 \
  --out ref --quiet >/dev/null
same_runs "srun --ntasks 2, and the sbatch script (job $job)" ref runs/srun-data "runs/slurm-$job"
echo "PASSED: srun and sbatch on a one-node Slurm cluster"
