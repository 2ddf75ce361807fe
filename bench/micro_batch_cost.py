#!/usr/bin/env python3
"""What cutting a batch into M micro-batches costs one process, with no pipeline.

The pipeline bench (pipeline_bubble.cpp) sees its stages' busy time grow with M.
This measures the same growth on the whole network in one process and one
thread, three ways, so docs/benchmarks/pipeline.md can say where it comes from:

  autograd  nn.Sequential, one backward per micro-batch, gradients accumulated
            by autograd (what a pipeline stage runs);
  in_place  the same products by hand, each weight gradient accumulated into
            its buffer by addmm_ (no per-micro-batch gradient tensor);
  deferred  input gradients per micro-batch, every weight gradient once over all
            rows at the end (the split of zero-bubble pipelines, Qi et al. 2023).

The hand-written modes leave out biases and the loss, so compare each mode's
growth with M (its own M = 1 is 1.0), not modes with each other.

  .venv/bin/python bench/micro_batch_cost.py [--widths 1024,1024,1024,1024]
      [--batch 128] [--micro-batches 1,4,8] [--rounds 7] [--steps 5]

One JSON line per (mode, M): median step seconds over interleaved rounds and
the ratio to M = 1.
"""
import argparse
import json
import statistics
import time

import torch


def autograd_step(net, x, y, m):
    net.zero_grad(set_to_none=True)
    for xs, ys in zip(x.chunk(m), y.chunk(m)):
        (torch.nn.functional.cross_entropy(net(xs), ys) / m).backward()


def by_hand_step(weights, x, m, deferred):
    grads = [torch.zeros_like(w) for w in weights]
    inputs, outputs_grads = [], []
    for xs in x.chunk(m):
        hs = [xs]
        for w in weights:
            hs.append(torch.relu(hs[-1] @ w.t()))
        g = torch.ones_like(hs[-1])
        gs = [None] * len(weights)
        for i in reversed(range(len(weights))):
            g = g * (hs[i + 1] > 0)
            gs[i] = g
            if not deferred:
                grads[i].addmm_(g.t(), hs[i])
            if i > 0:
                g = g @ weights[i]
        inputs.append(hs)
        outputs_grads.append(gs)
    if deferred:
        for i in range(len(weights)):
            g = torch.cat([gs[i] for gs in outputs_grads])
            h = torch.cat([hs[i] for hs in inputs])
            grads[i].addmm_(g.t(), h)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--widths", default="1024,1024,1024,1024")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--micro-batches", default="1,4,8")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    widths = [int(w) for w in a.widths.split(",")]
    sizes = [784] + widths
    layers = []
    for i, o in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(i, o), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], 10))
    weights = [layer.weight.detach().clone() for layer in net if isinstance(layer, torch.nn.Linear)]
    weights = weights[:-1]
    x = torch.randn(a.batch, 784)
    y = torch.randint(0, 10, (a.batch,))
    modes = {
        "autograd": lambda m: autograd_step(net, x, y, m),
        "in_place": lambda m: by_hand_step(weights, x, m, False),
        "deferred": lambda m: by_hand_step(weights, x, m, True),
    }
    ms = [int(m) for m in a.micro_batches.split(",")]
    times = {(mode, m): [] for mode in modes for m in ms}
    for _ in range(a.rounds):
        for mode, step in modes.items():
            for m in ms:
                step(m)
                t0 = time.perf_counter()
                for _ in range(a.steps):
                    step(m)
                times[(mode, m)].append((time.perf_counter() - t0) / a.steps)
    for mode in modes:
        base = statistics.median(times[(mode, ms[0])])
        for m in ms:
            step_s = statistics.median(times[(mode, m)])
            print(json.dumps({"bench": "micro_batch_cost", "mode": mode, "widths": widths,
                              "batch": a.batch, "micro_batches": m, "rounds": a.rounds,
                              "step_s": step_s, "over_first": step_s / base}))


if __name__ == "__main__":
    main()
