#!/usr/bin/env bash
# Per-rank memory accounting (observe/allocation_meter.h): what a network's
# forward leaves held for backward (`activations` in summary.json's
# state_bytes and `activation_bytes` in metrics' memory records) and each
# rank's peak over the metered step (`step_peak_bytes`, `step_memory` records).
# Checked against what the layouts must do to them: data parallelism halves an
# mlp's activations per rank exactly (they are linear in the batch), ZeRO 3
# adds the gathered unit backward starts with, a tensor-parallel form copies
# no input, and a 1F1B pipeline holds fewer
# micro-batches than GPipe, so its first stage peaks lower.
# Args: cohort-binary source-dir build-dir.
set -uo pipefail
bin=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"
mlp=("$src/examples/configs/mlp.toml" --quiet --set train.max_steps=3 --set train.threads=1
  --set train.batch_size=32)

run() {
  local name=$1; shift
  "$bin" train "$@" --out "$work/$name" >"$work/$name.json" 2>"$work/$name.err" ||
    { echo "FAIL: $name"; sed 's/^/    /' "$work/$name.err" | tail -3; failures=$((failures + 1)); }
}
run one "${mlp[@]}" --set parallel.data=1 --set train.batch_size=64
run ddp "${mlp[@]}" --nproc 2 --set parallel.data=2
run zero3 "${mlp[@]}" --nproc 2 --set parallel.data=2 --set parallel.shard=3
run tensor "${mlp[@]}" --nproc 2 --set parallel.tensor=2 --set train.batch_size=64
pipeline=("$src/examples/configs/pipeline.toml" --quiet --nproc 2 --set train.max_steps=3
  --set train.threads=1 --set parallel.micro_batches=8 --set parallel.partition=uniform)
run gpipe "${pipeline[@]}" --set parallel.schedule=gpipe
run 1f1b "${pipeline[@]}" --set parallel.schedule=1f1b

check "the accounting follows the layouts" "$python" - "$work" <<'PY'
import json, sys
work = sys.argv[1]

def summary(name):
    return json.loads(open(f"{work}/{name}.json").read().splitlines()[-1])

def records(name, kind):
    return [r for r in map(json.loads, open(f"{work}/{name}/metrics.jsonl")) if r["kind"] == kind]

one, ddp, zero3, tensor = (summary(n) for n in ("one", "ddp", "zero3", "tensor"))
a1 = one["state_bytes"][0]["activations"]
# At least the logits (64 x 10 float32), at most every layer's output.
assert 64 * 10 * 4 <= a1 <= 64 * (256 + 256 + 256 + 256 + 10) * 4, a1
assert records("one", "memory")[0]["activation_bytes"] == a1
assert len(one["step_peak_bytes"]) == 1 and one["step_peak_bytes"][0] >= a1, one
# The same global batch over two replicas: half the rows, half the bytes.
assert ddp["state_bytes"][0]["activations"] * 2 == a1, (ddp["state_bytes"], a1)
# ZeRO 3's forward also leaves the unit backward starts with gathered.
whole = one["state_bytes"][0]["parameters"]
z3 = zero3["state_bytes"][0]["activations"]
assert a1 // 2 < z3 <= a1 // 2 + whole, (z3, a1, whole)
assert len(records("ddp", "step_memory")[0]["peak_bytes"]) == 2
# The tensor-parallel form holds its slices' outputs and the summed ones, but
# no copy of the input batch (64 x 784 float32) as its first operator once made.
at = tensor["state_bytes"][0]["activations"]
assert 0 < at < a1 + 64 * 784 * 4, (at, a1)
gpipe = records("gpipe", "step_memory")[0]["peak_bytes"]
f1b = records("1f1b", "step_memory")[0]["peak_bytes"]
# GPipe holds all 8 micro-batches' activations on the first stage, 1F1B two.
assert gpipe[0] > 1.5 * f1b[0], (gpipe, f1b)
print(f"mlp activations: one process {a1} B, per rank under DDP {a1 // 2}, ZeRO 3 {z3}, "
      f"tensor-parallel {at}; cnn first stage's peak: "
      f"GPipe {gpipe[0]} B, 1F1B {f1b[0]} B")
PY
sed 's/^/    /' "$work/check.out"
check "no allocator warnings on stderr" bash -c "! grep -h 'Memory block' '$work'/*.err"
finish
