#!/usr/bin/env bash
# Each built-in data source end to end: files written the way a user writes them
# (torch.save from Python, PNG and JPEG images by Pillow, a CSV table), a network
# trained on each by `cohort train` and learning it, then the same files damaged:
# each refused with one line naming the file and what is wrong, exit 2, no run
# folder left behind.
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${COHORT_PYTHON:-python3}
source "$(dirname "$0")/lib/expect.sh"

"$python" "$(dirname "$0")/lib/write_data.py" "$work" || { echo "FAIL: could not write the data"; exit 1; }

mlp=("$2/examples/configs/mlp.toml" --quiet --set train.epochs=3 --set train.batch_size=32
     --set train.threads=1 --set 'network.0.widths=[32]')
# learns NAME FORMAT MIN_ACCURACY -- COMMAND...: trains, then checks the result line.
learns() {
  local name=$1 min=$2; shift 3
  cases=$((cases + 1))
  "$@" --out "$work/run-$name" >"$work/out" 2>"$work/err"
  local status=$?
  if [[ $status != 0 ]]; then
    echo "FAIL: $name: exit $status"; sed 's/^/    /' "$work/err" | tail -5
    failures=$((failures + 1)); return
  fi
  local acc
  acc=$(tail -1 "$work/out" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["networks"][0]["test_accuracy"])')
  if "$python" -c "import sys; sys.exit(0 if $acc >= $min else 1)"; then
    echo "ok: $name learns: test accuracy $acc"
  else
    echo "FAIL: $name: test accuracy $acc, wanted at least $min (3 classes: chance is 0.33)"
    failures=$((failures + 1))
  fi
}

learns tensors 0.9 -- "$bin" train "${mlp[@]}" --set data.format=tensors \
  --set data.train="$work/train.pt" --set data.test="$work/test.pt"
learns csv 0.9 -- "$bin" train "${mlp[@]}" --set data.format=csv --set data.target=label \
  --set data.train="$work/train.csv" --set data.test="$work/test.csv"
learns images 0.9 -- "$bin" train "${mlp[@]}" --set data.format=images \
  --set data.train="$work/images/train" --set data.test="$work/images/test"
learns images-cnn-resized 0.9 -- "$bin" train "${mlp[@]}" --set network.0.model=cnn \
  --set data.format=images --set 'data.size=[16, 16]' \
  --set data.train="$work/images/train" --set data.test="$work/images/test"

# Damaged copies: one line naming the file and what is wrong, exit 2, no run folder.
"$python" - "$work" <<'EOF' || { echo "FAIL: could not write the damaged files"; exit 1; }
import sys, torch
work = sys.argv[1]
good = torch.load(f"{work}/train.pt")
torch.save({"x": good["inputs"], "y": good["targets"]}, f"{work}/keys.pt")
torch.save({"inputs": good["inputs"][:10], "targets": good["targets"]}, f"{work}/shapes.pt")
torch.save({"inputs": good["inputs"], "targets": good["targets"].float()}, f"{work}/dtype.pt")
torch.save({"inputs": good["inputs"].int(), "targets": good["targets"]}, f"{work}/int_inputs.pt")
test = torch.load(f"{work}/test.pt")
test["targets"][7] = 5
torch.save(test, f"{work}/outside.pt")
EOF
tensors() { echo --set data.format=tensors --set data.train="$1" --set data.test="${2:-$work/test.pt}"; }
bad=("$bin" train "$2/examples/configs/mlp.toml" --quiet --set train.max_steps=2)
expect 2 "keys.pt: has no 'inputs' \(it holds 'x', 'y'\)" -- "${bad[@]}" --out "$work/bad1" $(tensors "$work/keys.pt")
expect 2 "shapes.pt: 'inputs' has 10 samples but 'targets' 900" -- "${bad[@]}" --out "$work/bad2" $(tensors "$work/shapes.pt")
expect 2 "dtype.pt: 'targets' must be a vector of N class indices \(integers: .*\), got 900 of Float" -- "${bad[@]}" --out "$work/bad3" $(tensors "$work/dtype.pt")
expect 2 "int_inputs.pt: 'inputs' must be N x ... floats" -- "${bad[@]}" --out "$work/bad4" $(tensors "$work/int_inputs.pt")
expect 2 "outside.pt: target 5 is outside the 3 classes of the training split" -- "${bad[@]}" --out "$work/bad5" $(tensors "$work/train.pt" "$work/outside.pt")
head -c 300 "$work/train.pt" >"$work/cut.pt"
expect 2 "cut.pt: cannot be read \(.*zip archive.*\): write it with torch.save\(\{" -- "${bad[@]}" --out "$work/bad6" $(tensors "$work/cut.pt")

csvs() { echo --set data.format=csv --set data.train="$1" --set data.test="${2:-$work/test.csv}"; }
sed '5s/^[^,]*,/oops,/' "$work/train.csv" >"$work/cell.csv"
expect 2 "cell.csv: row 5, column 'f0': 'oops' is not a finite number" -- "${bad[@]}" --out "$work/bad7" $(csvs "$work/cell.csv")
sed '9s/,[^,]*$//' "$work/train.csv" >"$work/ragged.csv"
expect 2 "ragged.csv: row 9 has 16 cells, the header 17" -- "${bad[@]}" --out "$work/bad8" $(csvs "$work/ragged.csv")
sed '12s/,[^,]*$/,7/' "$work/test.csv" >"$work/class.csv"
expect 2 "class.csv: class 7 is not in the training split, whose classes are 0 to 2" -- "${bad[@]}" --out "$work/bad9" $(csvs "$work/train.csv" "$work/class.csv")
expect 2 "train.csv: has no column 'price' \(data.target\)" -- "${bad[@]}" --out "$work/bad10" $(csvs "$work/train.csv") --set data.target=price

images() { echo --set data.format=images --set data.train="$1" --set data.test="$work/images/test"; }
cp -r "$work/images/train" "$work/cut_png"
head -c 60 "$work/cut_png/middle/3.png" >"$work/cut.png" && mv "$work/cut.png" "$work/cut_png/middle/3.png"
expect 2 "cut_png/middle/3.png: corrupt or truncated PNG" -- "${bad[@]}" --out "$work/bad11" $(images "$work/cut_png")
cp -r "$work/images/train" "$work/cut_jpg"
head -c 200 "$work/cut_jpg/top/4.jpg" >"$work/cut.jpg" && mv "$work/cut.jpg" "$work/cut_jpg/top/4.jpg"
expect 2 "cut_jpg/top/4.jpg: corrupt or truncated JPEG" -- "${bad[@]}" --out "$work/bad12" $(images "$work/cut_jpg")
cp -r "$work/images/train" "$work/not_image"
echo "just text" >"$work/not_image/top/0.png"
expect 2 "not_image/top/0.png: not a PNG or JPEG image" -- "${bad[@]}" --out "$work/bad13" $(images "$work/not_image")
expect 2 "nowhere: does not exist" -- "${bad[@]}" --out "$work/bad14" $(images "$work/nowhere")
expect 2 "data.format = 'parquet' is not one of" -- "${bad[@]}" --out "$work/bad15" --set data.format=parquet
expect 2 "data.task = 'regression' needs real-valued targets, which data.format = 'idx' does not hold" -- "${bad[@]}" --out "$work/bad16" --set data.task=regression
# The zoo fits the data, but a cnn needs images: feature vectors are the mlp's.
expect 2 "use mlp for feature vectors" -- "${bad[@]}" --out "$work/bad17" $(csvs "$work/train.csv") --set network.0.model=cnn

check "no run folder is left by a refused run" bash -c "! ls -d '$work'/bad* 2>/dev/null"
finish
