#!/usr/bin/env bash
# GPU training throughput: Cohort with train.device = cuda against the same model
# (the peers' make_model, ddp_fashion.py's mlp and cnn) trained in eager PyTorch on
# the same GPU, same batch and steps, interleaved for ROUNDS rounds; one JSON object
# per run and a summary per model with medians and the ratio. Needs a GPU; run by
# scripts/gpu-check.sh. Unmeasured so far: no GPU machine has been lent to this task.
#   bench/gpu_throughput.sh [ROUNDS] [BATCH]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${COHORT_BIN:-$root/build/cohort}
peer_python=${COHORT_PYTHON:-$root/.venv/bin/python}
peers=${COHORT_PEERS:-$root/../shared/peers}
data=${COHORT_DATA:-/usr/share/datasets/fashion-mnist}  # Fashion-MNIST's IDX files
rounds=${1:-3}
batch=${2:-256}
steps=400
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

peer() {  # MODEL: the eager PyTorch loop on cuda, samples/s of the steps after 50 warm-up
  PYTHONPATH=$peers "$peer_python" - "$1" "$batch" "$steps" "$data" <<'PY'
import json, sys, time, torch
import torch.nn.functional as F
from ddp_fashion import load, make_model
model_name, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x, y = load("train", sys.argv[4])
x, y = x.cuda(), y.cuda()
x = (x - x.mean()) / x.std()
torch.manual_seed(0)
model = make_model(model_name).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for step in range(steps):
    if step == 50:
        torch.cuda.synchronize(); start = time.perf_counter()
    i = (step * batch) % (len(x) - batch)
    loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
    opt.zero_grad(); loss.backward(); opt.step()
torch.cuda.synchronize()
print(json.dumps({"runner": "peer", "model": model_name,
                  "samples_per_sec": (steps - 50) * batch / (time.perf_counter() - start)}))
PY
}

ours() {  # MODEL: cohort train on cuda; its samples/s counts every step
  "$bin" train "$root/examples/configs/mlp.toml" --quiet --out "$work/$1-$RANDOM" \
    --set network.0.model="$1" --set train.device=cuda --set train.batch_size="$batch" --set data.path="$data" \
    --set train.max_steps="$steps" --set train.log_every=1000 --set train.checkpoint_every_steps=0 |
    tail -1 | "$peer_python" -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"runner": "cohort", "model": sys.argv[1], "samples_per_sec": r["samples_per_sec"]}))' "$1"
}

for model in mlp cnn; do
  for ((i = 0; i < rounds; i++)); do
    peer "$model" | tee -a "$work/rows"
    ours "$model" | tee -a "$work/rows"
  done
done
"$peer_python" - "$work/rows" "$batch" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for model in ("mlp", "cnn"):
    rate = {r: statistics.median(x["samples_per_sec"] for x in rows if x["model"] == model and x["runner"] == r)
            for r in ("cohort", "peer")}
    print(json.dumps({"benchmark": "gpu_throughput", "model": model, "batch_size": int(sys.argv[2]),
                      "cohort_samples_per_sec_median": rate["cohort"],
                      "peer_samples_per_sec_median": rate["peer"], "ratio": rate["cohort"] / rate["peer"]}))
PY
