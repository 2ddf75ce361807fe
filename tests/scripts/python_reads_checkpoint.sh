#!/usr/bin/env bash
# A checkpoint's tensors open in Python with the plain torch.load(path) (weights_only
# by default since torch 2.6, nothing allow-listed) and match its manifest.
set -euo pipefail
bin=$1
python=${COHORT_PYTHON:-$2/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" train "$2/examples/configs/mlp.toml" --quiet --out "$work/run" --set train.max_steps=5 --set network.0.model=mlp \
  --set train.threads=1 >/dev/null
ck=$(ls -d "$work"/run/checkpoints/step-* | tail -1)
"$python" - "$ck" <<'PY'
import json, sys, torch
ck = sys.argv[1]
state = torch.load(f"{ck}/state.pt")  # no weights_only=False, no safe globals
# Whatever this torch's default, the archive passes the restricted unpickler.
assert torch.load(f"{ck}/state.pt", weights_only=True).keys() == state.keys()
manifest = json.load(open(f"{ck}/manifest.json"))
for net in manifest["networks"]:
    tensors = state[net["name"]]
    assert len(tensors) == len(net["tensors"]), "tensor count differs from the manifest"
    for entry in net["tensors"]:
        t = tensors[entry["name"]]
        assert list(t.shape) == entry["shape"], entry["name"]
    assert torch.isfinite(tensors["param.1.weight"]).all()
# The weights are the trained ones: evaluate them in plain PyTorch.
import torch.nn as nn
w = state[manifest["networks"][0]["name"]]
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                      nn.Linear(256, 10))
model.load_state_dict({k[len("param."):]: v for k, v in w.items() if k.startswith("param.")})
print("python opened", len(w), "tensors; logits", tuple(model(torch.zeros(2, 1, 28, 28)).shape))
PY
