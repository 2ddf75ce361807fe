"""same_checkpoints.py REFERENCE RUN: the two runs' newest checkpoints are of
one step and hold bitwise equal tensors (weights, buffers, optimiser state):
what an exact resume must give. Exits non-zero naming what differs."""
import glob
import os
import sys

import torch


def newest(run):
    folder = sorted(glob.glob(f"{run}/checkpoints/step-*"))[-1]
    return os.path.basename(folder), torch.load(f"{folder}/state.pt")


(step_a, a), (step_b, b) = newest(sys.argv[1]), newest(sys.argv[2])
assert step_a == step_b, f"newest checkpoints {step_a} and {step_b}"
nets = [n for n in a if isinstance(a[n], dict)]
assert nets and nets == [n for n in b if isinstance(b[n], dict)], (list(a), list(b))
differ = [(n, k) for n in nets for k in a[n] if not torch.equal(a[n][k], b[n][k])]
assert not differ, f"differ: {differ[:5]}"
print(f"{step_a}: {sum(len(a[n]) for n in nets)} tensors bitwise equal")
