#!/usr/bin/env bash
# TensorBoard's own reader (the tensorboard package's EventAccumulator) opens the
# event file of a short run and finds metrics.jsonl's values under the documented
# tags, at the same steps.
set -euo pipefail
bin=$1 src=$2
python=${COHORT_PYTHON:-$src/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" train "$src/examples/configs/mlp.toml" --quiet --out "$work/run" --set train.max_steps=30 \
  --set train.log_every=10 --set train.threads=1 --set train.tensorboard=true >/dev/null
"$python" - "$work/run" <<'PY'
import json, math, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run = sys.argv[1]
acc = EventAccumulator(f"{run}/tensorboard", size_guidance={"scalars": 0})
acc.Reload()
tags = set(acc.Tags()["scalars"])
records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
train = [r for r in records if r["kind"] == "train"]
evals = [r for r in records if r["kind"] == "eval"]
assert train and evals, "the run logged no train or eval records"
net = train[0]["network"]
checked = 0
for kind, field, rows in (("train", "loss", train), ("eval", "test_accuracy", evals)):
    tag = f"{kind}/{field}/{net}"
    assert tag in tags, f"{tag} missing; TensorBoard sees {sorted(tags)[:12]}"
    seen = {e.step: e.value for e in acc.Scalars(tag)}
    for r in rows:
        if r.get("network") != net or field not in r:
            continue
        assert r["step"] in seen, f"{tag}: no event at step {r['step']} (events at {sorted(seen)})"
        assert math.isclose(seen[r["step"]], r[field], rel_tol=1e-6), (tag, r["step"], seen[r["step"]], r[field])
        checked += 1
assert checked >= 3, f"only {checked} values compared"
print(f"tensorboard read {len(tags)} tags; {checked} values match metrics.jsonl")
PY
