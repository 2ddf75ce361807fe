#!/usr/bin/env bash
# A user's own models, dataset and optimiser (tests/programs/user_program.cpp:
# registered by name, then Cohort's command line) trained in every mode `cohort
# train` has and on every built-in data source; then the modes that claim to equal
# one process (data parallel, sharded, pipeline, both, network groups, fused arrays,
# and the program's optimiser sharded, split into tensor slices and pipeline stages)
# compared with it, tensor by tensor, through the same command line.
set -uo pipefail
build=$3
prog=$build/tests/cohort_user_program
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${COHORT_PYTHON:-$2/.venv/bin/python}
failures=0 cases=0
"$python" "$(dirname "$0")/lib/write_data.py" "$work" || { echo "FAIL: could not write the data"; exit 1; }

base=(--quiet --set network.0.model=user_net --set train.threads=1 --set train.batch_size=32
      --set train.epochs=2 --set cooperate.method=none --set data.format=user_blobs)
# The default config's other networks go: each case names the networks it trains.
one=(--set 'network.0.name=user_net0')
two=(--set network.1.model=user_net --set 'network.1.widths=[16]')
three=("${two[@]}" --set network.2.model=user_net)
config="$2/examples/configs/mlp.toml"

# trains NAME MIN_ACCURACY [ARGS...]: the program trains; every network beats MIN.
trains() {
  local name=$1 min=$2; shift 2
  cases=$((cases + 1))
  timeout 300 "$prog" train "$config" "${base[@]}" "$@" --out "$work/$name" \
      >"$work/out" 2>"$work/err"
  local status=$?
  if [[ $status != 0 ]]; then
    echo "FAIL: $name: exit $status"; sed 's/^/    /' "$work/err" | tail -5
    failures=$((failures + 1)); return
  fi
  if "$python" - "$work/out" "$min" >"$work/check" 2>&1 <<'PY'; then
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
accs = [n["test_accuracy"] for n in s["networks"]]
assert all(n["model"] == "user_net" for n in s["networks"]), s["networks"]
assert min(accs) >= float(sys.argv[2]), accs
print(" ".join(f"{a:.3f}" for a in accs))
PY
    echo "ok: $name: test accuracy $(cat "$work/check")"
  else
    echo "FAIL: $name:"; sed 's/^/    /' "$work/check" | tail -3
    failures=$((failures + 1))
  fi
}

# Three blobs (chance 0.33), well apart: every mode learns them.
trains single 0.9 "${one[@]}"
trains data-parallel 0.9 --nproc 2 --set parallel.data=2
trains sharded-zero1 0.9 --nproc 2 --set parallel.data=2 --set parallel.shard=1
trains pipeline-1f1b 0.9 --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=4
trains pipeline-gpipe 0.9 --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=4 \
  --set parallel.schedule=gpipe
trains data-x-pipeline 0.9 --nproc 4 --set parallel.data=2 --set parallel.pipeline=2 \
  --set parallel.micro_batches=2
trains async 0.8 --nproc 3 --set parallel.mode=async --set parallel.servers=1 --set parallel.data=2
trains local-sgd 0.9 --nproc 2 --set parallel.mode=local-sgd --set parallel.data=2 \
  --set parallel.average_every=4
trains mutual 0.9 "${two[@]}" --set cooperate.method=mutual
trains codistill 0.9 "${two[@]}" --set cooperate.method=codistill --set cooperate.exchange_every=10
trains ensemble 0.9 "${two[@]}" --set cooperate.method=ensemble
trains pbt 0.8 "${three[@]}" --set cooperate.method=pbt --set cooperate.pbt_interval=10
trains network-groups 0.9 "${two[@]}" --set cooperate.method=mutual --nproc 2 \
  --set parallel.network=2
trains control 0.9 "${three[@]}" --set cooperate.method=mutual --set network.2.cooperate=false
# The program's own optimiser, named in the config; with a data-parallel layout too.
rms=(--set network.0.optimizer=user_rmsprop --set network.0.lr=0.003 --set network.0.momentum=0)
trains user-optimizer 0.9 "${one[@]}" "${rms[@]}"
trains user-optimizer-data-parallel 0.9 "${one[@]}" "${rms[@]}" --nproc 2 --set parallel.data=2

# The same model on each built-in source.
trains idx 0.6 --set data.format=idx --set train.max_steps=60
for fmt in tensors csv; do
  ext=$([[ $fmt == tensors ]] && echo pt || echo csv)
  files=(--set data.format=$fmt --set data.train="$work/train.$ext" --set data.test="$work/test.$ext")
  [[ $fmt == csv ]] && files+=(--set data.target=label)
  trains "$fmt" 0.9 "${files[@]}"
  trains "$fmt-data-parallel" 0.9 "${files[@]}" --nproc 2 --set parallel.data=2
done
images=(--set data.format=images --set data.train="$work/images/train" --set data.test="$work/images/test")
trains images 0.9 "${images[@]}"
trains images-pipeline 0.9 "${images[@]}" --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=2

# Equivalence: 2 replicas of 32 samples, 2 pipeline stages of 4 micro-batches,
# both at once, and two mutually learning networks on a process each, against one
# process with the whole batch of 64, after 12 SGD steps. Sums of the same
# products in another order: float32 rounding, a few 1e-7 per step, stays below 1e-5.
tolerance=1e-5
exact=(--set train.batch_size=64 --set train.max_steps=12 --set network.0.momentum=0.5 "${one[@]}")
# same_as REFERENCE NAME ARGS...: every network of the run equals the reference's.
same_as() {
  local reference=$1 name=$2; shift 2
  cases=$((cases + 1))
  timeout 300 "$prog" train "$config" "${base[@]}" "${exact[@]}" "$@" --out "$work/eq-$name" \
      >/dev/null 2>"$work/err"
  local status=$?
  if [[ $status != 0 ]]; then
    echo "FAIL: equivalence $name: exit $status"; tail -3 "$work/err"; failures=$((failures + 1)); return
  fi
  if "$python" "$(dirname "$0")/lib/compare_runs.py" "$work/eq-$reference" "$work/eq-$name" \
       "$tolerance" >"$work/check" 2>&1; then
    echo "ok: $name equals one process: $(cat "$work/check")"
  else
    echo "FAIL: $name differs from one process:"; tail -3 "$work/check"; failures=$((failures + 1))
  fi
}
reference() {  # NAME ARGS...: the single-process run the others are held to
  local name=$1; shift
  timeout 300 "$prog" train "$config" "${base[@]}" "${exact[@]}" "$@" --out "$work/eq-$name" \
    >/dev/null 2>&1 || { echo "FAIL: the single-process reference $name did not train"; exit 1; }
}
reference single
same_as single data-parallel --nproc 2 --set parallel.data=2 --set train.batch_size=32
same_as single sharded-zero2 --nproc 2 --set parallel.data=2 --set parallel.shard=2 \
  --set train.batch_size=32
same_as single pipeline --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=4
same_as single data-x-pipeline --nproc 4 --set parallel.data=2 --set parallel.pipeline=2 \
  --set parallel.micro_batches=2 --set train.batch_size=32
# The program's own optimiser (RMSprop with momentum, Cohort knows its state only
# through serialize()) sharded, split into pipeline stages and tensor slices, its
# state gathered into checkpoints and split again. RMSprop divides each gradient
# by the root of a running mean of its squares, so every element steps by about lr
# whatever its gradient, and float32's relative error on a gradient whose per-sample
# terms cancel reaches the weights at lr's scale: 5.6e-6 (ZeRO) and 1.3e-5
# (pipeline) after 12 steps at lr 3e-3. 5e-5 is lr / 60; a lost or misplaced state
# moves an element by about lr / sqrt(1 - alpha) = 0.03 on the next step.
rmsm=(--set network.0.optimizer=user_rmsprop --set network.0.lr=0.003)
tolerance=5e-5
reference single-rms "${rmsm[@]}"
same_as single-rms sharded-zero2-rms "${rmsm[@]}" --nproc 2 --set parallel.data=2 \
  --set parallel.shard=2 --set train.batch_size=32
same_as single-rms sharded-zero3-rms "${rmsm[@]}" --nproc 2 --set parallel.data=2 \
  --set parallel.shard=3 --set parallel.shard_unit_mb=0.004 --set train.batch_size=32
same_as single-rms pipeline-rms "${rmsm[@]}" --nproc 2 --set parallel.pipeline=2 \
  --set parallel.micro_batches=4
# resumed_as REFERENCE NAME ARGS...: six steps under ARGS, six more in one process
# from its checkpoint (the state gathered whole), equal to the reference's twelve.
resumed_as() {
  local reference=$1 name=$2; shift 2
  cases=$((cases + 1))
  if timeout 300 "$prog" train "$config" "${base[@]}" "${exact[@]}" "$@" \
       --set train.max_steps=6 --out "$work/eq-$name" >/dev/null 2>"$work/err" &&
     timeout 300 "$prog" train --resume "$work/eq-$name" --quiet --set train.max_steps=12 \
       --set train.batch_size=64 --set parallel.data=1 --set parallel.shard=0 \
       --set parallel.pipeline=1 >/dev/null 2>>"$work/err" &&
     "$python" "$(dirname "$0")/lib/compare_runs.py" "$work/eq-$reference" "$work/eq-$name" \
       "$tolerance" >"$work/check" 2>&1; then
    echo "ok: $name for 6 steps, one process for 6 more, equals one process: $(cat "$work/check")"
  else
    echo "FAIL: $name resumed in one process:"
    tail -3 "$work/err" "$work/check" 2>/dev/null; failures=$((failures + 1))
  fi
}
resumed_as single-rms zero3-resumed-rms "${rmsm[@]}" --nproc 2 --set parallel.data=2 \
  --set parallel.shard=3 --set train.batch_size=32
resumed_as single-rms pipeline-resumed-rms "${rmsm[@]}" --nproc 2 --set parallel.pipeline=2 \
  --set parallel.micro_batches=4
tensor=(--set network.0.model=user_plain "${rmsm[@]}")
reference plain-rms "${tensor[@]}"
same_as plain-rms tensor-rms "${tensor[@]}" --nproc 2 --set parallel.tensor=2
tolerance=1e-5
pair=("${two[@]}" --set network.1.momentum=0.5 --set cooperate.method=mutual)
reference mutual-pair "${pair[@]}"
same_as mutual-pair network-groups "${pair[@]}" --nproc 2 --set parallel.network=2
# A fused array of the program's plain model: both copies as if trained apart.
plain=(--set network.0.model=user_plain --set network.1.model=user_plain --set 'network.1.widths=[256, 256]'
       --set network.1.momentum=0.5
       --set network.1.lr=0.02 --set cooperate.method=ensemble)
reference plain-pair "${plain[@]}"
same_as plain-pair fused "${plain[@]}" --set cooperate.fused=true

# Bad names: one line saying what is registered, exit 2, nothing written.
cases=$((cases + 1))
"$prog" train "$config" "${base[@]}" --set network.0.model=user_nett --out "$work/bad" 2>"$work/err"
status=$?
if [[ $status == 2 ]] && [[ $(wc -l <"$work/err") == 1 ]] && [[ ! -e "$work/bad" ]] &&
   grep -q "unknown model 'user_nett': choose one of mlp, cnn, resnet, user_net" "$work/err"; then
  echo "ok: $(cat "$work/err")"
else
  echo "FAIL: an unregistered model: exit $status"; cat "$work/err"; failures=$((failures + 1))
fi
cases=$((cases + 1))
"$prog" train "$config" "${base[@]}" --set data.format=user_blob --out "$work/bad" 2>"$work/err"
status=$?
if [[ $status == 2 ]] && [[ ! -e "$work/bad" ]] && grep -q "user_blobs" "$work/err"; then
  echo "ok: $(cat "$work/err")"
else
  echo "FAIL: an unregistered dataset: exit $status"; cat "$work/err"; failures=$((failures + 1))
fi
cases=$((cases + 1))
"$prog" train "$config" "${base[@]}" --set network.1.model=user_net --set 'network.1.widths=[256, 256]' \
  --set cooperate.method=ensemble --set cooperate.fused=true --out "$work/bad" 2>"$work/err"
status=$?
if [[ $status == 2 ]] && [[ ! -e "$work/bad" ]] &&
   grep -q "fused array: .* is not supported; fused arrays take Linear, Conv2d" "$work/err"; then
  echo "ok: $(cat "$work/err")"
else
  echo "FAIL: a fused array of a layer it does not know: exit $status"; cat "$work/err"
  failures=$((failures + 1))
fi
"$prog" --help >"$work/help" 2>&1
cases=$((cases + 1))
if grep -q "Optimizers (network.N.optimizer): sgd, adam, adamw, user_rmsprop" "$work/help"; then
  echo "ok: --help lists the registered optimiser"
else
  echo "FAIL: --help:"; tail -3 "$work/help"; failures=$((failures + 1))
fi

echo "$((cases - failures)) of $cases cases passed"
[[ $failures == 0 ]]
