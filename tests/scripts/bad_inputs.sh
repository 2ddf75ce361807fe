#!/usr/bin/env bash
# The bad-input catalogue, end to end through the CLI: each case must exit with
# the documented status, print exactly one line on stderr that says what is wrong,
# never crash or hang, and leave no half-written file behind.
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quick=("$2/examples/configs/mlp.toml" --quiet --set train.max_steps=2 --set network.0.model=mlp --set train.threads=1)
source "$(dirname "$0")/lib/expect.sh"

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
expect 2 "train.batch_size must be from 1 to" -- "$bin" train --quiet --set train.batch_size=0
expect 2 "train.epochs must be from 1 to" -- "$bin" train --quiet --set train.epochs=-3
expect 2 "parallel.data must be from 1 to" -- "$bin" train --quiet --set parallel.data=0
expect 2 "unknown model 'vgg'" -- "$bin" train --quiet --set network.0.model=vgg --out "$work/r6"
expect 2 "network.0.widths must all be from 1 to" -- "$bin" train --quiet --set network.0.model=mlp --set 'network.0.widths=[0]'
# Impossible layouts: refused by the parent before any worker starts (one line).
expect 2 "use at most 6 stages" -- "$bin" train "${quick[@]}" --nproc 7 --set parallel.pipeline=7
expect 2 "micro_batches = 80 is more than train.batch_size = 64" -- "$bin" train "${quick[@]}" --nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=80
expect 2 "cuts one network into stages, the config has 5" -- "$bin" train --quiet --nproc 2 --set parallel.pipeline=2
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

# Values out of range or not finite: refused at load, naming the key, before
# libtorch, an allocator or a chrono conversion sees them.
expect 2 "network.0.lr must be positive and at most 10, got inf" -- "$bin" train "${quick[@]}" --set network.0.lr=inf
expect 2 "network.0.eps must be positive" -- "$bin" train "${quick[@]}" --set network.0.optimizer=adam --set network.0.eps=0
expect 2 "network.0.beta1 must be in \[0, 1\), got 1.5" -- "$bin" train "${quick[@]}" --set network.0.optimizer=adam --set network.0.beta1=1.5
expect 2 "network.0.beta2 must be in" -- "$bin" train "${quick[@]}" --set network.0.optimizer=adamw --set network.0.beta2=-0.1
expect 2 "cooperate.temperature must be positive and at most 100, got inf" -- "$bin" train "${quick[@]}" --set cooperate.temperature=inf
expect 2 "network.0.min_lr = 0.5 is above network.0.lr = 0.05" -- "$bin" train "${quick[@]}" --set network.0.min_lr=0.5
expect 2 "parallel.timeout_seconds must be positive" -- "$bin" train "${quick[@]}" --set parallel.timeout_seconds=nan
expect 2 "train.threads = 1000 is more than this machine's [0-9]+ cores" -- "$bin" train "${quick[@]}" --set train.threads=1000 --out "$work/r7"
expect 2 "train.threads must be from 0 to 1024" -- "$bin" train "${quick[@]}" --set train.threads=100000
expect 2 "--max-restarts restarts the processes --nproc N starts" -- "$bin" train "${quick[@]}" --max-restarts 2
expect 2 "are what parallel.plan = .auto. plans for" -- "$bin" train "${quick[@]}" --link-gbps 2
# Elastic membership: a range, for a data-parallel job of MAX replicas.
expect 2 "--nproc 3:2: MIN is larger than MAX" -- "$bin" train "${quick[@]}" --nproc 3:2
expect 2 "--nproc 0:2: expected a number of ranks N or a range MIN:MAX" -- "$bin" train "${quick[@]}" --nproc 0:2
expect 2 "--nproc 1:2: a replica needs parallel.pipeline x parallel.tensor = 2 ranks; give MIN of at least 2" -- "$bin" train "${quick[@]}" --nproc 1:2 --set parallel.pipeline=2
expect 2 "--nproc 1:2: elastic membership re-forms data-parallel jobs and members with their own layouts only; set parallel.mode = 'sync' and parallel.network = 1" -- "$bin" train "${quick[@]}" --nproc 1:2 --set parallel.mode=async --set parallel.servers=1
expect 2 "'-1' is not an index of the 1 entries: use 0 to 0" -- "$bin" train "${quick[@]}" --set network.-1.lr=0.1
# A network too large for memory: refused before anything is allocated.
expect 2 "network.0 \(mlp, .* parameters\) needs about .* GB to train, more than" -- "$bin" train "${quick[@]}" --set 'network.0.widths=[1000000,1000000]' --out "$work/r8"
# Data that does not fit the networks or each other: refused before the first step.
mk_data; "$COHORT_PYTHON" - "$work/data" <<'PY'
import gzip, struct, sys
n = 50  # a test split of 32x32 images: the model takes 28x28
with gzip.open(sys.argv[1] + "/t10k-images-idx3-ubyte.gz", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 32, 32) + bytes(n * 32 * 32))
with gzip.open(sys.argv[1] + "/t10k-labels-idx1-ubyte.gz", "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(n))
PY
expect 2 "the test samples are 1x32x32, the training samples 1x28x28" -- "$bin" train "${quick[@]}" --out "$work/r9" --set data.path="$work/data"
mk_data; "$COHORT_PYTHON" - "$work/data" <<'PY'
import gzip, struct, sys
n = 10000  # test labels 0..11: Fashion-MNIST has 10 classes
with gzip.open(sys.argv[1] + "/t10k-labels-idx1-ubyte.gz", "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 12 for i in range(n)))
PY
expect 2 "t10k-labels-idx1-ubyte.gz: label 11 is outside 0..9" -- "$bin" train "${quick[@]}" --out "$work/r12" --set data.path="$work/data"
rm -rf "$work/swapped"; mkdir "$work/swapped"
for f in images-idx3 labels-idx1; do
  ln -s "$data/train-$f-ubyte.gz" "$work/swapped/t10k-$f-ubyte.gz"
  ln -s "$data/t10k-$f-ubyte.gz" "$work/swapped/train-$f-ubyte.gz"
done
expect 2 "are the train-\* and t10k-\* files swapped" -- "$bin" train "${quick[@]}" --out "$work/r10" --set data.path="$work/swapped"
for r in r7 r8 r9 r10 r12; do check "no run folder for a refused run ($r)" test ! -e "$work/$r"; done

# Checkpoints edited by hand: the manifest's own checksum, and the folder's step.
cp -r "$work/good" "$work/edited"
sed -i 's/"step": 2/"step": 7/' "$work/edited/checkpoints/$(basename "$ck")/manifest.json"
expect 2 "manifest.json fails its checksum: it was edited" -- "$bin" eval "$work/edited"
cp -r "$work/good" "$work/renamed"
mv "$work/renamed/checkpoints/$(basename "$ck")" "$work/renamed/checkpoints/step-00000009"
expect 2 "the manifest says step 2, the folder's name another" -- "$bin" train --resume "$work/renamed" --quiet
# Library messages in words: no JSON-library ids, no temporary files, no backtraces.
expect 2 "corrupt manifest.json: not valid JSON" -- "$bin" eval "$work/badjson"
expect 2 "cannot run '/no/such/worker': no such file" -- "$bin" launch --nproc 2 -- /no/such/worker
expect 2 "cannot run 'no-such-command-here': no such command on PATH" -- "$bin" launch --nproc 2 -- no-such-command-here
# A rank that finds nobody at the rendezvous: one line (no c10d log lines), the time it really waited.
expect 1 "could not meet rank 0 at 127.0.0.1:1 \(gave up after [0-9.]+ s, timeout 2 s\)" -- env MASTER_ADDR=127.0.0.1 MASTER_PORT=1 RANK=1 WORLD_SIZE=2 "$bin" train "${quick[@]}" --set parallel.data=2 --set parallel.timeout_seconds=2 --out "$work/r11"

# Nothing half-written anywhere: no temporary files or folders survive.
leftovers=$(find "$work" -name '*.tmp-*' | wc -l)
check "no temporary files left ($leftovers found)" test "$leftovers" -eq 0

finish
