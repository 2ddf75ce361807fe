# Shared by the launcher tests (torchrun, mpirun, Slurm): source it after setting
# $bin (the cohort binary), $src (the source tree) and $python.

# A TCP port nobody listens on now, drawn below the kernel's ephemeral range as
# Cohort's launcher draws its own (launch/free_port.cpp): a port from that range
# can be taken by any outgoing connection before the test listens on it.
free_port() {
  "$python" - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for port in random.sample(range(10000, low), 200) if low > 11000 else [0]:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            print(s.getsockname()[1])
            break
    except OSError:
        pass
PY
}

# doc_block FILE NAME: the fenced block that follows "<!-- block: NAME -->" in FILE.
doc_block() {
  local text
  text=$(awk -v name="$2" '
    $0 == "<!-- block: " name " -->" { want = 1; next }
    want && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$1")
  [[ -n $text ]] || { echo "FAILED: $1 has no block '$2'" >&2; return 1; }
  printf '%s\n' "$text"
}

# enter_workspace: a new temporary folder, $work, made the current one: the docs'
# commands run there as from the repository root with `cohort` on PATH (examples/
# is the source tree's, runs/ is empty). The caller removes $work.
enter_workspace() {
  work=$(mktemp -d)
  mkdir -p "$work/bin" "$work/runs"
  ln -s "$src/examples" "$work/examples"
  ln -s "$bin" "$work/bin/cohort"
  cd "$work"
}

# run_doc_block FILE NAME [PORT]: runs the block with bash in the current folder,
# `cohort` on PATH; the docs' port 29500 becomes PORT, so concurrent tests differ.
run_doc_block() {
  local block
  block=$(doc_block "$1" "$2") || return 1
  [[ -n ${3:-} ]] && block=${block//29500/$3}
  echo "+ ($1, block $2)"
  printf '%s\n' "$block" | sed 's/^/+   /'
  PATH="$PWD/bin:$PATH" bash -euo pipefail -c "$block"
}

# same_runs NAME RUN_A RUN_B...: every run's newest checkpoint holds exactly the
# tensors of RUN_A's (weights, buffers, optimiser state, to the bit) at the same
# step, and every summary.json the same test accuracy and loss.
same_runs() {
  "$python" - "$@" <<'PY'
import json, os, sys, torch
name, runs = sys.argv[1], sys.argv[2:]
def newest(run):
    folder = os.path.join(run, "checkpoints")
    step = sorted(d for d in os.listdir(folder) if d.startswith("step-"))[-1]
    return step, torch.load(os.path.join(folder, step, "state.pt"))
def summary(run):
    return json.load(open(os.path.join(run, "summary.json")))
ref_step, ref = newest(runs[0])
ref_summary = summary(runs[0])
for run in runs[1:]:
    step, state = newest(run)
    assert step == ref_step, f"{name}: {run} ends at {step}, {runs[0]} at {ref_step}"
    assert state.keys() == ref.keys(), f"{name}: networks {list(state)} vs {list(ref)}"
    for net in ref:
        assert state[net].keys() == ref[net].keys(), f"{name}: {net}: other tensors"
        for t in ref[net]:
            assert torch.equal(state[net][t], ref[net][t]), \
                f"{name}: {run}: {net}.{t} differs from {runs[0]}"
    got = [(n["name"], n["test_accuracy"], n["test_loss"]) for n in summary(run)["networks"]]
    want = [(n["name"], n["test_accuracy"], n["test_loss"]) for n in ref_summary["networks"]]
    assert got == want, f"{name}: {run} reports {got}, {runs[0]} {want}"
print(f"{name}: {len(runs) - 1} run(s) equal to {runs[0]} to the bit at {ref_step}, "
      f"{', '.join(f'{n}: {a:.4f}' for n, a, _ in want)}")
PY
}

# skip_unless_torchrun_hosts: exits 77 (skipped) unless torchrun is next to
# $python and network namespaces can be made (root, iproute2); sets $torchrun.
skip_unless_torchrun_hosts() {
  torchrun=$(dirname "$python")/torchrun
  if [[ ! -x $torchrun ]]; then
    echo "SKIPPED: no torchrun next to $python"
    exit 77
  fi
  if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null; then
    echo "SKIPPED: needs root and iproute2 to create network namespaces"
    exit 77
  fi
}
