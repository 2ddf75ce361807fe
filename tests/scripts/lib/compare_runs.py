"""compare_runs.py REFERENCE RUN [TOLERANCE]: every network's parameters in RUN's
newest checkpoint equal REFERENCE's within TOLERANCE, 1e-5 unless given (float32
sums of the same products in another order: a few 1e-7 per step over a dozen SGD
steps; callers with an optimiser that amplifies them say why they give more).
Prints the largest difference; exits non-zero with it when past the bound."""
import glob
import sys

import torch


def networks(run):
    checkpoint = sorted(glob.glob(f"{run}/checkpoints/step-*"))[-1]
    return torch.load(f"{checkpoint}/state.pt")


a, b = networks(sys.argv[1]), networks(sys.argv[2])
names = [n for n in a if isinstance(a[n], dict)]
assert names and names == [n for n in b if isinstance(b[n], dict)], (list(a), list(b))
worst, count = 0.0, 0
for n in names:
    assert a[n].keys() == b[n].keys(), (a[n].keys(), b[n].keys())
    params = [k for k in a[n] if k.startswith("param.")]
    worst = max([worst] + [(a[n][k] - b[n][k]).abs().max().item() for k in params])
    count += len(params)
tolerance = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
assert worst < tolerance, f"largest difference {worst}, bound {tolerance}"
print(f"largest difference {worst:.1e} over {count} parameters of {len(names)} networks")
