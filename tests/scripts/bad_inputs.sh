#!/usr/bin/env bash
# The bad-input catalogue, end to end through the CLI: each case must exit with
# the documented status, print exactly one line on stderr that says what is wrong,
# never crash or hang, and leave no half-written file behind.
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 cases=0
quick=("$2/examples/configs/mlp.toml" --quiet --set train.max_steps=2 --set network.0.model=mlp --set train.threads=1)

# expect STATUS PATTERN -- COMMAND...
expect() {
  local want=$1 pattern=$2; shift 3
  cases=$((cases + 1))
  local err="$work/stderr"
  timeout 120 "$@" >"$work/stdout" 2>"$err"
  local got=$?
  local lines
  lines=$(wc -l <"$err")
  if [[ $got -ne $want ]] || [[ $lines -ne 1 ]] || ! grep -qE -- "$pattern" "$err"; then
    echo "FAIL: $* -> exit $got (want $want), $lines stderr lines, wanted /$pattern/:"
    sed 's/^/    /' "$err" | head -5
    failures=$((failures + 1))
  else
    echo "ok: $(cat "$err")"
  fi
}

data=/usr/share/datasets/fashion-mnist
mk_data() {  # a copy of the data set to damage
  rm -rf "$work/data"; mkdir "$work/data"; cp "$data"/*.gz "$work/data/"
}

mk_data; rm "$work/data/t10k-labels-idx1-ubyte.gz"
expect 2 "no t10k-labels-idx1-ubyte" -- "$bin" train "${quick[@]}" --out "$work/r1" --set data.path="$work/data"
expect 2 "does not exist" -- "$bin" train "${quick[@]}" --out "$work/r2" --set data.path="$work/none"
mk_data; head -c 100000 "$data/train-images-idx3-ubyte.gz" >"$work/data/train-images-idx3-ubyte.gz"
expect 2 "train-images.*(truncated|corrupt)" -- "$bin" train "${quick[@]}" --out "$work/r3" --set data.path="$work/data"
mk_data; gunzip -c "$data/train-labels-idx1-ubyte.gz" | head -c 5000 >"$work/data/train-labels-idx1-ubyte"
rm "$work/data/train-labels-idx1-ubyte.gz"
expect 2 "train-labels.*truncated" -- "$bin" train "${quick[@]}" --out "$work/r4" --set data.path="$work/data"
mk_data; printf 'not an idx file at all' | gzip >"$work/data/train-images-idx3-ubyte.gz"
expect 2 "not an IDX file" -- "$bin" train "${quick[@]}" --out "$work/r5" --set data.path="$work/data"

printf '[train]\nepochs = = 1\n' >"$work/malformed.toml"
expect 2 "malformed.toml:2: malformed TOML" -- "$bin" train "$work/malformed.toml" --quiet
printf '[train]\nepochs = 1\nlearning_rate = 0.1\n' >"$work/unknown.toml"
expect 2 "unknown.toml:3: unknown key 'train.learning_rate'" -- "$bin" train "$work/unknown.toml" --quiet
printf '[[network]]\nmodel = "mlp"\nlr = "fast"\n' >"$work/type.toml"
expect 2 "type.toml:3: network.0.lr must be a number" -- "$bin" train "$work/type.toml" --quiet
expect 2 "batch_size must be at least 1" -- "$bin" train --quiet --set train.batch_size=0
expect 2 "epochs must be at least 1" -- "$bin" train --quiet --set train.epochs=-3
expect 2 "parallel.data must be at least 1" -- "$bin" train --quiet --set parallel.data=0
expect 2 "unknown model 'vgg'" -- "$bin" train --quiet --set network.0.model=vgg --out "$work/r6"
expect 2 "widths must all be at least 1" -- "$bin" train --quiet --set network.0.model=mlp --set 'network.0.widths=[0]'
# Impossible layouts: refused by the parent before any worker starts (one line).
expect 2 "use at most 6 stages" -- "$bin" train "${quick[@]}" --nproc 7 --set parallel.pipeline=7
expect 2 "micro_batches = 80 is more than train.batch_size = 64" -- "$bin" train "${quick[@]}" --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=80
expect 2 "cuts one network into stages, the config has 2" -- "$bin" train --quiet --nproc 2 --set parallel.pipeline=2
expect 2 "needs 4 processes, the job has 2" -- "$bin" train "${quick[@]}" --nproc 2 --set parallel.data=2 --set parallel.pipeline=2
expect 2 "not writable" -- "$bin" train "${quick[@]}" --out /proc/cohort-run
touch "$work/plainfile"
expect 2 "not writable" -- "$bin" train "${quick[@]}" --out "$work/plainfile/run"
expect 2 "config.*(does not exist|not exist)" -- "$bin" train "$work/missing.toml"
expect 2 "--set 'oops'" -- "$bin" train --quiet --set oops
expect 2 "see cohort --help" -- "$bin" train --no-such-flag

# Checkpoints: a good one, then damaged copies.
"$bin" train "${quick[@]}" --out "$work/good" >/dev/null 2>&1 || { echo "FAIL: could not train"; exit 1; }
ck=$(ls -d "$work"/good/checkpoints/step-* | tail -1)
cp -r "$work/good" "$work/flipped"
fck="$work/flipped/checkpoints/$(basename "$ck")"
printf '\x00\x01\x02\x03' | dd of="$fck/state.pt" bs=1 seek=3000 conv=notrunc status=none
expect 2 "checksum" -- "$bin" eval "$fck"
expect 2 "checksum" -- "$bin" train --resume "$work/flipped" --quiet
cp -r "$work/good" "$work/cut"
truncate -s 2000 "$work/cut/checkpoints/$(basename "$ck")/state.pt"
expect 2 "truncated" -- "$bin" eval "$work/cut"
cp -r "$work/good" "$work/badjson"
echo '{"format": "cohort-checkpoint", "version' >"$work/badjson/checkpoints/$(basename "$ck")/manifest.json"
expect 2 "corrupt manifest" -- "$bin" eval "$work/badjson"
expect 2 "does not exist" -- "$bin" eval "$work/nothing-here"
# A checkpoint of another model shape: resume with different widths.
cp -r "$work/good" "$work/other"
sed -i 's/^widths = .*/widths = [ 64 ]/' "$work/other/config.toml"
expect 2 "shape" -- "$bin" train --resume "$work/other" --quiet

# Nothing half-written anywhere: no temporary files or folders survive.
leftovers=$(find "$work" -name '*.tmp-*' | wc -l)
if [[ $leftovers -ne 0 ]]; then echo "FAIL: $leftovers temporary files left"; failures=$((failures + 1)); fi

echo "$((cases - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
