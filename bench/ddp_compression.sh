#!/usr/bin/env bash
# Does gradient compression cost accuracy? Trains the Fashion-MNIST cnn with
# data parallelism on 2 ranks once per communication hook (none, fp16, bf16,
# powersgd), same seed, same epochs, and prints one JSON line per hook plus a
# summary with each hook's test accuracy minus the uncompressed run's.
#   bench/ddp_compression.sh [EPOCHS] [HOOKS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${COHORT_BIN:-$root/build/cohort}
epochs=${1:-3}
shift || true
hooks=("$@")
[[ ${#hooks[@]} -gt 0 ]] || hooks=(none fp16 bf16 powersgd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

results=()
for hook in "${hooks[@]}"; do
  line=$("$bin" train "$root/examples/configs/data_parallel.toml" --nproc 2 --quiet \
      --out "$work/$hook" --set parallel.comm_hook="$hook" --set train.epochs="$epochs" \
      --set train.threads=1 --set train.checkpoint_every_steps=0 | tail -1)
  acc=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["networks"][0]["test_accuracy"])')
  echo "{\"benchmark\":\"ddp_compression\",\"hook\":\"$hook\",\"epochs\":$epochs,\"accuracy\":$acc}"
  results+=("$hook=$acc")
done
python3 - "$epochs" "${results[@]}" <<'PY'
import json, sys
epochs = int(sys.argv[1])
acc = dict(a.split("=") for a in sys.argv[2:])
acc = {k: float(v) for k, v in acc.items()}
base = acc.get("none")
print(json.dumps({"benchmark": "ddp_compression", "epochs": epochs, "accuracy": acc,
                  "points_vs_none": {k: None if base is None else round(100 * (v - base), 3)
                                     for k, v in acc.items()}}))
PY
