#!/usr/bin/env bash
# PyTorch weights both ways, with the equivalent models of
# examples/python/cohort_models.py:
#   in:  a state_dict trained and saved in Python starts a Cohort network
#        (network.0.init); `cohort eval` of it gives Python's test accuracy and loss,
#        and `cohort train` continues from it;
#   out: the checkpoint of that run, loaded into the PyTorch model, gives the test
#        accuracy and loss Cohort reported;
#   and a state_dict of another shape, or a pickled whole model, is one line, exit 2.
# Tolerance: both sides run the same libtorch kernels on one thread with the same
# 1000-sample chunks, so the numbers agree to float32 rounding: loss within 1e-5
# relative, accuracy within one test sample (a near tie that rounding flips).
set -euo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-$src/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONPATH=$src/examples/python
cd "$work"

# 1. Python trains an mlp 784-64-10 for 200 steps and saves its state_dict.
"$python" - <<'PY' >python.json
import json, torch, torch.nn.functional as F
import cohort_models as cm
torch.set_num_threads(1)
torch.manual_seed(1)
x, y = cm.fashion_mnist("train")
model = cm.mlp([64])
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for step in range(200):
    i = torch.randint(0, len(x), (64,))
    opt.zero_grad()
    F.cross_entropy(model(x[i]), y[i]).backward()
    opt.step()
torch.save(model.state_dict(), "python_mlp.pt")
torch.save(model, "whole_model.pt")  # not a state_dict: refused
torch.save(cm.mlp([32]).state_dict(), "narrow_mlp.pt")
x, y = cm.fashion_mnist("test")
accuracy, loss = cm.evaluate(model, x, y)
print(json.dumps({"test_accuracy": accuracy, "test_loss": loss}))
PY

common=(--set network.0.model=mlp --set 'network.0.widths=[64]' --set train.threads=1)
"$bin" eval "$src/examples/configs/mlp.toml" "${common[@]}" --set network.0.init=python_mlp.pt >cohort_eval.json
"$bin" train "$src/examples/configs/mlp.toml" "${common[@]}" --set network.0.init=python_mlp.pt \
  --set train.max_steps=4 --quiet --out run >cohort_train.json

# 2. The trained checkpoint, in Python.
"$python" - run >python_reads.json <<'PY'
import json, sys, torch
import cohort_models as cm
torch.set_num_threads(1)
x, y = cm.fashion_mnist("test")
print(json.dumps({n: dict(zip(("test_accuracy", "test_loss"), cm.evaluate(m, x, y)))
                  for n, m in cm.load_checkpoint(sys.argv[1]).items()}))
PY

"$python" - <<'PY'
import json
python = json.load(open("python.json"))
evaluated = json.load(open("cohort_eval.json"))["networks"][0]
trained = json.loads(open("cohort_train.json").read().strip().splitlines()[-1])["networks"][0]
read_back = json.load(open("python_reads.json"))[trained["name"]]

def same(a, b, what):
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 1e-4 + 1e-12, (what, a, b)
    assert abs(a["test_loss"] - b["test_loss"]) <= 1e-5 * abs(b["test_loss"]), (what, a, b)
    print(f"{what}: accuracy {a['test_accuracy']:.4f} / {b['test_accuracy']:.4f}, "
          f"loss {a['test_loss']:.6f} / {b['test_loss']:.6f}")

same(evaluated, python, "in: cohort eval of the Python state_dict / Python")
same(read_back, trained, "out: Python on the Cohort checkpoint / cohort train's summary")
# Four SGD steps from the Python weights stay near them; four steps from the
# seeded start of a 784-64-10 mlp reach about 40-60%.
assert python["test_accuracy"] > 0.7, python
assert trained["test_accuracy"] > python["test_accuracy"] - 0.05, (trained, python)
PY

# 3. Refused with one line and exit 2, naming the file and the first mismatch.
expect_refusal() {
  local file=$1 want=$2 status=0
  "$bin" train "$src/examples/configs/mlp.toml" "${common[@]}" --set network.0.init="$file" \
    --set train.max_steps=1 --quiet --out "refused-$file" >/dev/null 2>err.txt || status=$?
  if [[ $status != 2 || $(wc -l <err.txt) != 1 ]] || ! grep -qF -- "$want" err.txt; then
    echo "FAILED: init=$file: exit $status, expected 2 and one line with: $want"
    cat err.txt
    exit 1
  fi
  [[ ! -e "refused-$file" ]] || { echo "FAILED: a refused init left a run folder"; exit 1; }
  echo "refused: $(cat err.txt)"
}
expect_refusal narrow_mlp.pt "network.0.init = narrow_mlp.pt (model mlp): '1.weight' has shape 32x784 in the file but 64x784 in the model"
expect_refusal whole_model.pt "whole_model.pt: cannot be read ("
expect_refusal absent.pt "absent.pt: cannot be read"
echo "PASSED: PyTorch weights in and out"
